//! `gatehouse import`: a CSV file into a table, all or nothing, from the command line —
//! the same parsing, checks and single transaction as the import page, as the operator
//! `cli` in the audit log, with a progress line on a terminal.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::time::Instant;

use crate::audit::Actor;
use crate::catalog::CatalogCache;
use crate::config::Config;
use crate::db::{self, Db};
use crate::engine::csvio;
use crate::engine::store::{self, ImportError, Job, Mode, Plan};

pub fn run(
    config: Config,
    table: &str,
    file: &Path,
    mode: &str,
    key: Option<&str>,
) -> Result<(), String> {
    let mode = Mode::parse(mode)
        .ok_or_else(|| format!("--mode: '{mode}' is not one of insert, upsert, update"))?;
    db::migrate::run(&config.database)?;
    let db = Db::open(&config.database, 1, config.sqlite_max_pages)?;
    let mut conn = db.conn().map_err(|e| e.to_string())?;
    let catalog = CatalogCache::load(&mut conn)
        .and_then(|c| c.get(&mut conn))
        .map_err(|e| e.to_string())?;
    let target = catalog
        .table(table)
        .map_err(|_| format!("--table: there is no table named {table}"))?;
    let (mut reader, _) =
        csvio::open(file).map_err(|e| format!("--file: cannot read {}: {e}", file.display()))?;
    let headers = csvio::headers(&mut reader)?;
    let unknown = store::unknown_headers(&target, &headers);
    if !unknown.is_empty() {
        return Err(format!(
            "the file's columns {} are not columns of {table}",
            unknown.join(", ")
        ));
    }
    let sources = store::default_sources(&target, &headers);
    let plan = Plan::new(target, mode, key, sources, headers)?;
    let rejected_path = file.with_extension("rejected.csv");
    let mut rejected = tempfile::NamedTempFile::new_in(
        rejected_path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new(".")),
    )
    .map_err(|e| format!("cannot write the rejected rows next to the file: {e}"))?;
    let terminal = std::io::stderr().is_terminal();
    let started = Instant::now();
    let mut progress = |n: u64| {
        if terminal {
            eprint!("\r  {n} rows read…");
            let _ = std::io::stderr().flush();
        }
    };
    let actor = Actor {
        user_id: None,
        email: "cli".into(),
        via: crate::audit::Via::Import.code().into(),
    };
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let job = Job {
        catalog: &catalog,
        plan: &plan,
        actor: &actor,
        file_name: &name,
        rejected: Some(rejected.as_file_mut()),
        progress: Some(&mut progress),
    };
    let result = store::import(&mut conn, job, &mut reader);
    if terminal {
        eprint!("\r\x1b[K");
    }
    match result {
        Ok(out) => {
            let secs = started.elapsed().as_secs_f64();
            println!(
                "imported {} rows into {table} ({} inserted, {} updated) in {secs:.1} s, {:.0} rows/s",
                out.rows,
                out.inserted,
                out.updated,
                out.rows as f64 / secs.max(1e-9)
            );
            Ok(())
        }
        Err(ImportError::Rejected(out)) => {
            for p in &out.problems {
                eprintln!("{}", p.describe());
            }
            let kept = rejected.persist(&rejected_path).is_ok();
            Err(format!(
                "nothing was imported: {} problem(s) in {} row(s){}",
                out.problem_count,
                out.rejected_rows,
                if kept {
                    format!("; the rejected rows are in {}", rejected_path.display())
                } else {
                    String::new()
                }
            ))
        }
        Err(ImportError::App(e)) => Err(match e {
            crate::error::AppError::Invalid(m) => m,
            other => format!("nothing was imported: {other}"),
        }),
    }
}
