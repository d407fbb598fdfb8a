-- When the handlers of a short seq span's events ran: one row per delivery, so the caller
-- takes each event's first `received_ns` and last `processed_ns` (no GROUP BY: on a few rows
-- the aggregate operator costs more than the rows). A plain range scan, in no order.
-- Parameters: :run_no (the run's number), :low, :high (the span, both ends included).
SELECT seq, received_ns, processed_ns
FROM run_deliveries
WHERE run_no = :run_no AND seq BETWEEN :low AND :high
