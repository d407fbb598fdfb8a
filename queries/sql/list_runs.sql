-- Which runs does this store hold? One row per run, newest first, with its status, size and
-- duration (seconds; for a run that never ended, up to its last stored event).
-- Parameters: none.
WITH sizes AS (
    SELECT run_no, count(*) AS events, max(created_ns) AS last_ns
    FROM run_events
    GROUP BY run_no
)
SELECT r.run_id, r.name, r.status, r.started_at,
       COALESCE(EXTRACT(EPOCH FROM (r.ended_at - r.started_at)), s.last_ns / 1e9) AS duration_s,
       COALESCE(s.events, 0) AS events, r.dropped_count, r.lineage_exact, r.error
FROM runs AS r
LEFT JOIN sizes AS s ON s.run_no = r.run_no
ORDER BY r.started_at DESC, r.run_id DESC
