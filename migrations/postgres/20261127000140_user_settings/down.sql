DROP TABLE gh_user_settings;
