-- Why did this event happen? The event and every ancestor up the lineage edges (the primary
-- `caused_by` and any extra kind, e.g. `priced_by`), newest first, so the last row is the root
-- that started it (a BAR in a backtest).
-- One row per event: `depth` is the fewest edges from the event, `kind` the edge taken at that
-- depth and `via_id` the event it leads to (nearest-first, ties to the newest).
-- Pruned like a trace id: ancestors lie in [root_seq, seq] of the same run, so only the row
-- groups of that range are read. Pass :low = 0 for a run whose bounds are not exact.
-- The run's ids all start with :id_prefix (`<run tag>-`): run ids share their first bytes
-- ("run-YYYYMMDD"), so their zone maps can't tell runs apart, but event ids' can.
-- Parameters: :run_id (text), :id_prefix (the run's tag and '-'), :seq (the event's seq),
--             :low (smallest seq to search), :max_depth (bound on the recursion).
WITH RECURSIVE
edges AS MATERIALIZED (
    SELECT parent_seq, child_seq, kind
    FROM lineage_edges
    WHERE run_id = :run_id AND starts_with(child_id, :id_prefix)
      AND child_seq BETWEEN :low AND :seq
      AND parent_seq BETWEEN :low AND :seq
),
walk (seq, depth, kind, via_seq) AS (
    SELECT CAST(:seq AS BIGINT), 0, CAST(NULL AS VARCHAR), CAST(NULL AS BIGINT)
    UNION
    SELECT e.parent_seq, w.depth + 1, e.kind, w.seq
    FROM walk AS w
    JOIN edges AS e ON e.child_seq = w.seq
    WHERE w.depth < :max_depth
),
nearest AS (
    SELECT seq, depth, kind, via_seq,
           row_number() OVER (PARTITION BY seq ORDER BY depth, via_seq DESC, kind) AS pick
    FROM walk
),
chain AS (
    SELECT seq, event_id, event_type, sim_time, source, causation_id, created_ns, emitted_ns,
           payload, partition_key, version
    FROM events
    WHERE run_id = :run_id AND starts_with(event_id, :id_prefix)
      AND seq BETWEEN :low AND :seq
      AND seq IN (SELECT seq FROM nearest)
),
timing AS (
    SELECT seq, min(received_ns) AS received_ns, max(processed_ns) AS processed_ns
    FROM deliveries
    WHERE run_id = :run_id AND starts_with(event_id, :id_prefix)
      AND seq BETWEEN :low AND :seq
      AND seq IN (SELECT seq FROM nearest)
    GROUP BY seq
)
SELECT c.event_id, c.seq, n.depth, n.kind, v.event_id AS via_id, c.event_type, c.source,
       c.sim_time, c.causation_id, c.created_ns, c.emitted_ns, t.received_ns, t.processed_ns,
       c.payload, c.partition_key, c.version
FROM nearest AS n
JOIN chain AS c ON c.seq = n.seq
LEFT JOIN chain AS v ON v.seq = n.via_seq
LEFT JOIN timing AS t ON t.seq = n.seq
WHERE n.pick = 1
ORDER BY c.seq DESC
