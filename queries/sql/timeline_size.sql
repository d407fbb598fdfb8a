-- How many deliveries of a run overlap the window [:start_ns, :end_ns)? What a timeline export
-- of that window will write (before any limit): its progress bar's total.
-- Parameters: :run_id (text), :start_ns, :end_ns (integers).
SELECT count(*) AS deliveries
FROM deliveries
WHERE run_id = :run_id AND processed_ns >= :start_ns AND received_ns < :end_ns
