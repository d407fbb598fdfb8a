-- Every run of the store, oldest first: what a helper asked about no run in particular
-- (latency over all runs) reads.
-- Parameters: none.
SELECT run_id, tag, started_at, status, lineage_exact, run_no
FROM runs
ORDER BY run_no
