DROP TABLE gh_sso_roles;
DROP TABLE gh_identities;
DROP TABLE gh_sso_providers;
