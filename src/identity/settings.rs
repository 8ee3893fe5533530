//! Per-operator display settings (`gh_user_settings`): the time zone timestamps are shown
//! in and the colour theme. Read on every page, so kept in a short-lived process cache:
//! a change on this instance shows at once, one made on another within a few seconds.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use diesel::prelude::*;

use crate::db::DbConn;
use crate::db::schema::gh_user_settings;
use crate::error::AppError;

/// The colour theme: follow the system, or always light or dark.
pub const THEMES: &[(&str, &str)] = &[
    ("system", "Follow the system"),
    ("light", "Light"),
    ("dark", "Dark"),
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// An IANA time zone name (`Europe/Paris`), `UTC` by default.
    pub time_zone: String,
    /// `system`, `light` or `dark`.
    pub theme: String,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            time_zone: "UTC".into(),
            theme: "system".into(),
        }
    }
}

impl Settings {
    /// Checked settings from a form: a known time zone and theme, or what is wrong.
    pub fn parse(time_zone: &str, theme: &str) -> Result<Settings, String> {
        let time_zone = time_zone.trim();
        if jiff::tz::db().get(time_zone).is_err() {
            return Err(format!("“{time_zone}” is not a known time zone."));
        }
        if !THEMES.iter().any(|(t, _)| *t == theme) {
            return Err(format!("“{theme}” is not a theme."));
        }
        Ok(Settings {
            time_zone: time_zone.to_string(),
            theme: theme.to_string(),
        })
    }

    /// The time zone to show timestamps in (UTC if the stored name is no longer known).
    pub fn zone(&self) -> jiff::tz::TimeZone {
        jiff::tz::db()
            .get(&self.time_zone)
            .unwrap_or(jiff::tz::TimeZone::UTC)
    }
}

/// Every time zone name the picker offers.
pub fn time_zones() -> Vec<String> {
    let mut names: Vec<String> = jiff::tz::db()
        .available()
        .map(|n| n.as_str().to_string())
        .filter(|n| n.contains('/') || n == "UTC")
        .collect();
    names.sort();
    names
}

#[derive(Queryable, Insertable)]
#[diesel(table_name = gh_user_settings)]
struct Stored {
    user_id: String,
    time_zone: String,
    theme: String,
    updated_at: chrono::NaiveDateTime,
}

/// The settings of `user_id` from the database (defaults when none were saved).
pub fn load(conn: &mut DbConn, user_id: &str) -> Result<Settings, AppError> {
    let found: Option<(String, String)> = gh_user_settings::table
        .find(user_id)
        .select((gh_user_settings::time_zone, gh_user_settings::theme))
        .first(conn)
        .optional()?;
    Ok(found
        .map(|(time_zone, theme)| Settings { time_zone, theme })
        .unwrap_or_default())
}

/// Save the settings of `user_id` (replacing what was there), and forget the cached copy.
pub fn save(conn: &mut DbConn, user_id: &str, settings: &Settings) -> Result<(), AppError> {
    conn.transaction::<_, AppError, _>(|conn| {
        diesel::delete(gh_user_settings::table.find(user_id)).execute(conn)?;
        diesel::insert_into(gh_user_settings::table)
            .values(Stored {
                user_id: user_id.to_string(),
                time_zone: settings.time_zone.clone(),
                theme: settings.theme.clone(),
                updated_at: crate::db::now(),
            })
            .execute(conn)?;
        Ok(())
    })?;
    forget(user_id);
    Ok(())
}

/// How long another instance's change may take to show here.
const FRESH_FOR: Duration = Duration::from_secs(5);

type Cache = Mutex<HashMap<String, (Instant, Arc<Settings>)>>;

/// Keyed by user id (UUIDv7, unique across databases), so one process-wide map is enough.
fn cache() -> &'static Cache {
    static CACHE: OnceLock<Cache> = OnceLock::new();
    CACHE.get_or_init(Default::default)
}

/// The cached settings of `user_id`, if fresh.
pub fn cached(user_id: &str) -> Option<Arc<Settings>> {
    let map = cache().lock().ok()?;
    map.get(user_id)
        .filter(|(at, _)| at.elapsed() < FRESH_FOR)
        .map(|(_, s)| s.clone())
}

pub fn remember(user_id: &str, settings: Settings) -> Arc<Settings> {
    let settings = Arc::new(settings);
    if let Ok(mut map) = cache().lock() {
        // Bounded: stale entries go when the map grows (one per operator, so rarely).
        if map.len() > 10_000 {
            map.retain(|_, (at, _)| at.elapsed() < FRESH_FOR);
        }
        map.insert(user_id.to_string(), (Instant::now(), settings.clone()));
    }
    settings
}

fn forget(user_id: &str) {
    if let Ok(mut map) = cache().lock() {
        map.remove(user_id);
    }
}
