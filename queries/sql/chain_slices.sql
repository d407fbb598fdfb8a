-- Where do a run's SIGNAL → FILL chains lie? The run's FILLs cut by seq into slices of :size:
-- per slice, its first and last FILL and the smallest root_seq among its FILLs. Every
-- ancestor of a FILL lies in [its root_seq, its seq] (root_seq stays a true lower bound when
-- the lineage is not exact), so signal_to_fill_chains.sql finds a slice's chains reading only
-- [low, last_fill]. In seq order.
-- Parameters: :run_no (the run's number), :size (seqs per slice).
WITH fills AS (
    SELECT e.seq, e.root_seq
    FROM run_events AS e
    JOIN run_names AS t ON t.run_no = e.run_no AND t.code = e.type_code
    WHERE e.run_no = :run_no AND t.name = 'FILL'
)
SELECT min(root_seq) AS low, min(seq) AS first_fill, max(seq) AS last_fill
FROM fills
GROUP BY seq - (seq - 1) % :size
ORDER BY 2
