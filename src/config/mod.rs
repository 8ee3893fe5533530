//! The one `Config` every part of Gatehouse reads: the settings flags with `GATEHOUSE_*`
//! environment twins (`settings.rs`), validated together so an operator sees every problem
//! at once. (The subcommands that carry them are in `cli::args`.)

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::ValueEnum;
use url::Url;

use crate::db::DatabaseUrl;

mod describe;
mod ops;
mod proxies;
mod secret_key;
mod settings;

pub use describe::short;
pub use ops::{BackupSchedule, MetricsConfig, MetricsToken};
use ops::{backup_settings, metrics_settings};
pub use proxies::TrustedProxies;
use secret_key::load_secret_key;
pub use secret_key::{KeySource, SecretKey};
pub use settings::Settings;

/// Minimum length of the secret key, in bytes (the session and CSRF MACs are keyed by it).
pub const MIN_SECRET_LEN: usize = 64;
/// File name of the generated secret key inside the data directory.
pub const KEY_FILE_NAME: &str = "secret.key";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub database: DatabaseUrl,
    /// The read replica, if any (Postgres).
    pub read_database: Option<DatabaseUrl>,
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    pub public_url: Url,
    pub trusted_proxies: TrustedProxies,
    pub secret_key: SecretKey,
    pub key_source: KeySource,
    pub session_idle_timeout: Duration,
    pub session_lifetime: Duration,
    /// How long SSO discovery documents and signing keys are cached.
    pub sso_metadata_max_age: Duration,
    pub pool_size: u32,
    pub sqlite_max_pages: Option<u64>,
    pub workers: usize,
    pub max_body_bytes: usize,
    pub import_max_bytes: u64,
    pub request_header_timeout: Duration,
    /// Zero: keep-alive off.
    pub keep_alive_timeout: Duration,
    pub disconnect_timeout: Duration,
    pub api_rate_limit: u32,
    pub webhook_allow_private: bool,
    pub webhook_retry_schedule: Vec<Duration>,
    pub webhook_disable_after: Duration,
    pub webhook_lease: Duration,
    /// None: audit entries are kept forever.
    pub audit_retention: Option<Duration>,
    /// The SQL console's statement timeout.
    pub sql_timeout: Duration,
    pub sse_max_clients: usize,
    pub sse_client_buffer: usize,
    pub log: String,
    pub log_format: LogFormat,
    /// `None`: metrics off.
    pub metrics: Option<MetricsConfig>,
    /// `None`: no scheduled backups.
    pub backup: Option<BackupSchedule>,
}

impl Config {
    /// Cookies are `Secure` exactly when operators reach Gatehouse over https.
    pub fn secure_cookies(&self) -> bool {
        self.public_url.scheme() == "https"
    }

    /// The origin (scheme://host[:port]) browsers send in `Origin` for our own pages.
    pub fn public_origin(&self) -> String {
        self.public_url.origin().ascii_serialization()
    }

    /// Validate the settings, reporting every problem at once. With `create_key` a missing
    /// key file in the data directory is generated (mode 0600); without, a placeholder key
    /// stands in so `check-config` changes nothing on disk.
    pub fn from_settings(s: &Settings, create_key: bool) -> Result<Config, ConfigErrors> {
        let mut errors = Vec::new();

        let database_url = s
            .database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", s.data_dir.join("gatehouse.db").display()));
        let database = DatabaseUrl::parse(&database_url)
            .map_err(|e| errors.push(format!("--database-url / GATEHOUSE_DATABASE_URL: {e}")))
            .ok();
        if let Some(DatabaseUrl::Sqlite(path)) = &database
            && let Some(dir) = std::path::Path::new(path).parent()
            && !dir.as_os_str().is_empty()
            && !path.starts_with("file:")
            && !dir.exists()
            && !dir.starts_with(&s.data_dir)
        {
            errors.push(format!(
                "--database-url / GATEHOUSE_DATABASE_URL: the directory {} does not exist; create it, or keep the database inside the data directory ({}), which Gatehouse creates",
                dir.display(),
                s.data_dir.display()
            ));
        }

        let read_database = read_database_setting(s, database.as_ref(), &mut errors);
        if s.sql_timeout.is_zero() {
            errors.push("--sql-timeout / GATEHOUSE_SQL_TIMEOUT: must be longer than 0s".into());
        }

        let listen = s
            .listen
            .parse::<SocketAddr>()
            .map_err(|_| {
                errors.push(format!(
                    "--listen / GATEHOUSE_LISTEN: '{}' is not an address such as 127.0.0.1:8080",
                    s.listen
                ))
            })
            .ok();

        let public_url = match (&s.public_url, listen) {
            (Some(raw), _) => match Url::parse(raw) {
                Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Some(u),
                _ => {
                    errors.push(format!(
                        "--public-url / GATEHOUSE_PUBLIC_URL: '{raw}' is not an http(s) URL such as https://admin.example.com"
                    ));
                    None
                }
            },
            (None, Some(addr)) => Url::parse(&format!("http://{addr}")).ok(),
            (None, None) => None,
        };

        let trusted_proxies = TrustedProxies::parse(s.trusted_proxies.as_deref().unwrap_or(""))
            .unwrap_or_else(|e| {
                errors.push(e);
                TrustedProxies::default()
            });

        if s.session_idle_timeout.is_zero() {
            errors.push("--session-idle-timeout must be longer than zero".into());
        }
        if s.session_lifetime < s.session_idle_timeout {
            errors.push(format!(
                "--session-lifetime ({}) must not be shorter than --session-idle-timeout ({})",
                humantime::format_duration(s.session_lifetime),
                humantime::format_duration(s.session_idle_timeout)
            ));
        }
        if s.pool_size == 0 || s.pool_size > 256 {
            errors.push("--pool-size must be between 1 and 256".into());
        }
        if s.sqlite_max_pages == Some(0) {
            errors
                .push("--sqlite-max-pages / GATEHOUSE_SQLITE_MAX_PAGES must be at least 1".into());
        }
        if s.sqlite_max_pages.is_some()
            && matches!(&database, Some(d) if d.backend() != crate::db::Backend::Sqlite)
        {
            errors.push(
                "--sqlite-max-pages / GATEHOUSE_SQLITE_MAX_PAGES applies to an SQLite database only"
                    .into(),
            );
        }
        if s.workers == Some(0) {
            errors.push("--workers must be at least 1".into());
        }
        let schedule: Option<Vec<Duration>> = s
            .webhook_retry_schedule
            .split(',')
            .map(|p| humantime::parse_duration(p.trim()).ok())
            .collect();
        if schedule.is_none() {
            errors.push(format!(
                "--webhook-retry-schedule: '{}' is not a comma-separated list of durations such as 5s,5m,30m",
                s.webhook_retry_schedule
            ));
        }
        if s.api_rate_limit == 0 {
            errors.push("--api-rate-limit must be at least 1".into());
        }
        if s.max_body_bytes < 1024 {
            errors.push("--max-body-bytes must be at least 1024".into());
        }
        if s.request_header_timeout.is_zero() {
            errors.push("--request-header-timeout must be longer than zero".into());
        }
        if s.disconnect_timeout.is_zero() {
            errors.push("--disconnect-timeout must be longer than zero".into());
        }
        if tracing_subscriber::EnvFilter::try_new(&s.log).is_err() {
            errors.push(format!(
                "--log / GATEHOUSE_LOG: '{}' is not a log filter",
                s.log
            ));
        }

        let metrics = metrics_settings(s, &mut errors);
        let backup = backup_settings(s, database.as_ref(), &mut errors);

        let key = load_secret_key(s, create_key)
            .map_err(|e| errors.push(e))
            .ok();

        match (database, listen, public_url, key) {
            (Some(database), Some(listen), Some(public_url), Some((secret_key, key_source)))
                if errors.is_empty() =>
            {
                Ok(Config {
                    database,
                    read_database,
                    data_dir: s.data_dir.clone(),
                    listen,
                    public_url,
                    trusted_proxies,
                    secret_key,
                    key_source,
                    session_idle_timeout: s.session_idle_timeout,
                    session_lifetime: s.session_lifetime,
                    sso_metadata_max_age: s.sso_metadata_max_age,
                    pool_size: s.pool_size,
                    sqlite_max_pages: s.sqlite_max_pages,
                    workers: s.workers.unwrap_or_else(|| {
                        std::thread::available_parallelism().map_or(2, |n| n.get())
                    }),
                    max_body_bytes: s.max_body_bytes,
                    import_max_bytes: s.import_max_bytes,
                    request_header_timeout: s.request_header_timeout,
                    keep_alive_timeout: s.keep_alive_timeout,
                    disconnect_timeout: s.disconnect_timeout,
                    api_rate_limit: s.api_rate_limit,
                    webhook_allow_private: s.webhook_allow_private,
                    webhook_retry_schedule: schedule.clone().unwrap_or_default(),
                    webhook_disable_after: s.webhook_disable_after,
                    webhook_lease: s.webhook_lease,
                    audit_retention: s.audit_retention.filter(|d| !d.is_zero()),
                    sql_timeout: s.sql_timeout,
                    sse_max_clients: s.sse_max_clients,
                    sse_client_buffer: s.sse_client_buffer.max(1),
                    log: s.log.clone(),
                    log_format: s.log_format,
                    metrics,
                    backup,
                })
            }
            _ => Err(ConfigErrors(errors)),
        }
    }
}

/// `--read-database-url`: a Postgres URL, beside a Postgres primary.
fn read_database_setting(
    s: &Settings,
    primary: Option<&DatabaseUrl>,
    errors: &mut Vec<String>,
) -> Option<DatabaseUrl> {
    let raw = s.read_database_url.as_deref()?;
    let flag = "--read-database-url / GATEHOUSE_READ_DATABASE_URL";
    match DatabaseUrl::parse(raw) {
        Ok(url @ DatabaseUrl::Postgres(_)) => match primary {
            Some(DatabaseUrl::Sqlite(_)) => {
                errors.push(format!(
                    "{flag}: a read replica needs a Postgres database; SQLite has none"
                ));
                None
            }
            _ => Some(url),
        },
        Ok(DatabaseUrl::Sqlite(_)) => {
            errors.push(format!("{flag}: a read replica must be a postgres:// URL"));
            None
        }
        Err(e) => {
            errors.push(format!("{flag}: {e}"));
            None
        }
    }
}

/// Every configuration problem found, one per line.
#[derive(Debug)]
pub struct ConfigErrors(pub Vec<String>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "invalid configuration:")?;
        for e in &self.0 {
            writeln!(f, "  - {e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}
