-- Where do two runs first differ? The smallest seq at which their events disagree: a
-- different type, simulated time, source or payload (the fields unmatched_trades matches on),
-- or an event one run lacks; both events side by side, no row when every seq agrees.
-- Runs are joined on seq; type codes are compared through their names (each run codes its own),
-- and only the one differing event of each run is given ids and names.
-- Asked one seq range at a time, from the start (queries/compare.py): the join then holds one
-- slice of each run, not two whole runs with their payloads, and runs that diverge early are
-- answered after their first slice.
-- Parameters: :run_a (text), :run_b (text), :low, :high (the seq range compared, inclusive).
WITH ra AS (SELECT run_no, tag FROM runs WHERE run_id = :run_a),
rb AS (SELECT run_no, tag FROM runs WHERE run_id = :run_b),
a AS (
    SELECT e.seq, t.name AS event_type, e.sim_time, s.name AS source, e.payload
    FROM run_events AS e
    JOIN ra ON ra.run_no = e.run_no
    JOIN run_names AS t ON t.run_no = e.run_no AND t.code = e.type_code
    LEFT JOIN run_names AS s ON s.run_no = e.run_no AND s.code = e.source_code
    WHERE e.seq BETWEEN :low AND :high
),
b AS (
    SELECT e.seq, t.name AS event_type, e.sim_time, s.name AS source, e.payload
    FROM run_events AS e
    JOIN rb ON rb.run_no = e.run_no
    JOIN run_names AS t ON t.run_no = e.run_no AND t.code = e.type_code
    LEFT JOIN run_names AS s ON s.run_no = e.run_no AND s.code = e.source_code
    WHERE e.seq BETWEEN :low AND :high
),
first AS (
    SELECT COALESCE(a.seq, b.seq) AS seq
    FROM a
    FULL JOIN b ON b.seq = a.seq
    WHERE a.event_type IS DISTINCT FROM b.event_type
       OR a.sim_time IS DISTINCT FROM b.sim_time
       OR a.source IS DISTINCT FROM b.source
       OR CAST(a.payload AS TEXT) IS DISTINCT FROM CAST(b.payload AS TEXT)
    ORDER BY 1
    LIMIT 1
),
sides AS (
    SELECT e.run_no, e.seq, r.tag || '-' || CAST(e.seq AS VARCHAR) AS event_id,
           t.name AS event_type, e.sim_time, s.name AS source, e.payload
    FROM run_events AS e
    JOIN first AS f ON f.seq = e.seq
    JOIN runs AS r ON r.run_no = e.run_no
    JOIN run_names AS t ON t.run_no = e.run_no AND t.code = e.type_code
    LEFT JOIN run_names AS s ON s.run_no = e.run_no AND s.code = e.source_code
    WHERE r.run_id IN (:run_a, :run_b)
)
SELECT f.seq,
       a.event_id AS a_event_id, a.event_type AS a_event_type, a.sim_time AS a_sim_time,
       a.source AS a_source, a.payload AS a_payload,
       b.event_id AS b_event_id, b.event_type AS b_event_type, b.sim_time AS b_sim_time,
       b.source AS b_source, b.payload AS b_payload
FROM first AS f
LEFT JOIN sides AS a ON a.run_no = (SELECT run_no FROM ra)
LEFT JOIN sides AS b ON b.run_no = (SELECT run_no FROM rb)
