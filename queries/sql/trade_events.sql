-- What did a run trade? Its events of the given types (e.g. ORDER, FILL, PORTFOLIO_UPDATE) in
-- publication order, payloads as stored (JSON text): the equity curve and the report's orders
-- and fills table read them.
-- Parameters: :run_id (text), :event_types (list of event types).
SELECT seq, event_id, event_type, sim_time, source, causation_id, payload
FROM events
WHERE run_id = :run_id AND event_type = ANY(:event_types)
ORDER BY seq
