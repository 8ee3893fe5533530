//! Gatehouse's own migrations, embedded per backend and applied under a lock so that two
//! instances starting together on one Postgres never race.

use diesel::prelude::*;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::db::{DatabaseUrl, DbConn};

pub const SQLITE: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
pub const POSTGRES: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// Arbitrary, fixed key of the Postgres advisory lock that serialises migrations.
const MIGRATION_LOCK_KEY: i64 = 0x6761_7465_686f_7573; // "gatehous"

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, thiserror::Error)]
enum MigrateError {
    #[error("{0}")]
    Db(#[from] diesel::result::Error),
    #[error("{0}")]
    Migration(BoxError),
}

/// Apply pending migrations and return the names of those applied.
pub fn run(url: &DatabaseUrl) -> Result<Vec<String>, String> {
    let mut conn = url.connect()?;
    let applied = match &mut conn {
        // SQLite: nothing pending needs no write (so a read-only file still starts and
        // serves reads); else one IMMEDIATE transaction holds the write lock for the whole
        // run, and diesel turns each migration's own transaction into a savepoint inside it.
        DbConn::Sqlite(c) => match c.has_pending_migration(SQLITE) {
            Ok(false) => Ok(Vec::new()),
            _ => c.immediate_transaction(|c| apply(c, SQLITE)),
        },
        // Postgres: DDL is transactional, so one transaction with a transaction-scoped
        // advisory lock makes a second instance wait, then find nothing pending.
        DbConn::Postgres(c) => c.transaction(|c| {
            diesel::sql_query(format!(
                "SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})"
            ))
            .execute(c)?;
            apply(c, POSTGRES)
        }),
    };
    applied.map_err(|e| format!("migration failed: {e}"))
}

fn apply<C>(conn: &mut C, source: EmbeddedMigrations) -> Result<Vec<String>, MigrateError>
where
    C: MigrationHarness<C::Backend> + Connection,
{
    let done = conn
        .run_pending_migrations(source)
        .map_err(MigrateError::Migration)?;
    Ok(done.iter().map(|v| v.to_string()).collect())
}
