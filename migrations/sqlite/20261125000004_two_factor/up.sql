-- TOTP two-factor sign-in: the enrolled secret, one being enrolled, the last time step
-- used (a code works once), single-use recovery codes (hashed), and the stage of a
-- session that has passed the password but not yet the second factor.
ALTER TABLE gh_users ADD COLUMN totp_secret TEXT;
ALTER TABLE gh_users ADD COLUMN totp_pending TEXT;
ALTER TABLE gh_users ADD COLUMN totp_last_step BIGINT NOT NULL DEFAULT 0;
CREATE TABLE gh_recovery_codes (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES gh_users (id) ON DELETE CASCADE,
    code_hash TEXT NOT NULL,
    used_at TIMESTAMP
);
CREATE INDEX gh_recovery_codes_user_idx ON gh_recovery_codes (user_id);
ALTER TABLE gh_sessions ADD COLUMN stage TEXT NOT NULL DEFAULT 'full';
