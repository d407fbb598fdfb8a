-- Which signals led to which fills? One row per SIGNAL → … → FILL chain of the run's FILLs
-- with seq in [:first_fill, :last_fill]: walking up the lineage edges from every FILL until a
-- SIGNAL (not past it), with the nearest ORDER on the way, the chain's length in events
-- (signal and fill included) and the wall time from the signal's creation to the fill's, in
-- milliseconds. A fill reached from several signals gives one row per signal (the shortest
-- path to each). Rows in order of fill, then signal.
-- A run is asked a slice of FILLs at a time (chain_slices.sql): every ancestor of those FILLs
-- lies in [:low, :last_fill], so the walk reads only that range, and what it holds is bounded
-- by the slice whatever the run's length. Only the types the walk tells apart (SIGNAL, ORDER,
-- FILL) are looked up; any other event is 'OTHER'. An edge carries its parent's type, so each
-- step of the walk is one join. Everything joins on seqs; ids are made for the rows returned.
-- Parameters: :run_no (the run's number), :low (smallest seq an ancestor can have),
--             :first_fill, :last_fill (the FILLs' seq range), :max_depth (bound on the
--             recursion).
WITH RECURSIVE
kinds AS MATERIALIZED (
    SELECT e.seq, t.name AS event_type
    FROM run_events AS e
    JOIN run_names AS t ON t.run_no = e.run_no AND t.code = e.type_code
    WHERE e.run_no = :run_no AND e.seq BETWEEN :low AND :last_fill
      AND t.name IN ('SIGNAL', 'ORDER', 'FILL')
),
edges AS MATERIALIZED (
    SELECT g.parent_seq, g.child_seq, COALESCE(k.event_type, 'OTHER') AS parent_type
    FROM run_edges AS g
    LEFT JOIN kinds AS k ON k.seq = g.parent_seq
    WHERE g.run_no = :run_no AND g.child_seq BETWEEN :low AND :last_fill
),
walk (fill_seq, seq, event_type, depth, order_seq) AS (
    SELECT seq, seq, event_type, 0, CAST(NULL AS BIGINT)
    FROM kinds
    WHERE event_type = 'FILL' AND seq BETWEEN :first_fill AND :last_fill
    UNION
    SELECT w.fill_seq, e.parent_seq, e.parent_type, w.depth + 1,
           CASE WHEN w.order_seq IS NULL AND e.parent_type = 'ORDER' THEN e.parent_seq
                ELSE w.order_seq END
    FROM walk AS w
    JOIN edges AS e ON e.child_seq = w.seq
    WHERE w.depth < :max_depth AND (w.depth = 0 OR w.event_type <> 'SIGNAL')
),
chains AS (
    SELECT fill_seq, seq AS signal_seq, order_seq, depth,
           row_number() OVER (PARTITION BY fill_seq, seq ORDER BY depth, order_seq DESC) AS pick
    FROM walk
    WHERE event_type = 'SIGNAL'
),
ends AS (
    SELECT e.seq, e.sim_time, e.created_ns
    FROM run_events AS e
    WHERE e.run_no = :run_no AND e.seq BETWEEN :low AND :last_fill
      AND e.seq IN (SELECT signal_seq FROM chains UNION ALL SELECT fill_seq FROM chains)
)
SELECT r.tag || '-' || CAST(c.signal_seq AS VARCHAR) AS signal_id,
       r.tag || '-' || CAST(c.order_seq AS VARCHAR) AS order_id,
       r.tag || '-' || CAST(c.fill_seq AS VARCHAR) AS fill_id,
       c.depth + 1 AS chain_length,
       (f.created_ns - s.created_ns) / 1e6 AS signal_to_fill_ms,
       s.sim_time AS signal_time, f.sim_time AS fill_time
FROM chains AS c
JOIN runs AS r ON r.run_no = :run_no
JOIN ends AS s ON s.seq = c.signal_seq
JOIN ends AS f ON f.seq = c.fill_seq
WHERE c.pick = 1
ORDER BY c.fill_seq, c.signal_seq
