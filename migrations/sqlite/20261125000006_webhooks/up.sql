-- Outbound webhooks: endpoints (secrets encrypted), the outbox of events written in the
-- transaction of the change that caused them, and every delivery attempt.
CREATE TABLE gh_webhook_endpoints (
    id TEXT PRIMARY KEY NOT NULL,
    url TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    events TEXT NOT NULL DEFAULT '[]',
    role TEXT NOT NULL,
    enabled BOOLEAN NOT NULL DEFAULT 1,
    secret_enc TEXT NOT NULL,
    old_secret_enc TEXT,
    old_secret_until TIMESTAMP,
    disabled_reason TEXT,
    failing_since TIMESTAMP,
    last_success_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL
);
CREATE TABLE gh_outbox (
    id TEXT PRIMARY KEY NOT NULL,
    endpoint_id TEXT NOT NULL REFERENCES gh_webhook_endpoints (id) ON DELETE CASCADE,
    event_type TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    next_attempt_at TIMESTAMP NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL DEFAULT 'pending',
    locked_until TIMESTAMP
);
CREATE INDEX gh_outbox_due_idx ON gh_outbox (status, next_attempt_at);
CREATE INDEX gh_outbox_endpoint_idx ON gh_outbox (endpoint_id, created_at);
CREATE TABLE gh_deliveries (
    id TEXT PRIMARY KEY NOT NULL,
    outbox_id TEXT NOT NULL REFERENCES gh_outbox (id) ON DELETE CASCADE,
    attempted_at TIMESTAMP NOT NULL,
    status_code INTEGER,
    latency_ms BIGINT NOT NULL,
    response_excerpt TEXT NOT NULL DEFAULT '',
    error TEXT
);
CREATE INDEX gh_deliveries_outbox_idx ON gh_deliveries (outbox_id, attempted_at);
