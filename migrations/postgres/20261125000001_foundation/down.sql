DROP TABLE gh_settings;
DROP TABLE gh_login_failures;
DROP TABLE gh_sessions;
DROP TABLE gh_users;
