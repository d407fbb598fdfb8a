-- What did each symbol last trade at? The payload of the last BAR of each symbol (its
-- payload's "symbol") after seq :after_seq of a run, in publication order: the closes a
-- backtest's portfolio marks its positions at when the run ends. Reading only the bars after
-- the last portfolio update keeps this to the run's tail.
-- Parameters: :run_id (text), :after_seq (integer).
WITH chosen AS (
    SELECT t.run_no, t.code
    FROM runs AS r
    JOIN run_names AS t ON t.run_no = r.run_no
    WHERE r.run_id = :run_id AND t.name = 'BAR'
),
bars AS (
    SELECT e.seq, e.payload, e.payload ->> 'symbol' AS symbol
    FROM run_events AS e
    JOIN chosen AS c ON c.run_no = e.run_no AND c.code = e.type_code
    WHERE e.seq > :after_seq
),
latest AS (
    SELECT symbol, max(seq) AS seq
    FROM bars
    GROUP BY symbol
)
SELECT b.seq, b.payload
FROM bars AS b
JOIN latest AS l ON l.seq = b.seq
ORDER BY b.seq
