-- An item deferred by a fault outside the ticket (Zoho's credit budget, the LLM down) is not
-- claimable before this moment (epoch ms); NULL means no deferral. Deferral counts no attempt.
ALTER TABLE work_items ADD COLUMN not_before BIGINT;
