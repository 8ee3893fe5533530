-- Roles (built-in and custom) with per-table rights and hidden columns; one-time
-- password-reset links.
CREATE TABLE gh_roles (
    name TEXT PRIMARY KEY NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    builtin BOOLEAN NOT NULL DEFAULT 0,
    default_actions TEXT NOT NULL DEFAULT '',
    admin_areas BOOLEAN NOT NULL DEFAULT 0,
    require_2fa BOOLEAN NOT NULL DEFAULT 0,
    created_at TIMESTAMP NOT NULL
);
INSERT INTO gh_roles (name, description, builtin, default_actions, admin_areas, require_2fa, created_at) VALUES
    ('admin', 'Everything, including operators, roles and settings.', 1, 'rcud', 1, 0, CURRENT_TIMESTAMP),
    ('editor', 'Reads and writes every table.', 1, 'rcud', 0, 0, CURRENT_TIMESTAMP),
    ('viewer', 'Reads every table.', 1, 'r', 0, 0, CURRENT_TIMESTAMP);

CREATE TABLE gh_role_tables (
    role_name TEXT NOT NULL REFERENCES gh_roles (name) ON DELETE CASCADE,
    table_name TEXT NOT NULL,
    actions TEXT NOT NULL DEFAULT '',
    hidden_columns TEXT NOT NULL DEFAULT '[]',
    PRIMARY KEY (role_name, table_name)
);

CREATE TABLE gh_password_resets (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES gh_users (id) ON DELETE CASCADE,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL
);
