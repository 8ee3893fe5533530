-- Per-operator display settings: the time zone timestamps are shown in, and the colour
-- theme (system, light or dark). No row means the defaults (UTC, system).
CREATE TABLE gh_user_settings (
    user_id TEXT PRIMARY KEY NOT NULL REFERENCES gh_users (id) ON DELETE CASCADE,
    time_zone TEXT NOT NULL DEFAULT 'UTC',
    theme TEXT NOT NULL DEFAULT 'system',
    updated_at TIMESTAMP NOT NULL
);
