-- Where did the time go? Latency percentiles of handler deliveries, grouped by event type, by
-- handler or by source container, over one run, several, or all of them.
-- Two latencies per delivery, in milliseconds: queueing = received - emitted (the event was
-- handed out until this handler started: time spent behind earlier handlers) and handling =
-- processed - received (the handler itself). p50/p90/p99 interpolate linearly (as numpy's
-- default percentile does); max is exact.
-- `run_id` is NULL unless :per_run (then one group per run and key).
-- Deliveries meet their events through one BIGINT key (run_no * 2^32 + seq): cheaper to join
-- than the pair. Codes become names (a few per run) after the join, once per delivery, so
-- deliveries of several runs pool by name. Assumes seq < 2^32.
-- Parameters: :by ('type' | 'handler' | 'source'), :all_runs (boolean: ignore :run_ids),
--             :run_ids (list of run ids), :per_run (boolean).
WITH chosen AS (
    SELECT run_id, run_no, CAST(run_no AS BIGINT) * 4294967296 AS base
    FROM runs
    WHERE :all_runs OR run_id = ANY(:run_ids)
),
emitted AS (
    SELECT c.base + e.seq AS k, e.emitted_ns,
           CASE :by WHEN 'type' THEN e.type_code WHEN 'source' THEN e.source_code END AS code
    FROM run_events AS e
    JOIN chosen AS c ON c.run_no = e.run_no
),
handled AS (
    SELECT c.base + d.seq AS k, c.base, c.run_no, d.handler_code, d.received_ns, d.processed_ns
    FROM run_deliveries AS d
    JOIN chosen AS c ON c.run_no = d.run_no
),
timed AS (
    SELECT h.base, h.run_no,
           CASE :by WHEN 'handler' THEN h.handler_code ELSE e.code END AS code,
           h.received_ns - e.emitted_ns AS queue_ns,
           h.processed_ns - h.received_ns AS handle_ns
    FROM handled AS h
    JOIN emitted AS e ON e.k = h.k
),
keyed AS (
    SELECT t.base, n.name AS key, t.queue_ns, t.handle_ns
    FROM timed AS t
    LEFT JOIN run_names AS n ON n.run_no = t.run_no AND n.code = t.code
),
stats AS (
    SELECT CASE WHEN :per_run THEN base END AS base,
           key,
           count(*) AS deliveries,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY queue_ns) / 1e6 AS queue_p50_ms,
           percentile_cont(0.9) WITHIN GROUP (ORDER BY queue_ns) / 1e6 AS queue_p90_ms,
           percentile_cont(0.99) WITHIN GROUP (ORDER BY queue_ns) / 1e6 AS queue_p99_ms,
           max(queue_ns) / 1e6 AS queue_max_ms,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY handle_ns) / 1e6 AS handle_p50_ms,
           percentile_cont(0.9) WITHIN GROUP (ORDER BY handle_ns) / 1e6 AS handle_p90_ms,
           percentile_cont(0.99) WITHIN GROUP (ORDER BY handle_ns) / 1e6 AS handle_p99_ms,
           max(handle_ns) / 1e6 AS handle_max_ms
    FROM keyed
    GROUP BY 1, 2
)
SELECT c.run_id, s.key, s.deliveries, s.queue_p50_ms, s.queue_p90_ms, s.queue_p99_ms,
       s.queue_max_ms, s.handle_p50_ms, s.handle_p90_ms, s.handle_p99_ms, s.handle_max_ms
FROM stats AS s
LEFT JOIN chosen AS c ON c.base = s.base
ORDER BY 1, 2
