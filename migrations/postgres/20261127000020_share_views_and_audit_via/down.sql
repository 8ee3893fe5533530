ALTER TABLE gh_audit DROP COLUMN via;
ALTER TABLE gh_roles DROP COLUMN share_views;
