-- Saved views: a list's query (search, filters, sort, visible columns, rows per page) kept
-- under a name by its owner, personal or shared with roles.
CREATE TABLE gh_views (
    id BIGSERIAL PRIMARY KEY,
    table_name TEXT NOT NULL,
    name TEXT NOT NULL,
    owner_id TEXT NOT NULL REFERENCES gh_users (id) ON DELETE CASCADE,
    query TEXT NOT NULL DEFAULT '',
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX gh_views_table_idx ON gh_views (table_name, owner_id);

CREATE TABLE gh_view_roles (
    view_id BIGINT NOT NULL REFERENCES gh_views (id) ON DELETE CASCADE,
    role_name TEXT NOT NULL REFERENCES gh_roles (name) ON DELETE CASCADE ON UPDATE CASCADE,
    PRIMARY KEY (view_id, role_name)
);
