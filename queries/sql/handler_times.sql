-- Which handler is slow, as a profiler's flat profile says it? Per handler of one run: its
-- deliveries, the total of their self time (a delivery's handling minus the deliveries nested
-- inside it: what the handler's own code took), the total of their inclusive time (with the
-- nested ones) and the largest self time, in nanoseconds; largest self time first. A handler
-- that only publishes to a slow one has a large inclusive time and a small self time. Self
-- time is NULL for runs recorded before schema revision 0002.
-- Summed per handler code first, so each name is looked up once.
-- Parameters: :run_no (the run's number).
WITH timed AS (
    SELECT d.handler_code, count(*) AS deliveries,
           CAST(sum(d.self_ns) AS BIGINT) AS self_ns,
           CAST(sum(d.processed_ns - d.received_ns) AS BIGINT) AS inclusive_ns,
           max(d.self_ns) AS self_max_ns
    FROM run_deliveries AS d
    WHERE d.run_no = :run_no
    GROUP BY d.handler_code
)
SELECT n.name AS handler, t.deliveries, t.self_ns, t.inclusive_ns, t.self_max_ns
FROM timed AS t
LEFT JOIN run_names AS n ON n.run_no = :run_no AND n.code = t.handler_code
ORDER BY t.self_ns DESC NULLS LAST, t.inclusive_ns DESC, n.name
