-- The "change schema" right of a role (the schema builder); administrators always have it.
ALTER TABLE gh_roles ADD COLUMN change_schema BOOLEAN NOT NULL DEFAULT FALSE;
UPDATE gh_roles SET change_schema = TRUE WHERE name = 'admin';
