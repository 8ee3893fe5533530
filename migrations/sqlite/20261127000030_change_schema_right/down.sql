ALTER TABLE gh_roles DROP COLUMN change_schema;
