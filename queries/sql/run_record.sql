-- Everything stored about one run itself (not its events): identity, status, times, the
-- configuration it ran with and the library version and host that recorded it. A trace
-- export and the report carry it as metadata.
-- Parameters: :run_id (text).
SELECT run_id, tag, name, status, started_at, ended_at, config, error, event_count,
       dropped_count, unencodable_count, lineage_exact, sampling, library_version, host
FROM runs
WHERE run_id = :run_id
