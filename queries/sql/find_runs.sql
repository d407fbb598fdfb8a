-- Which runs does a user's run reference name? Used to resolve a full run id, an unambiguous
-- prefix of a run id, or a prefix of a run's tag (the part event ids start with).
-- Exact matches sort first; newest runs next. At most 11 rows: enough to list candidates.
-- Parameters: :ref (text typed by the user).
SELECT run_id, tag, started_at, status, lineage_exact, run_no
FROM runs
WHERE run_id = :ref OR starts_with(run_id, :ref) OR starts_with(tag, :ref)
ORDER BY CASE WHEN run_id = :ref OR tag = :ref THEN 0 ELSE 1 END, started_at DESC, run_id DESC
LIMIT 11
