-- What did this event cause? The event and every descendant down the lineage edges (of any
-- kind), in publication order.
-- One row per event: `depth` is the fewest edges from the event, `kind` the edge taken at that
-- depth and `via_id` the event it came from (nearest-first, ties to the oldest).
-- Pruned like a trace id: descendants lie in (seq, end_seq] of the same run, so only the row
-- groups of that range are read. Pass :high = the largest BIGINT when end_seq is unknown (a
-- crashed run) or the run's bounds are not exact.
-- The run's ids all start with :id_prefix (`<run tag>-`): run ids share their first bytes
-- ("run-YYYYMMDD"), so their zone maps can't tell runs apart, but event ids' can.
-- Parameters: :run_id (text), :id_prefix (the run's tag and '-'), :seq (the event's seq),
--             :high (largest seq to search), :max_depth (bound on the recursion).
WITH RECURSIVE
edges AS MATERIALIZED (
    SELECT parent_seq, child_seq, kind
    FROM lineage_edges
    WHERE run_id = :run_id AND starts_with(child_id, :id_prefix)
      AND parent_seq BETWEEN :seq AND :high
      AND child_seq BETWEEN :seq AND :high
),
walk (seq, depth, kind, via_seq) AS (
    SELECT CAST(:seq AS BIGINT), 0, CAST(NULL AS VARCHAR), CAST(NULL AS BIGINT)
    UNION
    SELECT e.child_seq, w.depth + 1, e.kind, w.seq
    FROM walk AS w
    JOIN edges AS e ON e.parent_seq = w.seq
    WHERE w.depth < :max_depth
),
nearest AS (
    SELECT seq, depth, kind, via_seq,
           row_number() OVER (PARTITION BY seq ORDER BY depth, via_seq, kind) AS pick
    FROM walk
),
chain AS (
    SELECT seq, event_id, event_type, sim_time, source, causation_id, created_ns, emitted_ns,
           payload, partition_key, version
    FROM events
    WHERE run_id = :run_id AND starts_with(event_id, :id_prefix)
      AND seq BETWEEN :seq AND :high
      AND seq IN (SELECT seq FROM nearest)
),
timing AS (
    SELECT seq, min(received_ns) AS received_ns, max(processed_ns) AS processed_ns
    FROM deliveries
    WHERE run_id = :run_id AND starts_with(event_id, :id_prefix)
      AND seq BETWEEN :seq AND :high
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
ORDER BY c.seq
