//! The raw settings: every flag of the command line with its `GATEHOUSE_*` environment
//! twin and default, as clap reads them; `Config` validates them (see `mod.rs`).

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::LogFormat;

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

    /// How long an SSO provider's discovery document and signing keys are used before they
    /// are fetched again (an unknown key id fetches the keys at once anyway).
    #[arg(long, env = "GATEHOUSE_SSO_METADATA_MAX_AGE", default_value = "1h", value_parser = humantime::parse_duration, global = true)]
    pub sso_metadata_max_age: Duration,

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
