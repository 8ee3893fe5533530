DROP TABLE gh_sql_query_roles;
DROP TABLE gh_sql_queries;
DROP TABLE gh_sql_history;
ALTER TABLE gh_roles DROP COLUMN write_sql;
ALTER TABLE gh_roles DROP COLUMN run_sql;
