-- A role may share saved views with roles ("share views"); administrators always may.
ALTER TABLE gh_roles ADD COLUMN share_views BOOLEAN NOT NULL DEFAULT 0;
UPDATE gh_roles SET share_views = 1 WHERE name = 'admin';
-- Through what a change was made: 'ui', 'api:<token name>', 'import', 'restore'
-- ('' for entries written before this was recorded).
ALTER TABLE gh_audit ADD COLUMN via TEXT NOT NULL DEFAULT '';
