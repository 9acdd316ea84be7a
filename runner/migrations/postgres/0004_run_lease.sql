-- A run's own lease: the process running it (or waiting to run a queued tick) renews it, so a
-- run whose process died is recognised once it lapses and is closed as `interrupted`, and "is a
-- run of this workflow live?" is one indexed query. NULL on runs recorded before this migration.
ALTER TABLE runs ADD COLUMN lease_expires_at BIGINT;
CREATE INDEX runs_workflow_status ON runs (workflow, status);
