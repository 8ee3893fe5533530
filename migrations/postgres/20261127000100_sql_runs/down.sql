DROP TABLE gh_sql_runs;
