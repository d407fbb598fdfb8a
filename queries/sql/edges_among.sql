-- Which lineage edges join these events of one run? Every edge (of any kind) whose parent and
-- child are both among :seqs: a causation graph draws all of them, not only the one edge per
-- event that `ancestors`/`descendants` report.
-- Pruned like those queries: both ends lie in [:low, :high] and ids start with :id_prefix.
-- Parameters: :run_id (text), :id_prefix (the run's tag and '-'), :seqs (list of seqs),
--             :low, :high (smallest and largest seq among :seqs).
SELECT parent_id, child_id, kind, parent_seq, child_seq
FROM lineage_edges
WHERE run_id = :run_id AND starts_with(child_id, :id_prefix)
  AND child_seq BETWEEN :low AND :high AND parent_seq BETWEEN :low AND :high
  AND child_seq = ANY(:seqs) AND parent_seq = ANY(:seqs)
ORDER BY child_seq, parent_seq, kind
