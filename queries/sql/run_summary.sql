-- What happened in this run? One row: status, duration (seconds; for a run that never ended,
-- up to its last stored event), events stored, bars, signals, orders and fills, handler
-- errors (failed deliveries), dropped and unencodable counts, and the run's own error.
-- Parameters: :run_id (text).
WITH counted AS (
    SELECT count(*) AS events,
           count(*) FILTER (WHERE event_type = 'BAR') AS bars,
           count(*) FILTER (WHERE event_type = 'SIGNAL') AS signals,
           count(*) FILTER (WHERE event_type = 'ORDER') AS orders,
           count(*) FILTER (WHERE event_type = 'FILL') AS fills,
           max(created_ns) AS last_ns
    FROM events
    WHERE run_id = :run_id
),
failed AS (
    SELECT count(*) AS handler_errors
    FROM deliveries
    WHERE run_id = :run_id AND error IS NOT NULL
)
SELECT r.run_id, r.name, r.status, r.started_at, r.ended_at,
       COALESCE(EXTRACT(EPOCH FROM (r.ended_at - r.started_at)), c.last_ns / 1e9) AS duration_s,
       c.events, c.bars, c.signals, c.orders, c.fills,
       f.handler_errors, r.dropped_count, r.unencodable_count, r.lineage_exact, r.error
FROM runs AS r
CROSS JOIN counted AS c
CROSS JOIN failed AS f
WHERE r.run_id = :run_id
