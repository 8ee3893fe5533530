DROP TABLE gh_password_resets;
DROP TABLE gh_role_tables;
DROP TABLE gh_roles;
