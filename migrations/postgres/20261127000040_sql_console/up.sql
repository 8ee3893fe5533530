-- The SQL console: the "run SQL" and "write SQL" rights of a role (administrators always
-- hold both), each operator's recent statements, and saved queries (personal, or shared
-- with roles).
ALTER TABLE gh_roles ADD COLUMN run_sql BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE gh_roles ADD COLUMN write_sql BOOLEAN NOT NULL DEFAULT FALSE;

CREATE TABLE gh_sql_history (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES gh_users (id) ON DELETE CASCADE,
    statement TEXT NOT NULL,
    write_mode BOOLEAN NOT NULL DEFAULT FALSE,
    outcome TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX gh_sql_history_user ON gh_sql_history (user_id, created_at);

CREATE TABLE gh_sql_queries (
    id TEXT PRIMARY KEY NOT NULL,
    owner_id TEXT NOT NULL REFERENCES gh_users (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    statement TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX gh_sql_queries_owner ON gh_sql_queries (owner_id);

CREATE TABLE gh_sql_query_roles (
    query_id TEXT NOT NULL REFERENCES gh_sql_queries (id) ON DELETE CASCADE,
    role_name TEXT NOT NULL REFERENCES gh_roles (name) ON DELETE CASCADE,
    PRIMARY KEY (query_id, role_name)
);
