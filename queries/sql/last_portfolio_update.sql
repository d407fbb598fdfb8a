-- Where did a backtest's portfolio stand when its run ended? The run's last PORTFOLIO_UPDATE
-- (its seq and payload, JSON: cash, positions, the prices they were marked at, commissions
-- so far); no row for a run that made no trade.
-- Parameters: :run_id (text).
WITH chosen AS (
    SELECT t.run_no, t.code
    FROM runs AS r
    JOIN run_names AS t ON t.run_no = r.run_no
    WHERE r.run_id = :run_id AND t.name = 'PORTFOLIO_UPDATE'
)
SELECT e.seq, e.payload
FROM run_events AS e
JOIN chosen AS c ON c.run_no = e.run_no AND c.code = e.type_code
ORDER BY e.seq DESC
LIMIT 1
