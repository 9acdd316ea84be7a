-- A Zoho connection's rate budget as the processes on this store last saw it, so they pace by the
-- same figures: closed until `closed_until` (epoch ms) after a 429 with a reset; `remaining`
-- credits left, net of the `in_flight` calls that reserved `weight` credits each before they went
-- out; while less than a call is left, one process at a time (`probe_until`) may call to learn
-- the reset.
CREATE TABLE rate_budgets (
    connection TEXT PRIMARY KEY,
    closed_until BIGINT,
    remaining BIGINT,
    weight BIGINT,
    in_flight BIGINT NOT NULL DEFAULT 0,
    probe_until BIGINT,
    observed_at BIGINT NOT NULL
);
