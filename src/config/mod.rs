//! The one `Config` every part of Gatehouse reads: the settings flags with `GATEHOUSE_*`
//! environment twins, validated together so an operator sees every problem at once. (The
//! subcommands that carry them are in `cli::args`.)

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};
use url::Url;

use crate::db::DatabaseUrl;

mod describe;
mod ops;
mod proxies;
mod secret_key;

pub use describe::short;
pub use ops::{BackupSchedule, MetricsConfig, MetricsToken};
use ops::{backup_settings, metrics_settings};
pub use proxies::TrustedProxies;
use secret_key::load_secret_key;
pub use secret_key::{KeySource, SecretKey};

/// Minimum length of the secret key, in bytes (the session and CSRF MACs are keyed by it).
pub const MIN_SECRET_LEN: usize = 64;
/// File name of the generated secret key inside the data directory.
pub const KEY_FILE_NAME: &str = "secret.key";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// The raw settings as given on the command line or in the environment.
#[derive(Debug, Clone, Args)]
pub struct Settings {
    /// Database URL: sqlite://PATH or postgres://USER@HOST:PORT/DB
    /// [default: sqlite://<data-dir>/gatehouse.db]
    #[arg(
        long,
        env = "GATEHOUSE_DATABASE_URL",
        global = true,
        hide_env_values = true
    )]
    pub database_url: Option<String>,

    /// Postgres only: a read replica (postgres://…) for lists, counts and exports; writes,
    /// sessions and a client's reads right after it wrote stay on the primary.
    #[arg(
        long,
        env = "GATEHOUSE_READ_DATABASE_URL",
        global = true,
        hide_env_values = true
    )]
    pub read_database_url: Option<String>,

    /// Directory for the embedded database and the generated secret key.
    #[arg(
        long,
        env = "GATEHOUSE_DATA_DIR",
        default_value = "gatehouse-data",
        global = true
    )]
    pub data_dir: PathBuf,

    /// Address and port to listen on.
    #[arg(
        long,
        env = "GATEHOUSE_LISTEN",
        default_value = "127.0.0.1:8080",
        global = true
    )]
    pub listen: String,

    /// URL operators use to reach Gatehouse; https makes cookies Secure
    /// [default: http://<listen>].
    #[arg(long, env = "GATEHOUSE_PUBLIC_URL", global = true)]
    pub public_url: Option<String>,

    /// Comma-separated addresses or CIDR blocks of reverse proxies whose Forwarded /
    /// X-Forwarded-For / X-Forwarded-Proto headers are believed [default: none].
    #[arg(long, env = "GATEHOUSE_TRUSTED_PROXIES", global = true)]
    pub trusted_proxies: Option<String>,

    /// Secret key (at least 64 bytes) for sessions and CSRF tokens
    /// [default: generated into <data-dir>/secret.key].
    #[arg(
        long,
        env = "GATEHOUSE_SECRET_KEY",
        global = true,
        hide_env_values = true
    )]
    pub secret_key: Option<String>,

    /// Read the secret key from this file instead.
    #[arg(
        long,
        env = "GATEHOUSE_SECRET_KEY_FILE",
        global = true,
        conflicts_with = "secret_key"
    )]
    pub secret_key_file: Option<PathBuf>,

    /// Sign-in sessions end after this long without a request.
    #[arg(long, env = "GATEHOUSE_SESSION_IDLE_TIMEOUT", default_value = "12h", value_parser = humantime::parse_duration, global = true)]
    pub session_idle_timeout: Duration,

    /// Sign-in sessions end this long after sign-in, however active.
    #[arg(long, env = "GATEHOUSE_SESSION_LIFETIME", default_value = "7d", value_parser = humantime::parse_duration, global = true)]
    pub session_lifetime: Duration,

    /// Largest number of database connections held open.
    #[arg(long, env = "GATEHOUSE_POOL_SIZE", default_value_t = 8, global = true)]
    pub pool_size: u32,

    /// SQLite only: the database file may not grow past this many pages (4 KiB each by
    /// default); a write that needs more is refused as on a full disk (503, nothing saved).
    /// A quota for the file, and how the disk-full behaviour is tested [default: no limit].
    #[arg(long, env = "GATEHOUSE_SQLITE_MAX_PAGES", global = true)]
    pub sqlite_max_pages: Option<u64>,

    /// HTTP worker threads [default: number of CPU cores].
    #[arg(long, env = "GATEHOUSE_WORKERS", global = true)]
    pub workers: Option<usize>,

    /// Largest accepted request body, in bytes (larger bodies get 413).
    #[arg(long, env = "GATEHOUSE_MAX_BODY_BYTES", default_value_t = 1024 * 1024, global = true)]
    pub max_body_bytes: usize,

    /// Largest CSV file an import accepts, in bytes (the page and the API; larger gets 413).
    /// Spooled to a temporary file, never held in memory.
    #[arg(long, env = "GATEHOUSE_IMPORT_MAX_BYTES", default_value_t = 50 * 1024 * 1024, global = true)]
    pub import_max_bytes: u64,

    /// A client must send a request's whole header within this long of connecting, else it
    /// gets 408 and the connection is closed (slow-header, "slowloris", clients).
    #[arg(long, env = "GATEHOUSE_REQUEST_HEADER_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration, global = true)]
    pub request_header_timeout: Duration,

    /// An idle keep-alive connection is closed after this long without a request (0s: no
    /// keep-alive, one request per connection).
    #[arg(long, env = "GATEHOUSE_KEEP_ALIVE_TIMEOUT", default_value = "15s", value_parser = humantime::parse_duration, global = true)]
    pub keep_alive_timeout: Duration,

    /// A connection being closed is dropped if the client has not finished the close within
    /// this long.
    #[arg(long, env = "GATEHOUSE_DISCONNECT_TIMEOUT", default_value = "2s", value_parser = humantime::parse_duration, global = true)]
    pub disconnect_timeout: Duration,

    /// API requests allowed per token per minute (more get 429 with Retry-After).
    #[arg(
        long,
        env = "GATEHOUSE_API_RATE_LIMIT",
        default_value_t = 600,
        global = true
    )]
    pub api_rate_limit: u32,

    /// Let webhooks reach loopback, private and link-local addresses (off: SSRF guard).
    #[arg(long, env = "GATEHOUSE_WEBHOOK_ALLOW_PRIVATE", global = true)]
    pub webhook_allow_private: bool,

    /// Waits between webhook delivery attempts, comma-separated.
    #[arg(
        long,
        env = "GATEHOUSE_WEBHOOK_RETRY_SCHEDULE",
        default_value = "5s,5m,30m,2h,5h,10h,10h",
        global = true
    )]
    pub webhook_retry_schedule: String,

    /// How long a worker holds an event it is delivering before another may retry it
    /// (after a crash); longer than the 10 s delivery timeout.
    #[arg(long, env = "GATEHOUSE_WEBHOOK_LEASE", default_value = "60s", value_parser = humantime::parse_duration, global = true)]
    pub webhook_lease: Duration,

    /// A webhook endpoint failing continuously this long is disabled.
    #[arg(long, env = "GATEHOUSE_WEBHOOK_DISABLE_AFTER", default_value = "5d", value_parser = humantime::parse_duration, global = true)]
    pub webhook_disable_after: Duration,

    /// Serve Prometheus metrics at /metrics (off by default; a token turns them on too).
    #[arg(long, env = "GATEHOUSE_METRICS", global = true)]
    pub metrics: bool,

    /// Bearer token /metrics requires (turns metrics on).
    #[arg(
        long,
        env = "GATEHOUSE_METRICS_TOKEN",
        global = true,
        hide_env_values = true
    )]
    pub metrics_token: Option<String>,

    /// Read the metrics bearer token from this file instead.
    #[arg(
        long,
        env = "GATEHOUSE_METRICS_TOKEN_FILE",
        global = true,
        conflicts_with = "metrics_token"
    )]
    pub metrics_token_file: Option<PathBuf>,

    /// Serve /metrics on this address only, not on the main listener [default: the main
    /// listener].
    #[arg(long, env = "GATEHOUSE_METRICS_LISTEN", global = true)]
    pub metrics_listen: Option<String>,

    /// SQLite only: `serve` writes a verified backup this often (e.g. 24h) [default: never].
    #[arg(long, env = "GATEHOUSE_BACKUP_EVERY", value_parser = humantime::parse_duration, global = true)]
    pub backup_every: Option<Duration>,

    /// How many scheduled backups to keep (the oldest are deleted).
    #[arg(
        long,
        env = "GATEHOUSE_BACKUP_KEEP",
        default_value_t = 7,
        global = true
    )]
    pub backup_keep: usize,

    /// Directory of the scheduled backups [default: <data-dir>/backups].
    #[arg(long, env = "GATEHOUSE_BACKUP_DIR", global = true)]
    pub backup_dir: Option<PathBuf>,

    /// Delete audit entries older than this (e.g. 400d), in small batches, hourly; unset:
    /// keep every entry forever.
    #[arg(long, env = "GATEHOUSE_AUDIT_RETENTION", value_parser = humantime::parse_duration, global = true)]
    pub audit_retention: Option<Duration>,

    /// The SQL console stops a statement that runs longer than this.
    #[arg(long, env = "GATEHOUSE_SQL_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration, global = true)]
    pub sql_timeout: Duration,

    /// Live-update streams (`/events`) served at once by this instance (more get 503).
    #[arg(
        long,
        env = "GATEHOUSE_SSE_MAX_CLIENTS",
        default_value_t = 1000,
        global = true
    )]
    pub sse_max_clients: usize,

    /// Change notices buffered per live-update stream; a client further behind is dropped
    /// (its browser reconnects and catches up).
    #[arg(
        long,
        env = "GATEHOUSE_SSE_CLIENT_BUFFER",
        default_value_t = 256,
        global = true
    )]
    pub sse_client_buffer: usize,

    /// Log filter, e.g. "info" or "gatehouse=debug,warn".
    #[arg(long, env = "GATEHOUSE_LOG", default_value = "info", global = true)]
    pub log: String,

    /// Log line format.
    #[arg(
        long,
        env = "GATEHOUSE_LOG_FORMAT",
        value_enum,
        default_value = "text",
        global = true
    )]
    pub log_format: LogFormat,
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
