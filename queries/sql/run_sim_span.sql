-- When, in the run's own (simulated) time, did a run start and end? The earliest and latest
-- sim_time of its stored events (null when none has one): the span a flat equity curve covers.
-- Parameters: :run_id (text).
SELECT min(e.sim_time) AS first_time, max(e.sim_time) AS last_time
FROM run_events AS e
JOIN runs AS r ON r.run_no = e.run_no
WHERE r.run_id = :run_id
