DROP TABLE gh_user_attributes;
DROP TABLE gh_role_rules;
