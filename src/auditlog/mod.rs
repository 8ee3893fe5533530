//! `/audit`: every change, newest first, filterable by user, table, action and time.

use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::audit::{self as store, AuditFilter, Entry};
use crate::error::AppError;
use crate::identity::permissions::Access;
use crate::state::AppState;
use crate::web::page::{self, Layout, Page};

const PER_PAGE: i64 = 50;

#[derive(Deserialize, Default)]
pub struct AuditQuery {
    #[serde(default)]
    user: String,
    #[serde(default)]
    table: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    since: String,
    #[serde(default)]
    until: String,
    page: Option<i64>,
}

/// A typed "since"/"until" time, read in the operator's `zone` (a date alone is its
/// midnight there), as the UTC time the log stores.
fn parse_time(
    field: &str,
    raw: &str,
    zone: &jiff::tz::TimeZone,
) -> Result<Option<chrono::NaiveDateTime>, AppError> {
    if raw.trim().is_empty() {
        return Ok(None);
    }
    let local = chrono::NaiveDate::parse_from_str(raw.trim(), "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .or_else(|| {
            [
                "%Y-%m-%dT%H:%M",
                "%Y-%m-%dT%H:%M:%S",
                "%Y-%m-%d %H:%M:%S",
                "%Y-%m-%d %H:%M",
            ]
            .iter()
            .find_map(|f| chrono::NaiveDateTime::parse_from_str(raw.trim(), f).ok())
        });
    local
        .and_then(|naive| in_utc(naive, zone))
        .map(Some)
        .ok_or_else(|| {
            AppError::Invalid(format!(
                "'{raw}' is not a date for {field}; use YYYY-MM-DD."
            ))
        })
}

/// A local time in `zone` as UTC (in an hour a change of clocks skips or repeats, the
/// compatible choice: the later offset, the earlier instant).
fn in_utc(
    naive: chrono::NaiveDateTime,
    zone: &jiff::tz::TimeZone,
) -> Option<chrono::NaiveDateTime> {
    let civil: jiff::civil::DateTime =
        naive.format("%Y-%m-%dT%H:%M:%S").to_string().parse().ok()?;
    let moment = zone.to_ambiguous_timestamp(civil).compatible().ok()?;
    chrono::DateTime::from_timestamp(moment.as_second(), 0).map(|d| d.naive_utc())
}

pub struct EntryView {
    pub at: chrono::NaiveDateTime,
    pub who: String,
    /// Through what: "UI", "API token “name”", "import", "restore".
    pub via: String,
    pub action: String,
    pub table: String,
    pub link: Option<String>,
    pub key: String,
    pub changes: String,
}

#[derive(Template)]
#[template(path = "audit/index.html")]
struct AuditPage {
    layout: Layout,
    entries: Vec<EntryView>,
    user: String,
    table: String,
    action: String,
    since: String,
    until: String,
    actions: Vec<String>,
    prev_link: Option<String>,
    next_link: Option<String>,
    own_only: bool,
    export_link: String,
}

fn view(e: Entry) -> EntryView {
    let link = (e.action.starts_with("record.") && e.action != "record.deleted").then(|| {
        format!(
            "/data/{}/{}",
            crate::engine::keys::encode_part(&e.table_name),
            e.row_key
        )
    });
    EntryView {
        at: e.created_at,
        who: e.user_email,
        via: store::via_label(&e.via),
        action: e.action,
        table: e.table_name,
        link,
        key: e.row_key,
        changes: e.changes,
    }
}

impl AuditQuery {
    /// The filter this query asks for; operators outside the administration areas see only
    /// their own changes (the audit of others is an administration area).
    fn filter(&self, access: &Access, zone: &jiff::tz::TimeZone) -> Result<AuditFilter, AppError> {
        let own_only = !access.rights.admin_areas;
        Ok(AuditFilter {
            user: if own_only {
                Some(access.user.email.clone())
            } else {
                Some(self.user.clone()).filter(|s| !s.trim().is_empty())
            },
            table: Some(self.table.clone()).filter(|s| !s.is_empty()),
            action: Some(self.action.clone()).filter(|s| !s.is_empty()),
            row_key: None,
            since: parse_time("since", &self.since, zone)?,
            until: parse_time("until", &self.until, zone)?,
        })
    }

    /// The address of another page of the same filtered log.
    fn link(&self, page: i64) -> String {
        let mut s = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in [
            ("user", &self.user),
            ("table", &self.table),
            ("action", &self.action),
            ("since", &self.since),
            ("until", &self.until),
        ] {
            if !v.is_empty() {
                s.append_pair(k, v);
            }
        }
        s.append_pair("page", &page.to_string());
        format!("/audit?{}", s.finish())
    }
}

pub async fn index(
    access: Access,
    Page(layout): Page,
    state: web::Data<AppState>,
    q: web::Query<AuditQuery>,
) -> Result<HttpResponse, AppError> {
    let q = q.into_inner();
    let page_no = q.page.unwrap_or(1).max(1);
    let filter = q.filter(&access, &layout.settings.zone())?;
    let (mut entries, actions) = state
        .db
        .run(move |conn| {
            let offset = (page_no - 1) * PER_PAGE;
            Ok((
                store::list(conn, &filter, offset, PER_PAGE + 1)?,
                store::actions(conn)?,
            ))
        })
        .await?;
    let has_next = entries.len() as i64 > PER_PAGE;
    entries.truncate(PER_PAGE as usize);
    let redact = |mut e: Entry| {
        e.changes = access.rights.redact_changes(&e.table_name, &e.changes);
        view(e)
    };
    page::ok(&AuditPage {
        layout,
        entries: entries.into_iter().map(redact).collect(),
        own_only: !access.rights.admin_areas,
        export_link: q.link(1).replacen("/audit?", "/audit/export.csv?", 1),
        prev_link: (page_no > 1).then(|| q.link(page_no - 1)),
        next_link: has_next.then(|| q.link(page_no + 1)),
        actions,
        user: q.user,
        table: q.table,
        action: q.action,
        since: q.since,
        until: q.until,
    })
}

/// Entries read per statement for the CSV export.
const EXPORT_BATCH: i64 = 1_000;

/// `/audit/export.csv`: the entries the same filter shows, every page, as CSV (RFC 4180),
/// hidden columns redacted and spreadsheet formulas neutralised.
pub async fn export_csv(
    req: actix_web::HttpRequest,
    access: Access,
    state: web::Data<AppState>,
    q: web::Query<AuditQuery>,
) -> Result<HttpResponse, AppError> {
    let zone = page::zone(&req, &access.user.id).await?;
    let filter = q.into_inner().filter(&access, &zone)?;
    let entries = state
        .db
        .run(move |conn| {
            let mut all = Vec::new();
            loop {
                let batch = store::list(conn, &filter, all.len() as i64, EXPORT_BATCH)?;
                let done = (batch.len() as i64) < EXPORT_BATCH;
                all.extend(batch);
                if done {
                    return Ok(all);
                }
            }
        })
        .await?;
    let mut out = String::from("id,at,user,action,table,key,changes,via\r\n");
    for mut e in entries {
        e.changes = access.rights.redact_changes(&e.table_name, &e.changes);
        csv_line(&mut out, &e);
    }
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header(("Content-Disposition", "attachment; filename=\"audit.csv\""))
        .body(out))
}

fn csv_line(out: &mut String, e: &Entry) {
    let at = e.created_at.format("%Y-%m-%d %H:%M:%S").to_string();
    let via = store::via_label(&e.via);
    let cells = [
        &e.id,
        &at,
        &e.user_email,
        &e.action,
        &e.table_name,
        &e.row_key,
        &e.changes,
        &via,
    ];
    crate::engine::csvio::push_text_line(out, cells.iter());
}
