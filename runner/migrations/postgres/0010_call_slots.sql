-- Zoho's cap on calls in flight per connection, shared by every process on this store: one row per
-- slot; a call holds one (`holder`) for its duration. A holder that dies without releasing (a
-- SIGKILL) stops counting at `expires_at` (epoch ms), so a crash costs a slot for one lease at most.
CREATE TABLE call_slots (
    connection TEXT NOT NULL,
    slot INTEGER NOT NULL,
    holder TEXT,
    expires_at BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (connection, slot)
);
