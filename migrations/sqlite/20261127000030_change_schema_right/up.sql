-- The "change schema" right of a role (the schema builder); administrators always have it.
ALTER TABLE gh_roles ADD COLUMN change_schema BOOLEAN NOT NULL DEFAULT 0;
UPDATE gh_roles SET change_schema = 1 WHERE name = 'admin';
