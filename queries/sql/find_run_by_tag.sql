-- Which run has exactly this tag (the part of an event id before its last '-')? Event ids are
-- copied whole, so this point lookup answers almost every event reference; a prefix of a tag
-- falls back to `find_runs_by_tag`.
-- Parameters: :tag (text).
SELECT run_id, tag, started_at, status, lineage_exact, run_no
FROM runs
WHERE tag = :tag
