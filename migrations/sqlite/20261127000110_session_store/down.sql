DELETE FROM gh_sessions WHERE user_id IS NULL;
CREATE TABLE gh_sessions_old (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES gh_users (id) ON DELETE CASCADE,
    created_at TIMESTAMP NOT NULL,
    last_seen_at TIMESTAMP NOT NULL,
    ip TEXT NOT NULL,
    user_agent TEXT NOT NULL,
    stage TEXT NOT NULL DEFAULT 'full'
);
INSERT INTO gh_sessions_old (id, user_id, created_at, last_seen_at, ip, user_agent, stage)
    SELECT id, user_id, created_at, last_seen_at, ip, user_agent, stage FROM gh_sessions;
DROP TABLE gh_sessions;
ALTER TABLE gh_sessions_old RENAME TO gh_sessions;
CREATE INDEX gh_sessions_user_id_idx ON gh_sessions (user_id);
