-- Which handler calls took longest? The :limit deliveries of a run with the largest self time
-- (handling minus the deliveries nested inside it, ms; handling time for runs recorded before
-- it was), slowest first, with their handling (inclusive) time and the event they handled.
-- Parameters: :run_id (text), :limit (integer).
SELECT d.handler, d.event_id, e.event_type, e.source,
       d.self_ns / 1e6 AS self_ms,
       (d.processed_ns - d.received_ns) / 1e6 AS handle_ms,
       (d.received_ns - e.emitted_ns) / 1e6 AS queue_ms, d.error
FROM deliveries AS d
JOIN events AS e ON e.run_id = d.run_id AND e.seq = d.seq
WHERE d.run_id = :run_id AND e.run_id = :run_id
ORDER BY coalesce(d.self_ns, d.processed_ns - d.received_ns) DESC, d.seq
LIMIT :limit
