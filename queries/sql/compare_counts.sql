-- How do two runs' event counts differ? One row per event type present in either run: both
-- counts side by side and their difference (b - a).
-- Parameters: :run_a (text), :run_b (text).
WITH a AS (
    SELECT event_type, count(*) AS events FROM events WHERE run_id = :run_a GROUP BY event_type
),
b AS (
    SELECT event_type, count(*) AS events FROM events WHERE run_id = :run_b GROUP BY event_type
)
SELECT COALESCE(a.event_type, b.event_type) AS event_type,
       COALESCE(a.events, 0) AS run_a, COALESCE(b.events, 0) AS run_b,
       COALESCE(b.events, 0) - COALESCE(a.events, 0) AS difference
FROM a
FULL JOIN b ON b.event_type = a.event_type
ORDER BY 1
