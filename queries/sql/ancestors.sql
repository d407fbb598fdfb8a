-- Why did this event happen? The event and every ancestor up the lineage edges (the primary
-- `caused_by` and any extra kind, e.g. `priced_by`), newest first, so the last row is the root
-- that started it (a BAR in a backtest).
-- One row per event: `depth` is the fewest edges from the event, `kind` the edge taken at that
-- depth and `via_id` the event it leads to (nearest-first, ties to the newest).
-- Pruned like a trace id: ancestors lie in [root_seq, seq] of the same run, so only the row
-- groups of that range are read; every filter and join is on integers (run_no, seq), and
-- names and ids are made only for the few rows returned. Pass :low = 0 for a run whose bounds
-- are not exact.
-- Parameters: :run_no (the run's number), :id_prefix (the run's tag and '-'), :seq (the
--             event's seq), :low (smallest seq to search), :max_depth (bound on the recursion).
WITH RECURSIVE
edges AS MATERIALIZED (
    SELECT parent_seq, child_seq, kind_code
    FROM run_edges
    WHERE run_no = :run_no
      AND child_seq BETWEEN :low AND :seq
      AND parent_seq BETWEEN :low AND :seq
),
walk (seq, depth, kind_code, via_seq) AS (
    SELECT CAST(:seq AS BIGINT), 0, CAST(NULL AS INTEGER), CAST(NULL AS BIGINT)
    UNION
    SELECT e.parent_seq, w.depth + 1, e.kind_code, w.seq
    FROM walk AS w
    JOIN edges AS e ON e.child_seq = w.seq
    WHERE w.depth < :max_depth
),
names AS MATERIALIZED (
    SELECT code, name FROM run_names WHERE run_no = :run_no
),
nearest AS (
    SELECT w.seq, w.depth, k.name AS kind, w.via_seq,
           row_number() OVER (PARTITION BY w.seq ORDER BY w.depth, w.via_seq DESC, k.name)
               AS pick
    FROM walk AS w
    LEFT JOIN names AS k ON k.code = w.kind_code
),
chain AS (
    SELECT seq, type_code, sim_time, source_code, causation_seq, created_ns, emitted_ns,
           payload, partition_key
    FROM run_events
    WHERE run_no = :run_no
      AND seq BETWEEN :low AND :seq
      AND seq IN (SELECT seq FROM nearest)
),
timing AS (
    SELECT seq, min(received_ns) AS received_ns, max(processed_ns) AS processed_ns
    FROM run_deliveries
    WHERE run_no = :run_no
      AND seq BETWEEN :low AND :seq
      AND seq IN (SELECT seq FROM nearest)
    GROUP BY seq
)
SELECT :id_prefix || CAST(c.seq AS VARCHAR) AS event_id, c.seq, n.depth, n.kind,
       :id_prefix || CAST(v.seq AS VARCHAR) AS via_id, t.name AS event_type, s.name AS source,
       c.sim_time, :id_prefix || CAST(c.causation_seq AS VARCHAR) AS causation_id,
       c.created_ns, c.emitted_ns, tm.received_ns, tm.processed_ns,
       c.payload, c.partition_key, CAST('1.0' AS VARCHAR) AS version
FROM nearest AS n
JOIN chain AS c ON c.seq = n.seq
JOIN names AS t ON t.code = c.type_code
LEFT JOIN names AS s ON s.code = c.source_code
LEFT JOIN chain AS v ON v.seq = n.via_seq
LEFT JOIN timing AS tm ON tm.seq = n.seq
WHERE n.pick = 1
ORDER BY c.seq DESC
