ALTER TABLE gh_roles DROP COLUMN require_passkey;
DROP TABLE gh_webauthn_challenges;
DROP TABLE gh_passkeys;
