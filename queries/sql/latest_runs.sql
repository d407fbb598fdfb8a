-- The most recently started runs, newest first: what `--latest` picks and what an error
-- message about an unknown run suggests.
-- Parameters: :limit (integer).
SELECT run_id, tag, started_at, status, lineage_exact, run_no
FROM runs
ORDER BY started_at DESC, run_id DESC
LIMIT :limit
