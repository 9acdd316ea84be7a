-- deskhand run store, SQLite. Timestamps are epoch milliseconds (BIGINT), JSON is TEXT, booleans are
-- 0/1: the only value kinds sqlx's Any driver carries on both backends. Keep in step with
-- ../postgres/0001_store.sql.

CREATE TABLE runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    workflow TEXT NOT NULL,
    trigger_kind TEXT NOT NULL,
    -- Set for schedule ticks; the unique pair is what makes a tick fire once across replicas.
    scheduled_for BIGINT,
    status TEXT NOT NULL,
    inputs TEXT NOT NULL,
    model TEXT,
    llm_used BIGINT NOT NULL,
    owner TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    finished_at BIGINT,
    summary TEXT,
    error TEXT,
    items_total BIGINT NOT NULL DEFAULT 0,
    items_succeeded BIGINT NOT NULL DEFAULT 0,
    items_failed BIGINT NOT NULL DEFAULT 0,
    items_skipped BIGINT NOT NULL DEFAULT 0,
    UNIQUE (workflow, scheduled_for)
);
CREATE INDEX runs_workflow_started ON runs (workflow, started_at);

CREATE TABLE work_items (
    workflow TEXT NOT NULL,
    item_key TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    last_error TEXT,
    fingerprint TEXT,
    lease_owner TEXT,
    lease_expires_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (workflow, item_key)
);
CREATE INDEX work_items_queue ON work_items (workflow, status, created_at);
CREATE INDEX work_items_lease_owner ON work_items (lease_owner);

CREATE TABLE item_attempts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id BIGINT NOT NULL REFERENCES runs (id),
    workflow TEXT NOT NULL,
    item_key TEXT NOT NULL,
    attempt BIGINT NOT NULL,
    status TEXT NOT NULL,
    error TEXT,
    output TEXT,
    started_at BIGINT NOT NULL,
    finished_at BIGINT,
    steps BIGINT NOT NULL DEFAULT 0,
    tool_calls BIGINT NOT NULL DEFAULT 0,
    prompt_tokens BIGINT NOT NULL DEFAULT 0,
    completion_tokens BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX item_attempts_run ON item_attempts (run_id);
CREATE INDEX item_attempts_item ON item_attempts (workflow, item_key);

CREATE TABLE llm_steps (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    attempt_id BIGINT NOT NULL REFERENCES item_attempts (id),
    step BIGINT NOT NULL,
    model TEXT NOT NULL,
    prompt_tokens BIGINT NOT NULL,
    completion_tokens BIGINT NOT NULL,
    latency_ms BIGINT NOT NULL,
    finish_reason TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX llm_steps_attempt ON llm_steps (attempt_id);

CREATE TABLE tool_calls (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    attempt_id BIGINT NOT NULL REFERENCES item_attempts (id),
    step BIGINT NOT NULL,
    tool TEXT NOT NULL,
    arguments TEXT NOT NULL,
    is_write BIGINT NOT NULL,
    outcome TEXT NOT NULL,
    http_status BIGINT,
    error_code TEXT,
    result_summary TEXT,
    duration_ms BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX tool_calls_attempt ON tool_calls (attempt_id);

CREATE TABLE retries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id BIGINT NOT NULL REFERENCES runs (id),
    attempt_id BIGINT REFERENCES item_attempts (id),
    item_key TEXT,
    layer TEXT NOT NULL,
    reason TEXT NOT NULL,
    wait_ms BIGINT NOT NULL,
    attempt BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX retries_run ON retries (run_id);

CREATE TABLE write_intents (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    idempotency_key TEXT NOT NULL UNIQUE,
    run_id BIGINT NOT NULL REFERENCES runs (id),
    workflow TEXT NOT NULL,
    item_key TEXT NOT NULL,
    tool TEXT NOT NULL,
    arguments TEXT NOT NULL,
    state TEXT NOT NULL,
    outcome TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX write_intents_item ON write_intents (workflow, item_key, state);

CREATE TABLE approvals (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    intent_id BIGINT UNIQUE REFERENCES write_intents (id),
    run_id BIGINT REFERENCES runs (id),
    workflow TEXT NOT NULL,
    item_key TEXT NOT NULL,
    tool TEXT NOT NULL,
    arguments TEXT NOT NULL,
    reason TEXT,
    state TEXT NOT NULL,
    decided_by TEXT,
    decided_at BIGINT,
    note TEXT,
    result TEXT,
    applied_at BIGINT,
    created_at BIGINT NOT NULL
);
CREATE INDEX approvals_state ON approvals (state, id);
