-- Why did this event happen? The event and every ancestor up the lineage edges (the primary
-- `caused_by` and any extra kind, e.g. `priced_by`), newest first, so the last row is the root
-- that started it (a BAR in a backtest).
-- One row per event: `depth` is the fewest edges from the event, `kind` the edge taken at that
-- depth and `via_id` the event it leads to (nearest-first, ties to the newest).
-- Pruned like a trace id: ancestors lie in [root_seq, seq] of the same run, so only the row
-- groups of that range are read (root_seq stays a true lower bound in a run whose lineage is
-- not exact: a parent that had left the tracer's memory gives its child root 1).
-- Every filter and join is on integers (run_no, seq). Names come from the run's list of names
-- (`names[code + 1]`: a run's codes are 0, 1, … without gaps), and ids are made only for the
-- rows returned. Each hash join costs a few hundred microseconds even on five rows, so the
-- query keeps to as few as the answer needs: deliveries are matched to the walk's seqs by a
-- semi-join, not joined to the rows the window picks.
-- `why` answers a short span without this query (queries/lineage_walk.py walks the rows of
-- lineage_span.sql in Python): a change to what this query returns must be made there too.
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
coded AS (
    SELECT array_agg(name ORDER BY code) AS names FROM run_names WHERE run_no = :run_no
),
nearest AS (
    SELECT w.seq, w.depth, w.via_seq, c.names[w.kind_code + 1] AS kind, c.names,
           row_number() OVER (
               PARTITION BY w.seq ORDER BY w.depth, w.via_seq DESC, c.names[w.kind_code + 1]
           ) AS pick
    FROM walk AS w
    CROSS JOIN coded AS c
),
timing AS (
    SELECT d.seq, min(d.received_ns) AS received_ns, max(d.processed_ns) AS processed_ns
    FROM run_deliveries AS d
    WHERE d.run_no = :run_no AND d.seq BETWEEN :low AND :seq AND d.seq IN (SELECT seq FROM walk)
    GROUP BY d.seq
)
SELECT :id_prefix || CAST(c.seq AS VARCHAR) AS event_id, c.seq, n.depth, n.kind,
       :id_prefix || CAST(n.via_seq AS VARCHAR) AS via_id,
       n.names[c.type_code + 1] AS event_type, n.names[c.source_code + 1] AS source,
       c.sim_time, :id_prefix || CAST(c.causation_seq AS VARCHAR) AS causation_id,
       c.created_ns, c.emitted_ns, t.received_ns, t.processed_ns,
       c.payload, c.partition_key, CAST('1.0' AS VARCHAR) AS version
FROM nearest AS n
JOIN run_events AS c ON c.seq = n.seq
LEFT JOIN timing AS t ON t.seq = n.seq
WHERE n.pick = 1 AND c.run_no = :run_no AND c.seq BETWEEN :low AND :seq
ORDER BY c.seq DESC
