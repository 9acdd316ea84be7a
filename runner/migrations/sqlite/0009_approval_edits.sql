-- A reviewer may edit a pending write before approving it: `arguments` then holds what is sent,
-- and `proposed_arguments` (JSON) keeps what the agent proposed, so history shows both. NULL
-- when the write was approved (or rejected) as proposed.
ALTER TABLE approvals ADD COLUMN proposed_arguments TEXT;
