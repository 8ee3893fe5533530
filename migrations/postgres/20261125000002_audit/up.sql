-- The change log: one row per created, updated or deleted record (and later, per user action).
CREATE TABLE gh_audit (
    id TEXT PRIMARY KEY NOT NULL,
    created_at TIMESTAMP NOT NULL,
    user_id TEXT,
    user_email TEXT NOT NULL,
    action TEXT NOT NULL,
    table_name TEXT NOT NULL,
    row_key TEXT NOT NULL,
    changes TEXT NOT NULL
);
CREATE INDEX gh_audit_created_idx ON gh_audit (created_at);
CREATE INDEX gh_audit_row_idx ON gh_audit (table_name, row_key, created_at);
