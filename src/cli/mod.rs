//! The subcommands: serve (default), migrate, user create / reset-password, check-config,
//! backup, transfer, import, sso allow-passwords.

pub mod args;
mod import;
mod sso;

use std::io::BufRead;
use std::process::ExitCode;

use crate::cli::args::{Cli, Command, UserCommand};
use crate::config::{Config, KeySource, LogFormat};
use crate::db::{self, Db, now};
use crate::identity::users::{self as users, CreateUserError, NewUser};
use crate::identity::{password, sessions as auth_store};

pub fn run(cli: Cli) -> ExitCode {
    let command = cli.command.unwrap_or(Command::Serve);
    let create_key = !matches!(
        command,
        Command::CheckConfig { .. } | Command::Backup { .. } | Command::Transfer { .. }
    );
    let config = match Config::from_settings(&cli.settings, create_key) {
        Ok(c) => c,
        Err(errors) => {
            eprint!("{errors}");
            return ExitCode::from(2);
        }
    };
    init_logging(&config);
    if let KeySource::Created(path) = &config.key_source {
        tracing::info!(
            "generated a secret key at {} (keep it: it signs sessions and seals secrets)",
            path.display()
        );
    }
    let result = match command {
        Command::Serve => serve(config),
        Command::Migrate => db::migrate::run(&config.database).map(|applied| {
            if applied.is_empty() {
                println!("no pending migrations");
            }
            for name in applied {
                println!("applied {name}");
            }
        }),
        Command::CheckConfig { connect } => check_config(&config, connect),
        Command::User(cmd) => user(config, cmd),
        Command::Sso(cmd) => sso::run(config, cmd),
        Command::Demo { orders, force } => demo(config, orders, force),
        Command::Backup { to, force } => backup(&config, &to, force),
        Command::Import {
            table,
            file,
            mode,
            key,
        } => import::run(config, &table, &file, &mode, key.as_deref()),
        Command::Transfer { from, to, force } => transfer(&from, &to, force),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        // Colour only for a person at a terminal: never into a pipe, a file or journald.
        .with_ansi(
            std::io::IsTerminal::is_terminal(&std::io::stderr())
                && std::env::var_os("NO_COLOR").is_none(),
        )
        .with_writer(std::io::stderr);
    let _ = match config.log_format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// How long a stopping process waits for the workers' deliveries in hand (a webhook
/// delivery times out after 10 s).
const WORKERS_FINISH_WITHIN: std::time::Duration = std::time::Duration::from_secs(15);

fn serve(config: Config) -> Result<(), String> {
    actix_web::rt::System::new().block_on(async move {
        // Bind first: a second instance on a taken port stops here, before it migrates or
        // prints a setup link that would point at the other instance.
        let listener = std::net::TcpListener::bind(config.listen)
            .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
        let state = crate::prepare(config)?;
        let running = crate::start(state, Some(listener))?;
        tracing::info!(
            addr = %running.addr,
            database = %running.state.config.database.masked(),
            version = env!("CARGO_PKG_VERSION"),
            "Gatehouse is listening on {}",
            running.state.config.public_url
        );
        let lifecycle = running.state.lifecycle.clone();
        // SIGTERM (or SIGINT): actix stops accepting and finishes the requests in flight
        // (up to its shutdown timeout); then the workers finish what they hold.
        running
            .server
            .await
            .map_err(|e| format!("server failed: {e}"))?;
        tracing::info!("no longer serving; letting background work finish");
        if !lifecycle.stop(WORKERS_FINISH_WITHIN).await {
            tracing::warn!(
                "background work still unfinished after {} s: leaving it to the next start",
                WORKERS_FINISH_WITHIN.as_secs()
            );
        }
        tracing::info!("stopped");
        Ok(())
    })
}

fn demo(config: Config, orders: u64, force: bool) -> Result<(), String> {
    db::migrate::run(&config.database)?;
    let db = Db::open(&config.database, 1, config.sqlite_max_pages)?;
    let mut conn = db.conn().map_err(|e| e.to_string())?;
    let existing: Vec<String> = crate::catalog::CatalogCache::load(&mut conn)
        .and_then(|c| c.get(&mut conn))
        .map_err(|e| e.to_string())?
        .tables
        .keys()
        .cloned()
        .collect();
    let started = std::time::Instant::now();
    let s = crate::data::demo::load(&mut conn, orders, force, &existing)?;
    println!(
        "demo shop loaded in {:.1} s: {} customers, {} products, {} orders, {} order items",
        started.elapsed().as_secs_f64(),
        s.customers,
        s.products,
        s.orders,
        s.items
    );
    Ok(())
}

fn backup(config: &Config, to: &std::path::Path, force: bool) -> Result<(), String> {
    if config.database.backend() == db::Backend::Postgres {
        return Err(crate::ops::backup::postgres_advice(
            &config.database,
            Some(to),
        ));
    }
    let terminal = std::io::IsTerminal::is_terminal(&std::io::stdout());
    println!(
        "backing up {} to {}",
        config.database.masked(),
        to.display()
    );
    let report = crate::ops::backup::sqlite(&config.database, to, force, &mut |step| {
        if terminal {
            println!("  … {step}");
        } else {
            println!("{step}");
        }
    })?;
    println!(
        "backup written to {}: {:.1} MiB, {} tables, integrity ok, in {:.1} s",
        report.path.display(),
        report.bytes as f64 / (1024.0 * 1024.0),
        report.tables,
        report.took.as_secs_f64()
    );
    Ok(())
}

fn transfer(from: &str, to: &str, force: bool) -> Result<(), String> {
    let from = db::DatabaseUrl::parse(from).map_err(|e| format!("--from: {e}"))?;
    let to = db::DatabaseUrl::parse(to).map_err(|e| format!("--to: {e}"))?;
    println!(
        "copying Gatehouse's state from {} to {}",
        from.masked(),
        to.masked()
    );
    let summary = crate::ops::transfer::run(&from, &to, force)?;
    for (table, rows) in &summary {
        println!("  {table:<22} {rows} row(s)");
    }
    println!(
        "done; sessions were not copied (operators sign in again). Start the target with the same secret key: sealed secrets (webhook signing keys, SMTP password, two-factor secrets) need it."
    );
    Ok(())
}

fn check_config(config: &Config, connect: bool) -> Result<(), String> {
    print!("{}", config.describe());
    println!("configuration is valid");
    if connect {
        if let db::DatabaseUrl::Sqlite(path) = &config.database
            && !std::path::Path::new(path).exists()
        {
            println!("database file {path} does not exist yet: it is created at the first start");
            return Ok(());
        }
        config.database.connect()?;
        println!("database answers: {}", config.database.masked());
    }
    Ok(())
}

fn read_password() -> Result<String, String> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| format!("cannot read the password from standard input: {e}"))?;
    let password = line.trim_end_matches(['\n', '\r']).to_string();
    if password.is_empty() {
        return Err(
            "no password on standard input (pipe it in: echo \"$PASSWORD\" | gatehouse user …)"
                .into(),
        );
    }
    password::check_strength(&password, &[]).map_err(|m| format!("password refused: {m}"))?;
    Ok(password)
}

fn user(config: Config, cmd: UserCommand) -> Result<(), String> {
    db::migrate::run(&config.database)?;
    let db = Db::open(&config.database, 1, config.sqlite_max_pages)?;
    let mut conn = db.conn().map_err(|e| e.to_string())?;
    match cmd {
        UserCommand::Create {
            email,
            name,
            admin,
            role,
            password_stdin: _,
        } => {
            users::check_email(email.trim()).map_err(|m| format!("--email: {m}"))?;
            if name.trim().is_empty() {
                return Err("--name must not be empty".into());
            }
            let hash = password::hash(&read_password()?)?;
            let role = if admin { "admin" } else { role.as_str() };
            let new = NewUser {
                email: &email,
                display_name: &name,
                password_hash: &hash,
                role,
            };
            let user = db::write_tx(&mut conn, |conn| {
                let user = users::insert(conn, new, now())?;
                auth_store::clear_setup_token(conn)?;
                Ok::<_, CreateUserError>(user)
            })
            .map_err(|e| match e {
                CreateUserError::EmailTaken => format!(
                    "an operator with the email {} already exists",
                    users::normalize_email(&email)
                ),
                CreateUserError::Db(e) => format!("database: {e}"),
            })?;
            println!(
                "created {} ({}) with role {}",
                user.email, user.id, user.role
            );
        }
        UserCommand::ResetPassword {
            email,
            password_stdin: _,
        } => {
            let user = users::find_by_email(&mut conn, &email)
                .map_err(|e| format!("database: {e}"))?
                .ok_or_else(|| {
                    format!(
                        "no operator has the email {}",
                        users::normalize_email(&email)
                    )
                })?;
            let hash = password::hash(&read_password()?)?;
            let ended = db::write_tx(&mut conn, |conn| {
                users::set_password(conn, &user.id, &hash, now())?;
                auth_store::delete_user_sessions(conn, &user.id)
            })
            .map_err(|e: diesel::result::Error| format!("database: {e}"))?;
            println!(
                "password changed for {}; {ended} session(s) ended",
                user.email
            );
        }
    }
    Ok(())
}
