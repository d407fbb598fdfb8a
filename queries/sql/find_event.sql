-- One event's position and pruning bounds: ancestors lie in [root_seq, seq], descendants in
-- (seq, end_seq]. The seq and id-prefix filters let zone maps skip other row groups (run ids
-- share their first bytes, event ids start with the run's tag).
-- Parameters: :run_id (text), :id_prefix (the run's tag and '-'), :seq (integer).
SELECT seq, event_id, event_type, root_seq, end_seq
FROM events
WHERE run_id = :run_id AND starts_with(event_id, :id_prefix) AND seq = :seq
