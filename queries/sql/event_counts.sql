-- How many events of each type did a run publish, and from how many sources? One row per type,
-- most frequent first.
-- Parameters: :run_id (text).
SELECT event_type, count(*) AS events, count(DISTINCT source) AS sources
FROM events
WHERE run_id = :run_id
GROUP BY event_type
ORDER BY events DESC, event_type
