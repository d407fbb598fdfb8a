-- What lies in a short seq span of a run: everything `why`/`effects` need to walk a chain
-- inside it (queries/lineage_walk.py), read in one query rather than four, because on a large
-- DuckDB store each query costs a few tenths of a millisecond before it reads a row. Four plain
-- range scans, no join; rows come in no order, tagged by `part`, and a part leaves NULL in
-- the columns it does not use:
--   'event'     seq, code = type_code, other_code = source_code, other_seq = causation_seq,
--               first_ns = created_ns, last_ns = emitted_ns, sim_time, text = payload,
--               partition_key, root_seq, end_seq (the event's lineage bounds)
--   'edge'      seq = child_seq, other_seq = parent_seq, code = kind_code (only edges with
--               both ends in the span, as `ancestors`/`descendants` walk them)
--   'delivery'  seq, first_ns = received_ns, last_ns = processed_ns (one row per handler)
--   'name'      code, text = name (all the run's names: codes of any part map to them)
-- Parameters: :run_no (the run's number), :low, :high (the span, both ends included).
SELECT 'event' AS part, seq, type_code AS code, source_code AS other_code,
       causation_seq AS other_seq, created_ns AS first_ns, emitted_ns AS last_ns, sim_time,
       CAST(payload AS VARCHAR) AS text, partition_key, root_seq, end_seq
FROM run_events
WHERE run_no = :run_no AND seq BETWEEN :low AND :high
UNION ALL
SELECT 'edge', child_seq, kind_code, NULL, parent_seq, NULL, NULL, NULL, NULL, NULL, NULL, NULL
FROM run_edges
WHERE run_no = :run_no
  AND child_seq BETWEEN :low AND :high
  AND parent_seq BETWEEN :low AND :high
UNION ALL
SELECT 'delivery', seq, NULL, NULL, NULL, received_ns, processed_ns, NULL, NULL, NULL, NULL,
       NULL
FROM run_deliveries
WHERE run_no = :run_no AND seq BETWEEN :low AND :high
UNION ALL
SELECT 'name', NULL, code, NULL, NULL, NULL, NULL, NULL, name, NULL, NULL, NULL
FROM run_names
WHERE run_no = :run_no
