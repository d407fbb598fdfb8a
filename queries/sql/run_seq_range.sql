-- The smallest and largest seq stored for a run: named in the message about an unknown event.
-- Parameters: :run_no (the run's number).
SELECT min(seq) AS first_seq, max(seq) AS last_seq, count(*) AS events
FROM run_events
WHERE run_no = :run_no
