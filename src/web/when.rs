//! Times as pages show them to an operator: relative to the moment of the page ("3 h
//! ago"), the exact time in the operator's time zone in a tooltip, and the instant for
//! machines — `<time datetime="…" title="…">3 h ago</time>`. Every slice shows its
//! timestamps through here, so the zone set on /account holds everywhere.

use std::fmt;
use std::sync::Arc;

use actix_web::{HttpMessage, HttpRequest};
use chrono::NaiveDateTime;

use crate::engine::timestamp;
use crate::identity::settings::Settings;

/// What times are shown against: the operator's zone and the moment of the page.
pub struct Presenter {
    pub zone: jiff::tz::TimeZone,
    pub now: jiff::Timestamp,
}

/// One time, ready for a page (its `Display` is the `<time>` element).
pub struct When {
    /// ISO 8601 with the zone's offset.
    pub datetime: String,
    /// `YYYY-MM-DD HH:MM:SS` and the zone's abbreviation.
    pub exact: String,
    /// "3 h ago", "in 2 d", "just now"; beyond a month, the date.
    pub relative: String,
}

impl Presenter {
    pub fn new(zone: jiff::tz::TimeZone) -> Presenter {
        Presenter {
            zone,
            now: jiff::Timestamp::now(),
        }
    }

    /// In the zone of the operator the request is from (UTC before sign-in).
    pub fn of(req: &HttpRequest) -> Presenter {
        let settings = req.extensions().get::<Arc<Settings>>().cloned();
        Presenter::new(settings.unwrap_or_default().zone())
    }

    /// A moment.
    pub fn moment(&self, moment: jiff::Timestamp) -> When {
        let zoned = moment.to_zoned(self.zone.clone());
        When {
            datetime: iso(&zoned),
            exact: zoned.strftime("%Y-%m-%d %H:%M:%S %Z").to_string(),
            relative: relative(moment, self),
        }
    }

    /// One of Gatehouse's own times (UTC).
    pub fn at(&self, at: impl Utc) -> When {
        let seconds = at.utc().and_utc().timestamp();
        self.moment(jiff::Timestamp::from_second(seconds).unwrap_or(jiff::Timestamp::UNIX_EPOCH))
    }

    /// A time as a table stores it (with an offset, or plain and so UTC).
    pub fn stored(&self, text: &str) -> Option<When> {
        timestamp::instant(text).map(|m| self.moment(m))
    }
}

/// One of Gatehouse's own times (UTC), however many references a template holds it behind.
pub trait Utc {
    fn utc(&self) -> NaiveDateTime;
}

impl Utc for NaiveDateTime {
    fn utc(&self) -> NaiveDateTime {
        *self
    }
}

impl<T: Utc + ?Sized> Utc for &T {
    fn utc(&self) -> NaiveDateTime {
        (**self).utc()
    }
}

impl fmt::Display for When {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Every part is made here from numbers and a zone's abbreviation: nothing to escape.
        write!(
            f,
            "<time datetime=\"{}\" title=\"{}\">{}</time>",
            self.datetime, self.exact, self.relative
        )
    }
}

/// "3 h ago", "in 2 d", "just now"; beyond a month, the date in the operator's zone.
pub fn relative(moment: jiff::Timestamp, at: &Presenter) -> String {
    let seconds = at.now.as_second() - moment.as_second();
    let ahead = seconds < 0;
    let s = seconds.unsigned_abs();
    let amount = match s {
        0..45 => return "just now".into(),
        45..5_400 => format!("{} min", (s + 30) / 60),
        5_400..129_600 => format!("{} h", (s + 1_800) / 3_600),
        129_600..2_592_000 => format!("{} d", (s + 43_200) / 86_400),
        _ => {
            let z = moment.to_zoned(at.zone.clone());
            if (0..=9999).contains(&z.year()) {
                return format!("{:04}-{:02}-{:02}", z.year(), z.month(), z.day());
            }
            return z.strftime("%Y-%m-%d").to_string();
        }
    };
    if ahead {
        format!("in {amount}")
    } else {
        format!("{amount} ago")
    }
}

/// `%Y-%m-%dT%H:%M:%S%:z`, written without parsing a format for each of a page's cells
/// (years 0–9999 and offsets of whole minutes; anything else by `strftime`).
fn iso(z: &jiff::Zoned) -> String {
    let offset = z.offset().seconds();
    if !(0..=9999).contains(&z.year()) || offset % 60 != 0 {
        return z.strftime("%Y-%m-%dT%H:%M:%S%:z").to_string();
    }
    let (sign, minutes) = if offset < 0 {
        ('-', -offset / 60)
    } else {
        ('+', offset / 60)
    };
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}{sign}{:02}:{:02}",
        z.year(),
        z.month(),
        z.day(),
        z.hour(),
        z.minute(),
        z.second(),
        minutes / 60,
        minutes % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_written_times_match_strftime() {
        let zones = [
            jiff::tz::TimeZone::UTC,
            jiff::tz::TimeZone::fixed(jiff::tz::offset(5)),
            jiff::tz::TimeZone::fixed(
                jiff::tz::Offset::from_seconds(-(3 * 3600 + 30 * 60)).unwrap(),
            ),
            jiff::tz::TimeZone::fixed(jiff::tz::Offset::from_seconds(5 * 3600 + 45 * 60).unwrap()),
            jiff::tz::TimeZone::fixed(jiff::tz::Offset::from_seconds(-61).unwrap()),
        ];
        for zone in zones {
            for second in [0, 1_700_000_000, -86_400 * 365 * 40, 253_402_300_000] {
                let Ok(t) = jiff::Timestamp::from_second(second) else {
                    continue;
                };
                let z = t.to_zoned(zone.clone());
                assert_eq!(iso(&z), z.strftime("%Y-%m-%dT%H:%M:%S%:z").to_string());
                let at = Presenter {
                    zone: zone.clone(),
                    now: t
                        .checked_add(jiff::SignedDuration::from_hours(24 * 400))
                        .unwrap_or(t),
                };
                if at.now != t {
                    assert_eq!(relative(t, &at), z.strftime("%Y-%m-%d").to_string());
                }
            }
        }
    }
}
