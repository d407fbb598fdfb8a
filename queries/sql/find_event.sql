-- One event's position and pruning bounds: ancestors lie in [root_seq, seq], descendants in
-- (seq, end_seq]. (run_no, seq) is a point lookup that zone maps narrow to one row group; the
-- type's name is read from the run's list of names (codes are 0, 1, … without gaps).
-- Parameters: :run_no (the run's number), :id_prefix (the run's tag and '-'), :seq (integer).
SELECT e.seq, :id_prefix || CAST(e.seq AS VARCHAR) AS event_id,
       (SELECT array_agg(name ORDER BY code) FROM run_names WHERE run_no = :run_no)[e.type_code + 1]
           AS event_type,
       e.root_seq, e.end_seq
FROM run_events AS e
WHERE e.run_no = :run_no AND e.seq = :seq
