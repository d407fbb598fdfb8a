-- Which lineage edges of a run lie wholly inside a short seq span? Both ends in [:low, :high],
-- so a chain walked over them (in Python, see queries/lineage_walk.py) is the chain
-- `ancestors`/`descendants` find with the same bounds. A plain range scan: zone maps narrow it
-- to the row groups of the span.
-- Parameters: :run_no (the run's number), :low, :high (the span, both ends included).
SELECT parent_seq, child_seq, kind_code
FROM run_edges
WHERE run_no = :run_no
  AND child_seq BETWEEN :low AND :high
  AND parent_seq BETWEEN :low AND :high
