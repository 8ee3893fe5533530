//! What `check-config` prints: the effective configuration, secrets masked, durations as
//! the operator writes them.

use std::time::Duration;

use super::*;

impl Config {
    /// The effective configuration as `check-config` prints it, secrets masked.
    pub fn describe(&self) -> String {
        let key = match &self.key_source {
            KeySource::Value => "******** (from --secret-key / GATEHOUSE_SECRET_KEY)".to_string(),
            KeySource::File(p) => format!("******** (from file {})", p.display()),
            KeySource::Generated(p) | KeySource::Created(p) => {
                format!("******** (key file {})", p.display())
            }
        };
        let mut rows = vec![
            ("database-url", self.database.masked()),
            ("data-dir", self.data_dir.display().to_string()),
            ("listen", self.listen.to_string()),
            ("public-url", self.public_url.to_string()),
            ("trusted-proxies", self.trusted_proxies.describe()),
            ("secure cookies", self.secure_cookies().to_string()),
            ("secret-key", key),
            ("session-idle-timeout", short(self.session_idle_timeout)),
            ("session-lifetime", short(self.session_lifetime)),
            ("sso-metadata-max-age", short(self.sso_metadata_max_age)),
            ("pool-size", self.pool_size.to_string()),
            (
                "sqlite-max-pages",
                self.sqlite_max_pages
                    .map_or_else(|| "no limit".to_string(), |n| n.to_string()),
            ),
            ("workers", self.workers.to_string()),
            ("max-body-bytes", self.max_body_bytes.to_string()),
            ("import-max-bytes", self.import_max_bytes.to_string()),
            ("request-header-timeout", short(self.request_header_timeout)),
            (
                "keep-alive-timeout",
                if self.keep_alive_timeout.is_zero() {
                    "0s (keep-alive off)".to_string()
                } else {
                    short(self.keep_alive_timeout)
                },
            ),
            ("disconnect-timeout", short(self.disconnect_timeout)),
            (
                "api-rate-limit",
                format!("{} per token per minute", self.api_rate_limit),
            ),
            (
                "webhook-allow-private",
                self.webhook_allow_private.to_string(),
            ),
            (
                "webhook-retry-schedule",
                self.webhook_retry_schedule
                    .iter()
                    .map(|d| short(*d))
                    .collect::<Vec<_>>()
                    .join(","),
            ),
            ("webhook-disable-after", short(self.webhook_disable_after)),
            ("webhook-lease", short(self.webhook_lease)),
            ("metrics", self.describe_metrics()),
            (
                "backup-every",
                self.backup.as_ref().map_or_else(
                    || "off".to_string(),
                    |b| {
                        format!(
                            "{} into {}, keeping {}",
                            short(b.every),
                            b.dir.display(),
                            b.keep
                        )
                    },
                ),
            ),
            (
                "audit-retention",
                self.audit_retention
                    .map_or_else(|| "keep forever".to_string(), short),
            ),
            ("sql-timeout", short(self.sql_timeout)),
            ("sse-max-clients", self.sse_max_clients.to_string()),
            ("log", self.log.clone()),
            (
                "log-format",
                format!("{:?}", self.log_format).to_lowercase(),
            ),
        ];
        if let Some(replica) = &self.read_database {
            rows.insert(1, ("read-database-url", replica.masked()));
        }
        rows.iter().map(|(k, v)| format!("{k:<22} {v}\n")).collect()
    }
}

/// A duration as an operator writes it: `7d`, `12h`, `30m`, `90s`, `250ms`.
pub fn short(d: Duration) -> String {
    let (secs, millis) = (d.as_secs(), d.subsec_millis());
    match secs {
        _ if millis != 0 || secs == 0 => format!("{}ms", d.as_millis()),
        s if s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s % 3_600 == 0 => format!("{}h", s / 3_600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}
