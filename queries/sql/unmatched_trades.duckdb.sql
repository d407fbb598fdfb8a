-- Which orders and fills happened in one run but not in the other? DuckDB variant of
-- unmatched_trades.sql (keep the two in step): events are matched on a 64-bit hash of type,
-- simulated time, source and payload instead of the values themselves, which makes the
-- numbering and the join about three times cheaper on long runs. Two different trades would
-- have to share a hash to be matched wrongly (odds around n^2 / 2^65 for n trades).
-- One row per unmatched event, with the run it is only in ('a' or 'b').
-- Parameters: :run_a (text), :run_b (text).
WITH trades AS (
    SELECT run_id, seq,
           hash(event_type, sim_time, source, payload) AS k,
           row_number() OVER (
               PARTITION BY run_id, hash(event_type, sim_time, source, payload) ORDER BY seq
           ) AS occurrence
    FROM events
    WHERE run_id IN (:run_a, :run_b) AND event_type IN ('ORDER', 'FILL')
),
a AS (SELECT * FROM trades WHERE run_id = :run_a),
b AS (SELECT * FROM trades WHERE run_id = :run_b),
lonely AS (
    SELECT CASE WHEN a.run_id IS NULL THEN 'b' ELSE 'a' END AS only_in,
           COALESCE(a.run_id, b.run_id) AS run_id,
           COALESCE(a.seq, b.seq) AS seq
    FROM a
    FULL JOIN b ON b.k = a.k AND b.occurrence = a.occurrence
    WHERE a.run_id IS NULL OR b.run_id IS NULL
)
SELECT l.only_in, e.run_id, e.event_id, e.event_type, e.sim_time, e.source, e.payload
FROM lonely AS l
JOIN events AS e ON e.run_id = l.run_id AND e.seq = l.seq
WHERE e.run_id IN (:run_a, :run_b) AND e.event_type IN ('ORDER', 'FILL')
ORDER BY 1, e.seq
