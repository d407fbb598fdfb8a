-- The smallest and largest seq stored for a run: named in the message about an unknown event.
-- Parameters: :run_id (text).
SELECT min(seq) AS first_seq, max(seq) AS last_seq, count(*) AS events
FROM events
WHERE run_id = :run_id
