-- Which orders and fills happened in one run but not in the other? Events are matched by
-- type, simulated time, source and payload (the n-th identical one in A with the n-th in B),
-- since ids differ between runs. One row per unmatched event, with the run it is only in and
-- `unmatched`, how many there are in all; by run, then seq; the first :limit rows (all of
-- them when :limit is NULL). Names are looked up for orders and fills only (each run codes its
-- own).
-- Parameters: :run_a (text), :run_b (text), :limit (rows returned at most, or NULL).
WITH chosen AS (
    SELECT run_no, run_id, tag FROM runs WHERE run_id IN (:run_a, :run_b)
),
trades AS (
    SELECT c.run_id, e.seq, c.tag || '-' || CAST(e.seq AS VARCHAR) AS event_id,
           t.name AS event_type, e.sim_time, s.name AS source, e.payload,
           row_number() OVER (
               PARTITION BY c.run_id, t.name, e.sim_time, s.name, CAST(e.payload AS TEXT)
               ORDER BY e.seq
           ) AS occurrence
    FROM run_events AS e
    JOIN chosen AS c ON c.run_no = e.run_no
    JOIN run_names AS t ON t.run_no = e.run_no AND t.code = e.type_code
    LEFT JOIN run_names AS s ON s.run_no = e.run_no AND s.code = e.source_code
    WHERE t.name IN ('ORDER', 'FILL')
),
a AS (SELECT * FROM trades WHERE run_id = :run_a),
b AS (SELECT * FROM trades WHERE run_id = :run_b)
SELECT CASE WHEN a.run_id IS NULL THEN 'b' ELSE 'a' END AS only_in,
       COALESCE(a.run_id, b.run_id) AS run_id,
       COALESCE(a.event_id, b.event_id) AS event_id,
       COALESCE(a.event_type, b.event_type) AS event_type,
       COALESCE(a.sim_time, b.sim_time) AS sim_time,
       COALESCE(a.source, b.source) AS source,
       COALESCE(a.payload, b.payload) AS payload,
       count(*) OVER () AS unmatched
FROM a
FULL JOIN b
  ON b.event_type = a.event_type
 AND b.sim_time IS NOT DISTINCT FROM a.sim_time
 AND b.source IS NOT DISTINCT FROM a.source
 AND CAST(b.payload AS TEXT) IS NOT DISTINCT FROM CAST(a.payload AS TEXT)
 AND b.occurrence = a.occurrence
WHERE a.run_id IS NULL OR b.run_id IS NULL
ORDER BY 1, COALESCE(a.seq, b.seq)
LIMIT :limit
