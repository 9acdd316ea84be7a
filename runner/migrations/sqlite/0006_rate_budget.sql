-- A Zoho connection's rate budget as the processes on this store last saw it, so they pace by the
-- same figures: closed until `closed_until` (epoch ms) after a 429 with a reset; `remaining`
-- credits left, reported by the last answer and reserved (`weight` a call) before each call; while
-- less than a call is left, one process at a time (`probe_until`) may call to learn the reset.
CREATE TABLE rate_budgets (
    connection TEXT PRIMARY KEY,
    closed_until BIGINT,
    remaining BIGINT,
    weight BIGINT,
    probe_until BIGINT,
    observed_at BIGINT NOT NULL
);
