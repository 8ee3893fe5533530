DROP TABLE gh_audit;
