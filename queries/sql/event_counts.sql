-- How many events of each type did a run publish, and from how many sources? One row per type,
-- most frequent first. Counted on codes (a run's codes and names match one to one), named last.
-- Parameters: :run_id (text).
WITH chosen AS (
    SELECT run_no FROM runs WHERE run_id = :run_id
),
counted AS (
    SELECT e.run_no, e.type_code, count(*) AS events, count(DISTINCT e.source_code) AS sources
    FROM run_events AS e
    JOIN chosen AS c ON c.run_no = e.run_no
    GROUP BY e.run_no, e.type_code
)
SELECT t.name AS event_type, n.events, n.sources
FROM counted AS n
JOIN run_names AS t ON t.run_no = n.run_no AND t.code = n.type_code
ORDER BY n.events DESC, t.name
