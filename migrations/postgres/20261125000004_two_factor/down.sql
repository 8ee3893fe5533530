ALTER TABLE gh_sessions DROP COLUMN stage;
DROP TABLE gh_recovery_codes;
ALTER TABLE gh_users DROP COLUMN totp_last_step;
ALTER TABLE gh_users DROP COLUMN totp_pending;
ALTER TABLE gh_users DROP COLUMN totp_secret;
