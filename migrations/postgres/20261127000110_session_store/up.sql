-- Sessions through actix-session: a session may exist before anyone signs in (it carries a
-- flash message across a redirect), so the operator is optional, and the session's other
-- entries (the flash message) are kept as JSON in `data`.
ALTER TABLE gh_sessions ALTER COLUMN user_id DROP NOT NULL;
ALTER TABLE gh_sessions ADD COLUMN data TEXT NOT NULL DEFAULT '{}';
