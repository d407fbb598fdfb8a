-- Causation between timeline slices: for every lineage edge whose parent and child both have
-- a delivery among the chosen slices (same window and limit as timeline_slices.sql), the
-- parent's delivery the child was published from (the one whose span holds the child's
-- creation; else the parent's last delivery, e.g. an order filled on a later bar) and the
-- child's first delivery, each as its span (ns since the run started), and when the child
-- was created.
-- Parameters: :run_id (text), :id_prefix (the run's tag and '-'), :start_ns, :end_ns,
--             :limit (integers).
WITH chosen AS MATERIALIZED (
    SELECT d.seq, e.source, d.received_ns, d.processed_ns
    FROM deliveries AS d
    JOIN events AS e ON e.run_id = d.run_id AND e.seq = d.seq
    WHERE d.run_id = :run_id AND e.run_id = :run_id
      AND d.processed_ns >= :start_ns AND d.received_ns < :end_ns
    ORDER BY d.received_ns, d.processed_ns DESC, d.seq
    LIMIT :limit
),
edges AS (
    SELECT l.parent_seq, l.child_seq, l.kind, c.created_ns
    FROM lineage_edges AS l
    JOIN events AS c ON c.run_id = l.run_id AND c.seq = l.child_seq
    WHERE l.run_id = :run_id AND c.run_id = :run_id AND starts_with(l.child_id, :id_prefix)
      AND l.parent_seq IN (SELECT seq FROM chosen) AND l.child_seq IN (SELECT seq FROM chosen)
),
starts AS (
    SELECT e.parent_seq, e.child_seq, e.kind, e.created_ns, p.source,
           COALESCE(
               max(p.received_ns) FILTER (
                   WHERE p.received_ns <= e.created_ns AND e.created_ns <= p.processed_ns
               ),
               max(p.received_ns)
           ) AS start_ns
    FROM edges AS e
    JOIN chosen AS p ON p.seq = e.parent_seq
    GROUP BY 1, 2, 3, 4, 5
),
firsts AS (
    SELECT seq, received_ns, processed_ns,
           row_number() OVER (PARTITION BY seq ORDER BY received_ns, processed_ns DESC) AS pick
    FROM chosen
)
SELECT s.parent_seq, s.child_seq, s.kind, s.created_ns AS child_created_ns,
       s.source AS parent_source, p.received_ns AS parent_start_ns,
       p.processed_ns AS parent_end_ns,
       c.source AS child_source, f.received_ns AS child_start_ns, f.processed_ns AS child_end_ns
FROM starts AS s
JOIN chosen AS p ON p.seq = s.parent_seq AND p.received_ns = s.start_ns
JOIN firsts AS f ON f.seq = s.child_seq AND f.pick = 1
JOIN (SELECT DISTINCT seq, source FROM chosen) AS c ON c.seq = s.child_seq
ORDER BY p.received_ns, s.child_seq, s.kind
