-- How are delivery latencies distributed? Counts of deliveries per run, group (event type,
-- handler or source container) and logarithmic bin of one latency: queueing (received -
-- emitted) or handling (processed - received), as `latency_percentiles` defines them.
-- Bin b holds latencies in [10^(b / :bins_per_decade), 10^((b + 1) / :bins_per_decade)) ns;
-- latencies under 1 ns (a first handler's queueing is 0 by construction) fall in bin 0.
-- Parameters: :run_ids (list of run ids), :by ('type' | 'handler' | 'source'),
--             :metric ('queue' | 'handle'), :bins_per_decade (integer).
WITH timed AS (
    SELECT d.run_id,
           CASE :by WHEN 'type' THEN e.event_type WHEN 'source' THEN e.source
                ELSE d.handler END AS key,
           CASE :metric WHEN 'queue' THEN d.received_ns - e.emitted_ns
                ELSE d.processed_ns - d.received_ns END AS ns
    FROM deliveries AS d
    JOIN events AS e ON e.run_id = d.run_id AND e.seq = d.seq
    WHERE d.run_id = ANY(:run_ids) AND e.run_id = ANY(:run_ids)
)
SELECT run_id, key,
       CAST(floor(log10(greatest(ns, 1)) * :bins_per_decade) AS BIGINT) AS bin,
       count(*) AS deliveries
FROM timed
GROUP BY 1, 2, 3
ORDER BY 1, 2, 3
