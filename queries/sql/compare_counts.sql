-- How do two runs' event counts differ? One row per event type present in either run: both
-- counts side by side and their difference (b - a). Counted per type code, named last.
-- Parameters: :run_a (text), :run_b (text).
WITH chosen AS (
    SELECT run_no, run_id FROM runs WHERE run_id IN (:run_a, :run_b)
),
counted AS (
    SELECT c.run_id, t.name AS event_type, n.events
    FROM (SELECT e.run_no, e.type_code, count(*) AS events
          FROM run_events AS e
          JOIN chosen AS c ON c.run_no = e.run_no
          GROUP BY e.run_no, e.type_code) AS n
    JOIN chosen AS c ON c.run_no = n.run_no
    JOIN run_names AS t ON t.run_no = n.run_no AND t.code = n.type_code
),
a AS (SELECT event_type, events FROM counted WHERE run_id = :run_a),
b AS (SELECT event_type, events FROM counted WHERE run_id = :run_b)
SELECT COALESCE(a.event_type, b.event_type) AS event_type,
       COALESCE(a.events, 0) AS run_a, COALESCE(b.events, 0) AS run_b,
       COALESCE(b.events, 0) - COALESCE(a.events, 0) AS difference
FROM a
FULL JOIN b ON b.event_type = a.event_type
ORDER BY 1
