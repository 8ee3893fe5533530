-- Passkeys (WebAuthn): one row per registered credential. `credential` is webauthn-rs's
-- Passkey as JSON (public key, counter, backup state), rewritten after each use;
-- `credential_id` (base64url) finds the row of a discoverable sign-in. `passwordless`:
-- this passkey may sign in without the password.
CREATE TABLE gh_passkeys (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES gh_users (id) ON DELETE CASCADE,
    credential_id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    credential TEXT NOT NULL,
    passwordless BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TIMESTAMP NOT NULL,
    last_used_at TIMESTAMP
);
CREATE INDEX gh_passkeys_user_idx ON gh_passkeys (user_id, created_at);
-- A WebAuthn ceremony in progress: its state (JSON), for whom (user, or NULL before a
-- passwordless sign-in), bound to the session (or the anonymous cookie) that started it.
-- Single use (deleted when taken) and valid five minutes.
CREATE TABLE gh_webauthn_challenges (
    id TEXT PRIMARY KEY NOT NULL,
    purpose TEXT NOT NULL,
    user_id TEXT REFERENCES gh_users (id) ON DELETE CASCADE,
    binding TEXT NOT NULL,
    state TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX gh_webauthn_challenges_created_idx ON gh_webauthn_challenges (created_at);
-- A role may require a passkey (phishing-resistant) rather than any second factor.
ALTER TABLE gh_roles ADD COLUMN require_passkey BOOLEAN NOT NULL DEFAULT FALSE;
