-- A Zoho connection's rate budget as the replicas last saw it, so every process on one store
-- paces by the same figures: the gate is closed until `closed_until` (epoch ms) after a 429 with
-- a reset, and `remaining` credits (each call costing `weight`) were left at `observed_at`.
CREATE TABLE rate_budgets (
    connection TEXT PRIMARY KEY,
    closed_until BIGINT,
    remaining BIGINT,
    weight BIGINT,
    observed_at BIGINT NOT NULL
);
