-- How do two runs' latencies differ? Per event type and metric (deliveries, queueing and
-- handling p50/p90/p99/max in milliseconds), run A's and run B's value side by side and the
-- ratio b / a (NULL when a is 0 or missing). Deliveries meet their events through one BIGINT
-- key (run_no * 2^32 + seq), cheaper to join than the pair; assumes seq < 2^32. Grouped by
-- type code, named after the percentiles (a run's codes and names match one to one).
-- Parameters: :run_a (text), :run_b (text).
WITH chosen AS (
    SELECT run_id, run_no, CAST(run_no AS BIGINT) * 4294967296 AS base
    FROM runs
    WHERE run_id IN (:run_a, :run_b)
),
emitted AS (
    SELECT c.base + e.seq AS k, e.run_no, e.type_code, e.emitted_ns
    FROM run_events AS e
    JOIN chosen AS c ON c.run_no = e.run_no
),
handled AS (
    SELECT c.base + d.seq AS k, d.received_ns, d.processed_ns
    FROM run_deliveries AS d
    JOIN chosen AS c ON c.run_no = d.run_no
),
timed AS (
    SELECT e.run_no, e.type_code,
           h.received_ns - e.emitted_ns AS queue_ns,
           h.processed_ns - h.received_ns AS handle_ns
    FROM handled AS h
    JOIN emitted AS e ON e.k = h.k
),
stats AS (
    SELECT run_no, type_code,
           CAST(count(*) AS DOUBLE PRECISION) AS deliveries,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY queue_ns) / 1e6 AS queue_p50_ms,
           percentile_cont(0.9) WITHIN GROUP (ORDER BY queue_ns) / 1e6 AS queue_p90_ms,
           percentile_cont(0.99) WITHIN GROUP (ORDER BY queue_ns) / 1e6 AS queue_p99_ms,
           max(queue_ns) / 1e6 AS queue_max_ms,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY handle_ns) / 1e6 AS handle_p50_ms,
           percentile_cont(0.9) WITHIN GROUP (ORDER BY handle_ns) / 1e6 AS handle_p90_ms,
           percentile_cont(0.99) WITHIN GROUP (ORDER BY handle_ns) / 1e6 AS handle_p99_ms,
           max(handle_ns) / 1e6 AS handle_max_ms
    FROM timed
    GROUP BY run_no, type_code
),
named AS (
    SELECT c.run_id, t.name AS event_type, s.*
    FROM stats AS s
    JOIN chosen AS c ON c.run_no = s.run_no
    JOIN run_names AS t ON t.run_no = s.run_no AND t.code = s.type_code
),
long AS (
    SELECT run_id, event_type, 0 AS ord, 'deliveries' AS metric, deliveries AS value FROM named
    UNION ALL SELECT run_id, event_type, 1, 'queue_p50_ms', queue_p50_ms FROM named
    UNION ALL SELECT run_id, event_type, 2, 'queue_p90_ms', queue_p90_ms FROM named
    UNION ALL SELECT run_id, event_type, 3, 'queue_p99_ms', queue_p99_ms FROM named
    UNION ALL SELECT run_id, event_type, 4, 'queue_max_ms', queue_max_ms FROM named
    UNION ALL SELECT run_id, event_type, 5, 'handle_p50_ms', handle_p50_ms FROM named
    UNION ALL SELECT run_id, event_type, 6, 'handle_p90_ms', handle_p90_ms FROM named
    UNION ALL SELECT run_id, event_type, 7, 'handle_p99_ms', handle_p99_ms FROM named
    UNION ALL SELECT run_id, event_type, 8, 'handle_max_ms', handle_max_ms FROM named
),
a AS (SELECT * FROM long WHERE run_id = :run_a),
b AS (SELECT * FROM long WHERE run_id = :run_b)
SELECT COALESCE(a.event_type, b.event_type) AS event_type,
       COALESCE(a.metric, b.metric) AS metric,
       a.value AS run_a, b.value AS run_b,
       CASE WHEN a.value > 0 THEN b.value / a.value END AS ratio
FROM a
FULL JOIN b ON b.event_type = a.event_type AND b.metric = a.metric
ORDER BY 1, COALESCE(a.ord, b.ord)
