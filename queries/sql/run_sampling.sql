-- Which runs were sampled, and what did sampling leave out? One row per sampled run among the
-- chosen ones: its `sampling` JSON (configuration, `sampled_out` counts per event type,
-- `sampled_out_total`). Runs stored whole are not listed.
-- Parameters: :all_runs (boolean: ignore :run_ids), :run_ids (list of run ids).
SELECT run_id, sampling
FROM runs
WHERE sampling IS NOT NULL AND (:all_runs OR run_id = ANY(:run_ids))
