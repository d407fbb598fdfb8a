-- Which orders and fills happened in one run but not in the other? Events are matched by
-- type, simulated time, source and payload (the n-th identical one in A with the n-th in B),
-- since ids differ between runs. One row per unmatched event, with the run it is only in.
-- Parameters: :run_a (text), :run_b (text).
WITH trades AS (
    SELECT run_id, seq, event_id, event_type, sim_time, source, payload,
           row_number() OVER (
               PARTITION BY run_id, event_type, sim_time, source, payload ORDER BY seq
           ) AS occurrence
    FROM events
    WHERE run_id IN (:run_a, :run_b) AND event_type IN ('ORDER', 'FILL')
),
a AS (SELECT * FROM trades WHERE run_id = :run_a),
b AS (SELECT * FROM trades WHERE run_id = :run_b)
SELECT CASE WHEN a.run_id IS NULL THEN 'b' ELSE 'a' END AS only_in,
       COALESCE(a.run_id, b.run_id) AS run_id,
       COALESCE(a.event_id, b.event_id) AS event_id,
       COALESCE(a.event_type, b.event_type) AS event_type,
       COALESCE(a.sim_time, b.sim_time) AS sim_time,
       COALESCE(a.source, b.source) AS source,
       COALESCE(a.payload, b.payload) AS payload
FROM a
FULL JOIN b
  ON b.event_type = a.event_type
 AND b.sim_time IS NOT DISTINCT FROM a.sim_time
 AND b.source IS NOT DISTINCT FROM a.source
 AND b.payload IS NOT DISTINCT FROM a.payload
 AND b.occurrence = a.occurrence
WHERE a.run_id IS NULL OR b.run_id IS NULL
ORDER BY 1, COALESCE(a.seq, b.seq)
