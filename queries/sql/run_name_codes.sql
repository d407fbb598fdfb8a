-- A run's names (event types, sources, handlers, edge kinds) by their code.
-- Parameters: :run_no (the run's number).
SELECT code, name
FROM run_names
WHERE run_no = :run_no
