-- One event's position and pruning bounds: ancestors lie in [root_seq, seq], descendants in
-- (seq, end_seq]. (run_no, seq) is a point lookup that zone maps narrow to one row group.
-- Parameters: :run_no (the run's number), :id_prefix (the run's tag and '-'), :seq (integer).
SELECT e.seq, :id_prefix || CAST(e.seq AS VARCHAR) AS event_id, t.name AS event_type,
       e.root_seq, e.end_seq
FROM run_events AS e
JOIN run_names AS t ON t.run_no = e.run_no AND t.code = e.type_code
WHERE e.run_no = :run_no AND e.seq = :seq
