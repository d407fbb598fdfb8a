-- Which signals led to which fills? One row per SIGNAL → … → FILL chain of a run: walking up
-- the lineage edges from every FILL until a SIGNAL (not past it), with the nearest ORDER on
-- the way, the chain's length in events (signal and fill included) and the wall time from the
-- signal's creation to the fill's, in milliseconds. A fill reached from several signals gives
-- one row per signal (the shortest path to each).
-- Parameters: :run_id (text), :max_depth (bound on the recursion).
WITH RECURSIVE
edges AS MATERIALIZED (
    SELECT parent_seq, child_seq
    FROM lineage_edges
    WHERE run_id = :run_id
),
kinds AS MATERIALIZED (
    SELECT seq, event_type
    FROM events
    WHERE run_id = :run_id AND event_type IN ('BAR', 'SIGNAL', 'ORDER', 'FILL')
),
walk (fill_seq, seq, event_type, depth, order_seq) AS (
    SELECT seq, seq, event_type, 0, CAST(NULL AS BIGINT)
    FROM kinds
    WHERE event_type = 'FILL'
    UNION
    SELECT w.fill_seq, e.parent_seq, COALESCE(k.event_type, 'OTHER'), w.depth + 1,
           CASE WHEN w.order_seq IS NULL AND k.event_type = 'ORDER' THEN e.parent_seq
                ELSE w.order_seq END
    FROM walk AS w
    JOIN edges AS e ON e.child_seq = w.seq
    LEFT JOIN kinds AS k ON k.seq = e.parent_seq
    WHERE w.depth < :max_depth AND (w.depth = 0 OR w.event_type <> 'SIGNAL')
),
chains AS (
    SELECT fill_seq, seq AS signal_seq, order_seq, depth,
           row_number() OVER (PARTITION BY fill_seq, seq ORDER BY depth, order_seq DESC) AS pick
    FROM walk
    WHERE event_type = 'SIGNAL'
),
ends AS (
    SELECT seq, event_id, sim_time, created_ns
    FROM events
    WHERE run_id = :run_id
      AND seq IN (SELECT signal_seq FROM chains UNION ALL SELECT order_seq FROM chains
                  UNION ALL SELECT fill_seq FROM chains)
)
SELECT s.event_id AS signal_id, o.event_id AS order_id, f.event_id AS fill_id,
       c.depth + 1 AS chain_length,
       (f.created_ns - s.created_ns) / 1e6 AS signal_to_fill_ms,
       s.sim_time AS signal_time, f.sim_time AS fill_time
FROM chains AS c
JOIN ends AS s ON s.seq = c.signal_seq
JOIN ends AS f ON f.seq = c.fill_seq
LEFT JOIN ends AS o ON o.seq = c.order_seq
WHERE c.pick = 1
ORDER BY c.fill_seq, c.signal_seq
