DROP TABLE gh_view_roles;
DROP TABLE gh_views;
