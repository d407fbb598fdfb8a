-- Where do two runs first differ? The smallest seq at which their events disagree: a
-- different type, simulated time, source or payload (the fields unmatched_trades matches on),
-- or an event one run lacks; both events side by side, no row when every seq agrees.
-- Parameters: :run_a (text), :run_b (text).
WITH a AS (
    SELECT seq, event_id, event_type, sim_time, source, payload
    FROM events WHERE run_id = :run_a
),
b AS (
    SELECT seq, event_id, event_type, sim_time, source, payload
    FROM events WHERE run_id = :run_b
)
SELECT COALESCE(a.seq, b.seq) AS seq,
       a.event_id AS a_event_id, a.event_type AS a_event_type, a.sim_time AS a_sim_time,
       a.source AS a_source, a.payload AS a_payload,
       b.event_id AS b_event_id, b.event_type AS b_event_type, b.sim_time AS b_sim_time,
       b.source AS b_source, b.payload AS b_payload
FROM a
FULL JOIN b ON b.seq = a.seq
WHERE a.event_type IS DISTINCT FROM b.event_type
   OR a.sim_time IS DISTINCT FROM b.sim_time
   OR a.source IS DISTINCT FROM b.source
   OR a.payload IS DISTINCT FROM b.payload
ORDER BY 1
LIMIT 1
