-- What an approval was proposed against, so applying it later can refuse the wrong helpdesk or a
-- ticket a person has changed since: the connection it was queued under, the ticket's values of
-- the fields the write sets (`base`, JSON), the ticket's number, subject and link (`ticket`,
-- JSON) and the names of the ids involved (`names`, JSON id -> name), for reviewers.
-- Applying claims the approval (`applying`, `claimed_by` until `claimed_until`, epoch ms)
-- so concurrent approvers send it once; `attempts` counts the claims.
ALTER TABLE approvals ADD COLUMN connection TEXT;
ALTER TABLE approvals ADD COLUMN base TEXT;
ALTER TABLE approvals ADD COLUMN ticket TEXT;
ALTER TABLE approvals ADD COLUMN names TEXT;
ALTER TABLE approvals ADD COLUMN confidence REAL;
ALTER TABLE approvals ADD COLUMN claimed_by TEXT;
ALTER TABLE approvals ADD COLUMN claimed_until BIGINT;
ALTER TABLE approvals ADD COLUMN attempts BIGINT NOT NULL DEFAULT 0;
CREATE INDEX approvals_item ON approvals (workflow, item_key, id);
CREATE INDEX approvals_run ON approvals (run_id, id);
