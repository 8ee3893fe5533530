-- Row rules: per role, table and action (read, create, update, delete), a rule in the list
-- filters' language kept as JSON ({"all": [lines], "any": [lines]}); allow_move_out lets an
-- update take a row out of the update rule. Operator attributes ('region' = 'EU') are what
-- a rule's $me.<key> values read.
CREATE TABLE gh_role_rules (
    role TEXT NOT NULL REFERENCES gh_roles (name) ON DELETE CASCADE,
    table_name TEXT NOT NULL,
    action TEXT NOT NULL CHECK (action IN ('read', 'create', 'update', 'delete')),
    rule TEXT NOT NULL,
    allow_move_out BOOLEAN NOT NULL DEFAULT 0,
    PRIMARY KEY (role, table_name, action)
);
CREATE TABLE gh_user_attributes (
    user_id TEXT NOT NULL REFERENCES gh_users (id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (user_id, key)
);
