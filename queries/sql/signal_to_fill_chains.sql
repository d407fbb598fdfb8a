-- Which signals led to which fills? One row per SIGNAL → … → FILL chain of a run: walking up
-- the lineage edges from every FILL until a SIGNAL (not past it), with the nearest ORDER on
-- the way, the chain's length in events (signal and fill included) and the wall time from the
-- signal's creation to the fill's, in milliseconds. A fill reached from several signals gives
-- one row per signal (the shortest path to each).
-- Everything joins on the run's number and seqs; ids are made for the rows returned.
-- Parameters: :run_id (text), :max_depth (bound on the recursion).
WITH RECURSIVE
chosen AS (
    SELECT run_no, tag FROM runs WHERE run_id = :run_id
),
edges AS MATERIALIZED (
    SELECT g.parent_seq, g.child_seq
    FROM run_edges AS g
    JOIN chosen AS c ON c.run_no = g.run_no
),
kinds AS MATERIALIZED (
    SELECT e.seq, t.name AS event_type
    FROM run_events AS e
    JOIN chosen AS c ON c.run_no = e.run_no
    JOIN run_names AS t ON t.run_no = e.run_no AND t.code = e.type_code
    WHERE t.name IN ('BAR', 'SIGNAL', 'ORDER', 'FILL')
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
    SELECT e.seq, c.tag || '-' || CAST(e.seq AS VARCHAR) AS event_id, e.sim_time, e.created_ns
    FROM run_events AS e
    JOIN chosen AS c ON c.run_no = e.run_no
    WHERE e.seq IN (SELECT signal_seq FROM chains UNION ALL SELECT order_seq FROM chains
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
