-- Which runs have a tag starting with the tag part of an event id (`<tag>-<seq>`)?
-- Exact tag first; at most 11 rows, enough to list candidates of an ambiguous prefix.
-- Parameters: :prefix (text).
SELECT run_id, tag, started_at, status, lineage_exact, run_no
FROM runs
WHERE starts_with(tag, :prefix)
ORDER BY CASE WHEN tag = :prefix THEN 0 ELSE 1 END, started_at DESC, run_id DESC
LIMIT 11
