-- What happened in this run? One row: status, duration (seconds; for a run that never ended,
-- up to its last stored event), events stored, bars, signals, orders and fills, handler
-- errors (failed deliveries), dropped and unencodable counts, and the run's own error.
-- Counted per type code first, so the names of the types are looked up once, not per event.
-- Parameters: :run_id (text).
WITH chosen AS (
    SELECT run_no FROM runs WHERE run_id = :run_id
),
by_type AS (
    SELECT e.run_no, e.type_code, count(*) AS events, max(e.created_ns) AS last_ns
    FROM run_events AS e
    JOIN chosen AS c ON c.run_no = e.run_no
    GROUP BY e.run_no, e.type_code
),
counted AS (
    SELECT CAST(COALESCE(sum(b.events), 0) AS BIGINT) AS events,
           CAST(COALESCE(sum(b.events) FILTER (WHERE t.name = 'BAR'), 0) AS BIGINT) AS bars,
           CAST(COALESCE(sum(b.events) FILTER (WHERE t.name = 'SIGNAL'), 0) AS BIGINT)
               AS signals,
           CAST(COALESCE(sum(b.events) FILTER (WHERE t.name = 'ORDER'), 0) AS BIGINT) AS orders,
           CAST(COALESCE(sum(b.events) FILTER (WHERE t.name = 'FILL'), 0) AS BIGINT) AS fills,
           max(b.last_ns) AS last_ns
    FROM by_type AS b
    JOIN run_names AS t ON t.run_no = b.run_no AND t.code = b.type_code
),
failed AS (
    SELECT count(*) AS handler_errors
    FROM run_deliveries AS d
    JOIN chosen AS c ON c.run_no = d.run_no
    WHERE d.error IS NOT NULL
)
SELECT r.run_id, r.name, r.status, r.started_at, r.ended_at,
       COALESCE(EXTRACT(EPOCH FROM (r.ended_at - r.started_at)), c.last_ns / 1e9) AS duration_s,
       c.events, c.bars, c.signals, c.orders, c.fills,
       f.handler_errors, r.dropped_count, r.unencodable_count, r.lineage_exact, r.error
FROM runs AS r
CROSS JOIN counted AS c
CROSS JOIN failed AS f
WHERE r.run_id = :run_id
