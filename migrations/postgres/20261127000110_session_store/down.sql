DELETE FROM gh_sessions WHERE user_id IS NULL;
ALTER TABLE gh_sessions DROP COLUMN data;
ALTER TABLE gh_sessions ALTER COLUMN user_id SET NOT NULL;
