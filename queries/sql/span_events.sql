-- The events of a short seq span of a run, with the columns a `TracedEvent` needs (codes, not
-- names: the caller maps them with the run's names). A plain range scan, in no order.
-- Parameters: :run_no (the run's number), :low, :high (the span, both ends included).
SELECT seq, type_code, source_code, sim_time, causation_seq, created_ns, emitted_ns,
       payload, partition_key
FROM run_events
WHERE run_no = :run_no AND seq BETWEEN :low AND :high
