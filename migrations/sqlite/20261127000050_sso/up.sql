-- OpenID Connect single sign-on: providers (client secrets sealed), the identities linked to
-- operators (issuer + subject), and the per-role options (require SSO, trust provider MFA).
CREATE TABLE gh_sso_providers (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    issuer TEXT NOT NULL,
    client_id TEXT NOT NULL,
    client_secret_enc TEXT NOT NULL,
    scopes TEXT NOT NULL DEFAULT 'openid email profile',
    enabled BOOLEAN NOT NULL DEFAULT 1,
    create_users BOOLEAN NOT NULL DEFAULT 0,
    default_role TEXT NOT NULL DEFAULT 'viewer',
    allowed_domains TEXT NOT NULL DEFAULT '',
    role_claim TEXT NOT NULL DEFAULT '',
    role_map TEXT NOT NULL DEFAULT '{}',
    created_at TIMESTAMP NOT NULL
);
CREATE TABLE gh_identities (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES gh_users (id) ON DELETE CASCADE,
    provider_id TEXT REFERENCES gh_sso_providers (id) ON DELETE SET NULL,
    issuer TEXT NOT NULL,
    subject TEXT NOT NULL,
    email TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    last_used_at TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX gh_identities_subject_idx ON gh_identities (issuer, subject);
CREATE INDEX gh_identities_user_idx ON gh_identities (user_id);
CREATE TABLE gh_sso_roles (
    role_name TEXT PRIMARY KEY NOT NULL REFERENCES gh_roles (name) ON DELETE CASCADE ON UPDATE CASCADE,
    require_sso BOOLEAN NOT NULL DEFAULT 0,
    trust_provider_mfa BOOLEAN NOT NULL DEFAULT 0
);
