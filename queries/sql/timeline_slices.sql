-- Every handler delivery of a run as a timeline slice, in start order (an enclosing delivery
-- before the ones nested in it): the event's source container (its track), the handler, its
-- start and end (ns since the run started) and the event it handled.
-- Window: deliveries overlapping [:start_ns, :end_ns); at most :limit of them, earliest first.
-- Parameters: :run_id (text), :start_ns, :end_ns, :limit (integers).
SELECT d.seq, d.event_id, e.event_type, e.source, d.handler, d.received_ns, d.processed_ns,
       d.error
FROM deliveries AS d
JOIN events AS e ON e.run_id = d.run_id AND e.seq = d.seq
WHERE d.run_id = :run_id AND e.run_id = :run_id
  AND d.processed_ns >= :start_ns AND d.received_ns < :end_ns
ORDER BY d.received_ns, d.processed_ns DESC, d.seq
LIMIT :limit
