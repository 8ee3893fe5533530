-- Table charts pinned to the dashboard: by one operator for themselves (owner_id), or by an
-- administrator for everyone (owner_id NULL). `query` is the chart's query string (the
-- list's filters plus `by` and `every`), parsed again against the viewer's catalog on show.
CREATE TABLE gh_dashboard_pins (
    id TEXT PRIMARY KEY NOT NULL,
    owner_id TEXT REFERENCES gh_users (id) ON DELETE CASCADE,
    table_name TEXT NOT NULL,
    title TEXT NOT NULL,
    query TEXT NOT NULL DEFAULT '',
    created_by TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX gh_dashboard_pins_owner_idx ON gh_dashboard_pins (owner_id, created_at);
-- The dashboard's webhook card reads the last 24 hours of attempts.
CREATE INDEX gh_deliveries_attempted_idx ON gh_deliveries (attempted_at);
