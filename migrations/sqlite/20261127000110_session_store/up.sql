-- Sessions through actix-session: a session may exist before anyone signs in (it carries a
-- flash message across a redirect), so the operator is optional, and the session's other
-- entries (the flash message) are kept as JSON in `data`. SQLite cannot drop NOT NULL in
-- place: the table is rebuilt (nothing references it).
CREATE TABLE gh_sessions_new (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT REFERENCES gh_users (id) ON DELETE CASCADE,
    created_at TIMESTAMP NOT NULL,
    last_seen_at TIMESTAMP NOT NULL,
    ip TEXT NOT NULL,
    user_agent TEXT NOT NULL,
    stage TEXT NOT NULL DEFAULT 'full',
    data TEXT NOT NULL DEFAULT '{}'
);
INSERT INTO gh_sessions_new (id, user_id, created_at, last_seen_at, ip, user_agent, stage)
    SELECT id, user_id, created_at, last_seen_at, ip, user_agent, stage FROM gh_sessions;
DROP TABLE gh_sessions;
ALTER TABLE gh_sessions_new RENAME TO gh_sessions;
CREATE INDEX gh_sessions_user_id_idx ON gh_sessions (user_id);
