//! CSV and JSON export of the current filtered, sorted view, streamed: a thread reads rows
//! one at a time and sends chunks through a bounded channel, so memory stays flat whatever
//! the table's size and a slow client slows the reader instead of filling memory.
//!
//! CSV is written by hand rather than with the `csv` crate because an export must tell
//! NULL (an empty field) from an empty string (`""`), which that crate cannot express.

use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, web};

use crate::catalog::CatalogCache;
use crate::catalog::Table;
use crate::data::routes::path_parts;
use crate::engine::query::ListQuery;
use crate::engine::sql::Sql;
use crate::engine::store::{backend_of, split_row};
use crate::error::AppError;
use crate::state::{AppState, app_data};

const CHUNK: usize = 64 * 1024;

/// Exports running now. Each holds a database connection for as long as its client reads,
/// so they are capped below the pool size: slow downloads cannot starve everyone else.
static RUNNING: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

struct Slot;

impl Slot {
    fn take(limit: usize) -> Option<Slot> {
        use std::sync::atomic::Ordering;
        let taken = RUNNING.fetch_add(1, Ordering::SeqCst);
        if taken >= limit {
            RUNNING.fetch_sub(1, Ordering::SeqCst);
            return None;
        }
        Some(Slot)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        RUNNING.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Format {
    Csv,
    Json,
}

pub async fn csv(
    req: HttpRequest,
    access: crate::identity::permissions::Access,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    export(req, access, state, Format::Csv).await
}

pub async fn json(
    req: HttpRequest,
    access: crate::identity::permissions::Access,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    export(req, access, state, Format::Json).await
}

/// A cell's text for CSV. Text that a spreadsheet would run as a formula (starting with
/// `=`, `+`, `-`, `@`, tab or carriage return) gets a leading `'`, as OWASP advises; numbers
/// stay numbers.
pub fn csv_text(value: &crate::engine::value::Value, kind: crate::catalog::Kind) -> Option<String> {
    let text = value.as_text()?;
    let textual = matches!(value, crate::engine::value::Value::Text(_))
        && !kind.is_numeric()
        && !kind.is_temporal();
    if textual && text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        Some(format!("'{text}"))
    } else {
        Some(text)
    }
}

/// One CSV field: quoted when it must be, `""` for an empty string, nothing for NULL.
pub fn csv_field(out: &mut String, value: Option<&str>) {
    match value {
        None => {}
        Some(s)
            if s.is_empty()
                || s.contains([',', '"', '\n', '\r'])
                || s.starts_with(' ')
                || s.ends_with(' ') =>
        {
            out.push('"');
            out.push_str(&s.replace('"', "\"\""));
            out.push('"');
        }
        Some(s) => out.push_str(s),
    }
}

fn csv_line(out: &mut String, fields: impl Iterator<Item = Option<String>>) {
    for (i, f) in fields.enumerate() {
        if i > 0 {
            out.push(',');
        }
        csv_field(out, f.as_deref());
    }
    out.push_str("\r\n");
}

async fn export(
    req: HttpRequest,
    access: crate::identity::permissions::Access,
    state: web::Data<AppState>,
    format: Format,
) -> Result<HttpResponse, AppError> {
    let catalog = app_data::<CatalogCache>(&req)?;
    let (name, _) = path_parts(&req)?;
    let qs = req.query_string().to_string();
    let cache = catalog.clone();
    let rights = access.rights.clone();
    // Validate before the first byte goes out: a bad filter is a 400, not a broken download.
    let (table, query) = state
        .db
        .run(move |conn| {
            let catalog = rights.catalog_view(&cache.get(conn)?);
            let table = catalog.table(&name)?;
            let query = ListQuery::parse(&qs, &table)?;
            Ok((table, query))
        })
        .await?;
    let limit = (state.config.pool_size as usize / 2).max(1);
    let slot = Slot::take(limit).ok_or_else(|| {
        AppError::TooManyRequests("Too many exports are running; try again in a moment.".into())
    })?;
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(8);
    let db = state.db.clone();
    let t = table.clone();
    std::thread::spawn(move || {
        let _slot = slot;
        let result = (|| -> Result<(), AppError> {
            let mut conn = db.conn()?;
            let mut sql = Sql::new(backend_of(&conn));
            sql.push("SELECT ")
                .select_list(&t)
                .push(" FROM ")
                .ident(&t.name);
            query.push_where(&mut sql, &t)?;
            query.push_order(&mut sql, &t);
            stream_rows(&mut conn, &sql, &t, format, &query, &tx)
        })();
        if let Err(e) = result {
            tracing::error!(error = %e, table = %t.name, "export failed");
            let _ = tx.blocking_send(Err(std::io::Error::other("export failed")));
        }
    });
    let body = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    let (content_type, ext) = match format {
        Format::Csv => ("text/csv; charset=utf-8", "csv"),
        Format::Json => ("application/json", "json"),
    };
    let filename: String = table
        .name
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    Ok(HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((
            "Content-Disposition",
            format!("attachment; filename=\"{filename}.{ext}\""),
        ))
        .streaming(body))
}

fn stream_rows(
    conn: &mut crate::db::DbConn,
    sql: &Sql,
    table: &Table,
    format: Format,
    query: &ListQuery,
    tx: &tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>,
) -> Result<(), AppError> {
    let columns: Vec<usize> = (0..table.columns.len())
        .filter(|i| !query.hidden.contains(&table.columns[*i].name))
        .collect();
    let mut buf = String::with_capacity(CHUNK * 2);
    let mut first = true;
    match format {
        Format::Csv => csv_line(
            &mut buf,
            columns.iter().map(|i| Some(table.columns[*i].name.clone())),
        ),
        Format::Json => buf.push('['),
    }
    let mut open = true;
    sql.for_each(conn, |values| {
        let row = split_row(table, values);
        match format {
            Format::Csv => csv_line(
                &mut buf,
                columns
                    .iter()
                    .map(|i| csv_text(&row.values[*i], table.columns[*i].kind)),
            ),
            Format::Json => {
                if !first {
                    buf.push(',');
                }
                let obj: serde_json::Map<String, serde_json::Value> = columns
                    .iter()
                    .map(|i| {
                        (
                            table.columns[*i].name.clone(),
                            row.values[*i].to_json(table.columns[*i].kind),
                        )
                    })
                    .collect();
                buf.push_str(&serde_json::Value::Object(obj).to_string());
            }
        }
        first = false;
        if buf.len() >= CHUNK {
            let chunk = Bytes::from(std::mem::replace(
                &mut buf,
                String::with_capacity(CHUNK * 2),
            ));
            // The client went away: stop reading.
            open = tx.blocking_send(Ok(chunk)).is_ok();
        }
        open
    })?;
    if format == Format::Json {
        buf.push(']');
    }
    if open && !buf.is_empty() {
        let _ = tx.blocking_send(Ok(Bytes::from(buf)));
    }
    Ok(())
}
