-- Where did the time go, counted? For the deliveries of one slice of a run (events with seq in
-- [:low, :high]): per group (event type, handler or source container, by name), metric
-- (0: queueing = received - emitted, the event handed out until this handler started; 1:
-- handling = processed - received, the handler itself) and latency in nanoseconds, how many
-- deliveries took it. queries/percentiles.py turns merged counts into exact percentiles.
-- Why counts: a run's deliveries take few distinct latencies (a run of 21 million deliveries
-- about 30 000 per metric), so these rows stay few where a quantile aggregate would hold every
-- delivery; and a seq range keeps the join to one slice of the run (zone maps on DuckDB, the
-- (run_no, seq) indexes on PostgreSQL). A NULL latency (an event never emitted) is counted as
-- a delivery and left out of the percentiles, as quantile aggregates leave out NULLs.
-- Parameters: :run_no (the run's number), :low, :high (seq range, inclusive),
--             :by ('type' | 'handler' | 'source').
WITH emitted AS (
    SELECT e.seq, e.emitted_ns,
           CASE :by WHEN 'type' THEN e.type_code WHEN 'source' THEN e.source_code END AS code
    FROM run_events AS e
    WHERE e.run_no = :run_no AND e.seq BETWEEN :low AND :high
),
timed AS (
    SELECT CASE :by WHEN 'handler' THEN d.handler_code ELSE e.code END AS code,
           d.received_ns - e.emitted_ns AS queue_ns,
           d.processed_ns - d.received_ns AS handle_ns
    FROM run_deliveries AS d
    JOIN emitted AS e ON e.seq = d.seq
    WHERE d.run_no = :run_no AND d.seq BETWEEN :low AND :high
),
counted AS (
    SELECT code, GROUPING(queue_ns) AS metric,
           CASE WHEN GROUPING(queue_ns) = 0 THEN queue_ns ELSE handle_ns END AS ns,
           count(*) AS deliveries
    FROM timed
    GROUP BY GROUPING SETS ((code, queue_ns), (code, handle_ns))
)
SELECT n.name AS key, c.metric, c.ns, c.deliveries
FROM counted AS c
LEFT JOIN run_names AS n ON n.run_no = :run_no AND n.code = c.code
