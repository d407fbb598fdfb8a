-- One event's pruning bounds, without its names: what `why`/`effects` need before their walk
-- (the walk's rows carry the names). Ancestors lie in [root_seq, seq], descendants in
-- (seq, end_seq]. A point lookup on (run_no, seq) that zone maps narrow to one row group.
-- Parameters: :run_no (the run's number), :seq (integer).
SELECT seq, root_seq, end_seq
FROM run_events
WHERE run_no = :run_no AND seq = :seq
