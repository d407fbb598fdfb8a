-- How do two runs' latencies differ? Per event type and metric (deliveries, queueing and
-- handling p50/p90/p99/max in milliseconds), run A's and run B's value side by side and the
-- ratio b / a (NULL when a is 0 or missing). Deliveries meet their events through one BIGINT
-- key (run number * 2^32 + seq), cheaper to join than (run_id text, seq); assumes seq < 2^32.
-- DuckDB variant of compare_latency.sql: quantile_cont with a list of fractions sorts each
-- column once instead of once per percentile. Keep the two files in step.
-- Parameters: :run_a (text), :run_b (text).
WITH chosen AS (
    SELECT run_id, CAST(row_number() OVER (ORDER BY run_id) AS BIGINT) * 4294967296 AS base
    FROM runs
    WHERE run_id IN (:run_a, :run_b)
),
emitted AS (
    SELECT c.base + e.seq AS k, e.run_id, e.event_type, e.emitted_ns
    FROM events AS e
    JOIN chosen AS c ON c.run_id = e.run_id
),
handled AS (
    SELECT c.base + d.seq AS k, d.received_ns, d.processed_ns
    FROM deliveries AS d
    JOIN chosen AS c ON c.run_id = d.run_id
),
timed AS (
    SELECT e.run_id, e.event_type,
           h.received_ns - e.emitted_ns AS queue_ns,
           h.processed_ns - h.received_ns AS handle_ns
    FROM handled AS h
    JOIN emitted AS e ON e.k = h.k
),
stats AS (
    SELECT run_id, event_type,
           CAST(count(*) AS DOUBLE PRECISION) AS deliveries,
           quantile_cont(queue_ns, [0.5, 0.9, 0.99]) AS queue_q,
           max(queue_ns) / 1e6 AS queue_max_ms,
           quantile_cont(handle_ns, [0.5, 0.9, 0.99]) AS handle_q,
           max(handle_ns) / 1e6 AS handle_max_ms
    FROM timed
    GROUP BY run_id, event_type
),
long AS (
    SELECT run_id, event_type, 0 AS ord, 'deliveries' AS metric, deliveries AS value FROM stats
    UNION ALL SELECT run_id, event_type, 1, 'queue_p50_ms', queue_q[1] / 1e6 FROM stats
    UNION ALL SELECT run_id, event_type, 2, 'queue_p90_ms', queue_q[2] / 1e6 FROM stats
    UNION ALL SELECT run_id, event_type, 3, 'queue_p99_ms', queue_q[3] / 1e6 FROM stats
    UNION ALL SELECT run_id, event_type, 4, 'queue_max_ms', queue_max_ms FROM stats
    UNION ALL SELECT run_id, event_type, 5, 'handle_p50_ms', handle_q[1] / 1e6 FROM stats
    UNION ALL SELECT run_id, event_type, 6, 'handle_p90_ms', handle_q[2] / 1e6 FROM stats
    UNION ALL SELECT run_id, event_type, 7, 'handle_p99_ms', handle_q[3] / 1e6 FROM stats
    UNION ALL SELECT run_id, event_type, 8, 'handle_max_ms', handle_max_ms FROM stats
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
