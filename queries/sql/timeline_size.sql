-- How many deliveries of a run overlap the window [:start_ns, :end_ns)? What a timeline export
-- of that window will write (before any limit): its progress bar's total. And when the run's
-- first delivery started and its last ended (ns since the run started; null when it has
-- none), so that an empty window can be told from a run that ended before it.
-- Parameters: :run_id (text), :start_ns, :end_ns (integers).
SELECT count(*) FILTER (WHERE processed_ns >= :start_ns AND received_ns < :end_ns) AS deliveries,
       min(received_ns) AS first_ns, max(processed_ns) AS last_ns
FROM deliveries
WHERE run_id = :run_id
