-- Which orders and fills happened in one run but not in the other? DuckDB variant of
-- unmatched_trades.sql (keep the two in step): events are matched on a 64-bit hash of type,
-- simulated time, source and payload instead of the values themselves, which makes the
-- numbering and the join about three times cheaper on long runs. Two different trades would
-- have to share a hash to be matched wrongly (odds around n^2 / 2^65 for n trades).
-- Matching holds a run's seqs and hashes only; names and payloads are read for the first
-- :limit unmatched events alone (all of them when :limit is NULL), so a table of the first 50
-- holds 50 payloads even when two long runs share no trade.
-- One row per unmatched event, with the run it is only in ('a' or 'b') and `unmatched`, how
-- many there are in all (whatever the limit); by run, then seq.
-- Parameters: :run_a (text), :run_b (text), :limit (rows returned at most, or NULL).
WITH chosen AS (
    SELECT run_no, run_id, tag FROM runs WHERE run_id IN (:run_a, :run_b)
),
trades AS (
    SELECT c.run_id, e.run_no, e.seq, hash(t.name, e.sim_time, s.name, e.payload) AS k
    FROM run_events AS e
    JOIN chosen AS c ON c.run_no = e.run_no
    JOIN run_names AS t ON t.run_no = e.run_no AND t.code = e.type_code
    LEFT JOIN run_names AS s ON s.run_no = e.run_no AND s.code = e.source_code
    WHERE t.name IN ('ORDER', 'FILL')
),
numbered AS (
    SELECT run_id, run_no, seq, k,
           row_number() OVER (PARTITION BY run_id, k ORDER BY seq) AS occurrence
    FROM trades
),
a AS (SELECT * FROM numbered WHERE run_id = :run_a),
b AS (SELECT * FROM numbered WHERE run_id = :run_b),
lonely AS (
    SELECT CASE WHEN a.run_id IS NULL THEN 'b' ELSE 'a' END AS only_in,
           COALESCE(a.run_no, b.run_no) AS run_no,
           COALESCE(a.seq, b.seq) AS seq,
           count(*) OVER () AS unmatched
    FROM a
    FULL JOIN b ON b.k = a.k AND b.occurrence = a.occurrence
    WHERE a.run_id IS NULL OR b.run_id IS NULL
    ORDER BY 1, 3
    LIMIT :limit
)
SELECT l.only_in, c.run_id, c.tag || '-' || CAST(l.seq AS VARCHAR) AS event_id,
       t.name AS event_type, e.sim_time, s.name AS source, e.payload, l.unmatched
FROM lonely AS l
JOIN chosen AS c ON c.run_no = l.run_no
JOIN run_events AS e ON e.run_no = l.run_no AND e.seq = l.seq
JOIN run_names AS t ON t.run_no = e.run_no AND t.code = e.type_code
LEFT JOIN run_names AS s ON s.run_no = e.run_no AND s.code = e.source_code
ORDER BY 1, l.seq
