//! What the dashboard shows, gathered once per role every few seconds: table sizes
//! (estimates or bounded counts), changes from the audit log, live operators, and for
//! administrators the webhook, mail and sign-in figures. Everything is filtered to the
//! tables the role may read before it is cached under the role's name.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use askama::Template;

use crate::catalog::Catalog;
use crate::catalog::rules::Action;
use crate::dashboard::chart::ChartView;
use crate::dashboard::store::{self, FailingEndpoint, SignInFailure};
use crate::db::{DbConn, now};
use crate::engine::aggregate::{AggregateCache, Cached};
use crate::engine::query::ListQuery;
use crate::engine::store::{Count, CountCache, count_cached, count_label, thousands};
use crate::engine::zoned::Calendar;
use crate::error::AppError;
use crate::web::when::Presenter;

/// Days of changes charted.
const CHANGE_DAYS: i64 = 30;
/// Tables drawn as their own line in the changes chart; the rest are summed as "other".
const CHART_TABLES: usize = 5;

pub struct TableCard {
    pub name: String,
    pub path: String,
    pub rows: String,
}

pub struct Summary {
    pub tables: Vec<TableCard>,
    pub total_rows: String,
    pub changes_today: String,
    pub changes_week: String,
    pub active_operators: String,
    pub changes_chart: ChartView,
    pub admin: Option<AdminSummary>,
}

pub struct AdminSummary {
    pub attempts: String,
    pub success_rate: String,
    pub p95: String,
    pub failing: Vec<FailingEndpoint>,
    pub mail_pending: String,
    pub mail_failed: String,
    pub sign_in_failures: String,
    pub recent_failures: Vec<SignInFailure>,
    pub deliveries_chart: ChartView,
    /// Row rules that fail closed (they name a column that is gone).
    pub broken_rules: Vec<String>,
}

/// The cache key of a role's summary, rendered in a time zone.
pub fn key(role: &str, admin: bool, zone: &jiff::tz::TimeZone) -> String {
    format!(
        "dashboard:{role}:{admin}:{}",
        zone.iana_name().unwrap_or("UTC")
    )
}

/// A role's summary as HTML, rendered once when gathered: a page view only inserts it
/// (its charts' data tables are most of the page's markup).
pub struct Rendered {
    /// The cards at the top.
    pub cards: String,
    /// The charts and tables below the pinned charts.
    pub sections: String,
}

#[derive(Template)]
#[template(path = "dashboard/_cards.html")]
struct Cards<'a> {
    summary: &'a Summary,
}

#[derive(Template)]
#[template(path = "dashboard/_sections.html")]
struct Sections<'a> {
    summary: &'a Summary,
    /// The operator's zone (the cache key names it).
    zone: &'a Presenter,
}

pub fn render(summary: &Summary, zone: &Presenter) -> Result<Rendered, AppError> {
    Ok(Rendered {
        cards: Cards { summary }.render().map_err(AppError::caused_by)?,
        sections: Sections { summary, zone }
            .render()
            .map_err(AppError::caused_by)?,
    })
}

/// The summary from the cache, if it is fresh (or being refreshed by another request).
pub fn cached(cache: &AggregateCache, key: &str) -> Option<Arc<Rendered>> {
    match cache.lookup::<Rendered>(key) {
        Cached::Fresh(s) | Cached::Stale(s) => Some(s),
        Cached::Miss => None,
    }
}

/// Gather the summary for a role that sees `catalog`.
pub fn gather(
    conn: &mut DbConn,
    catalog: &Catalog,
    counts: &CountCache,
    admin: bool,
    zone: &jiff::tz::TimeZone,
) -> Result<Summary, AppError> {
    let (tables, total) = table_cards(conn, catalog, counts)?;
    // The operator's days: "today" began at their midnight (a day may be 23 or 25 hours).
    let now = jiff::Timestamp::from_second(now().and_utc().timestamp())
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    let calendar = Calendar::of(zone, now, CHANGE_DAYS);
    let changes = store::changes_per_day(conn, zone, &calendar, now)?;
    let readable: Vec<_> = changes
        .into_iter()
        // Under a read rule the audit log's count of a table's changes would reveal changes
        // to rows outside the rule: such tables are left out of the changes figures.
        .filter(|c| {
            catalog
                .tables
                .get(&c.table)
                .is_some_and(|t| t.scope(Action::Read).is_none())
        })
        .collect();
    let today = calendar.days.last().cloned().unwrap_or_default();
    let week = calendar.week.clone();
    let sum = |from: &str| -> i64 {
        readable
            .iter()
            .filter(|c| c.day.as_str() >= from)
            .map(|c| c.count)
            .sum()
    };
    Ok(Summary {
        tables,
        total_rows: total,
        changes_today: thousands(sum(&today)),
        changes_week: thousands(sum(&week)),
        active_operators: thousands(store::active_operators(conn)?),
        changes_chart: changes_chart(&readable, &calendar.days),
        admin: if admin {
            Some(admin_summary(conn, catalog, zone)?)
        } else {
            None
        },
    })
}

fn table_cards(
    conn: &mut DbConn,
    catalog: &Catalog,
    counts: &CountCache,
) -> Result<(Vec<TableCard>, String), AppError> {
    let everything = ListQuery::default();
    let (mut total, mut inexact) = (0i64, false);
    let mut cards = Vec::new();
    for t in catalog.tables.values().filter(|t| !t.is_view) {
        let count = count_cached(conn, t, &everything, Some(counts))?;
        let n = match count {
            Count::Exact(n) => n,
            Count::AtLeast(n) | Count::About(n) => {
                inexact = true;
                n
            }
        };
        total += n;
        cards.push(TableCard {
            name: t.name.clone(),
            path: format!("/data/{}", crate::engine::keys::encode_part(&t.name)),
            rows: count_label(count),
        });
    }
    let total = if inexact {
        format!("~{}", thousands(total))
    } else {
        thousands(total)
    };
    Ok((cards, total))
}

fn changes_chart(changes: &[store::DayChanges], days: &[String]) -> ChartView {
    let mut per_table: BTreeMap<&str, i64> = BTreeMap::new();
    for c in changes {
        *per_table.entry(&c.table).or_default() += c.count;
    }
    let mut ranked: Vec<(&str, i64)> = per_table.into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let named: BTreeSet<&str> = ranked.iter().take(CHART_TABLES).map(|(t, _)| *t).collect();
    let mut names: Vec<String> = ranked
        .iter()
        .take(CHART_TABLES)
        .map(|(t, _)| t.to_string())
        .collect();
    if ranked.len() > CHART_TABLES {
        names.push("other tables".into());
    }
    let mut series: Vec<(String, Vec<i64>)> = names
        .iter()
        .map(|n| (n.clone(), vec![0; days.len()]))
        .collect();
    for c in changes {
        let Some(d) = days.iter().position(|d| *d == c.day) else {
            continue;
        };
        let s = if named.contains(c.table.as_str()) {
            names.iter().position(|n| *n == c.table)
        } else {
            Some(names.len() - 1)
        };
        if let Some(s) = s {
            series[s].1[d] += c.count;
        }
    }
    let short: Vec<String> = days.iter().map(|d| d[5..].to_string()).collect();
    let total: i64 = changes.iter().map(|c| c.count).sum();
    ChartView::lines(
        "changes",
        "Changes per day, last 30 days",
        &format!(
            "{} changes to the tables you may read over the last 30 days, one line per table.",
            thousands(total)
        ),
        &short,
        &series,
    )
}

fn admin_summary(
    conn: &mut DbConn,
    catalog: &Catalog,
    zone: &jiff::tz::TimeZone,
) -> Result<AdminSummary, AppError> {
    let broken_rules = crate::identity::row_rules::broken_rules(conn, catalog)?;
    let d = store::deliveries(conn)?;
    let (pending, failed) = store::mail_queue(conn)?;
    let (failures, recent) = store::sign_in_failures(conn)?;
    let success_rate = if d.attempts == 0 {
        "—".to_string()
    } else {
        format!("{:.1} %", d.succeeded as f64 * 100.0 / d.attempts as f64)
    };
    let labels: Vec<String> = d
        .hours
        .iter()
        .map(|(h, _, _)| hour_label(h, zone))
        .collect();
    let series = vec![
        (
            "succeeded".to_string(),
            d.hours.iter().map(|h| h.1).collect(),
        ),
        ("failed".to_string(), d.hours.iter().map(|h| h.2).collect()),
    ];
    let chart = ChartView::lines(
        "deliveries",
        "Webhook deliveries per hour, last 24 hours",
        &format!(
            "{} attempts in the last 24 hours, {} succeeded; one line for successes, one for failures.",
            thousands(d.attempts),
            thousands(d.succeeded)
        ),
        &labels,
        &series,
    );
    Ok(AdminSummary {
        broken_rules,
        attempts: thousands(d.attempts),
        success_rate,
        p95: d.p95_ms.map_or("—".into(), |ms| format!("{ms} ms")),
        failing: store::failing_endpoints(conn)?,
        mail_pending: thousands(pending),
        mail_failed: thousands(failed),
        sign_in_failures: thousands(failures),
        recent_failures: recent,
        deliveries_chart: chart,
    })
}

/// A UTC hour bucket ("2026-11-27 13") as the time it began in the operator's zone
/// ("18:30" in Kolkata); the bucket's own text when it does not read as an hour.
fn hour_label(hour: &str, zone: &jiff::tz::TimeZone) -> String {
    let start = hour
        .get(..10)
        .zip(hour.get(11..13))
        .and_then(|(day, h)| format!("{day}T{h}:00:00Z").parse::<jiff::Timestamp>().ok());
    match start {
        Some(t) => t.to_zoned(zone.clone()).strftime("%H:%M").to_string(),
        None => hour.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::hour_label;

    #[test]
    fn delivery_hours_are_labelled_in_the_operators_zone() {
        let kolkata = jiff::tz::db().get("Asia/Kolkata").unwrap();
        assert_eq!(hour_label("2026-11-27 13", &kolkata), "18:30");
        assert_eq!(
            hour_label("2026-11-27 13", &jiff::tz::TimeZone::UTC),
            "13:00"
        );
        assert_eq!(hour_label("odd", &kolkata), "odd");
    }
}
