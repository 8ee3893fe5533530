-- SQL console statements running now, on any instance: the Postgres backend each runs on
-- (pid, and its start in microseconds since 1970 so a pid reused later is never taken for
-- it), so a cancel reaching another instance can pg_cancel_backend it. Unused on SQLite,
-- where one instance runs every statement.
CREATE TABLE gh_sql_runs (
    owner_id TEXT NOT NULL,
    run_id TEXT NOT NULL,
    backend_pid INTEGER NOT NULL,
    backend_start BIGINT NOT NULL,
    started_at TIMESTAMP NOT NULL,
    PRIMARY KEY (owner_id, run_id)
);
