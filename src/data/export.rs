//! CSV and JSON export of the current filtered, sorted view, streamed: a thread reads rows
//! one at a time and sends chunks through a bounded channel, so memory stays flat whatever
//! the table's size and a slow client slows the reader instead of filling memory.
//!
//! CSV fields are written by `engine::csvio` (shared with the audit export and an import's
//! rejected rows), which tells NULL (an empty field) from an empty string (`""`).
//! `Writer` is the one writer of both formats; bulk export of a selection uses it too.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder, web};
use tokio::sync::mpsc::Sender;

use crate::catalog::{Kind, Table};
use crate::db::Db;
use crate::engine::csvio;
use crate::engine::query::ListQuery;
use crate::engine::store::{self, Row};
use crate::engine::value::Value;
use crate::error::AppError;
use crate::identity::permissions::Access;
use crate::state::AppState;
use crate::web::saved;
use crate::web::table::VisibleTable;

const CHUNK: usize = 64 * 1024;

/// Exports running now. Each holds a database connection for as long as its client reads,
/// so they are capped below the pool size: slow downloads cannot starve everyone else.
static RUNNING: AtomicUsize = AtomicUsize::new(0);

struct Slot;

impl Slot {
    fn take(limit: usize) -> Option<Slot> {
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
        RUNNING.fetch_sub(1, Ordering::SeqCst);
    }
}

#[derive(Clone, Copy, PartialEq)]
pub enum Format {
    Csv,
    Json,
}

pub async fn csv(
    req: HttpRequest,
    access: Access,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    export(req, access, state, Format::Csv).await
}

pub async fn json(
    req: HttpRequest,
    access: Access,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    export(req, access, state, Format::Json).await
}

/// A cell's text for CSV: text a spreadsheet would run as a formula is neutralised
/// (`csvio::formula_safe`); numbers and dates stay as they are.
fn csv_text(value: &Value, kind: Kind) -> Option<String> {
    let text = value.as_text()?;
    let textual = matches!(value, Value::Text(_)) && !kind.is_numeric() && !kind.is_temporal();
    if textual {
        Some(csvio::formula_safe(&text).into_owned())
    } else {
        Some(text)
    }
}

/// Rows of one table written as CSV or as a JSON array, over the columns not hidden.
pub struct Writer<'a> {
    format: Format,
    table: &'a Table,
    columns: Vec<usize>,
    first: bool,
}

impl<'a> Writer<'a> {
    pub fn new(format: Format, table: &'a Table, hidden: &[String]) -> Writer<'a> {
        let columns = (0..table.columns.len())
            .filter(|i| !hidden.contains(&table.columns[*i].name))
            .collect();
        Writer {
            format,
            table,
            columns,
            first: true,
        }
    }

    /// The CSV header line, or the opening bracket.
    pub fn begin(&self, out: &mut String) {
        match self.format {
            Format::Csv => csvio::push_line(
                out,
                self.columns
                    .iter()
                    .map(|i| Some(self.table.columns[*i].name.clone())),
            ),
            Format::Json => out.push('['),
        }
    }

    pub fn row(&mut self, out: &mut String, row: &Row) {
        let columns = self
            .columns
            .iter()
            .map(|i| (&self.table.columns[*i], &row.values[*i]));
        match self.format {
            Format::Csv => csvio::push_line(out, columns.map(|(c, v)| csv_text(v, c.kind))),
            Format::Json => {
                if !self.first {
                    out.push(',');
                }
                let obj: serde_json::Map<String, serde_json::Value> = columns
                    .map(|(c, v)| (c.name.clone(), v.to_json(c.kind)))
                    .collect();
                out.push_str(&serde_json::Value::Object(obj).to_string());
            }
        }
        self.first = false;
    }

    pub fn end(&self, out: &mut String) {
        if self.format == Format::Json {
            out.push(']');
        }
    }
}

/// A response that downloads as `filename`.
pub fn attachment(content_type: &str, filename: &str) -> HttpResponseBuilder {
    let mut res = HttpResponse::Ok();
    res.content_type(content_type).insert_header((
        "Content-Disposition",
        format!("attachment; filename=\"{filename}\""),
    ));
    res
}

async fn export(
    req: HttpRequest,
    access: Access,
    state: web::Data<AppState>,
    format: Format,
) -> Result<HttpResponse, AppError> {
    let visible = VisibleTable::of(&req, &access.rights).await?;
    // Validate before the first byte goes out: a bad filter is a 400, not a broken download.
    let opened = saved::open(&state, &access, &visible.table, req.query_string()).await?;
    let zone = crate::web::page::zone(&req, &access.user.id).await?;
    let query = ListQuery::parse_in(&opened.query, &visible.table, &zone)?;
    let limit = (state.config.pool_size as usize / 2).max(1);
    let slot = Slot::take(limit).ok_or_else(|| {
        AppError::TooManyRequests("Too many exports are running; try again in a moment.".into())
    })?;
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(8);
    spawn_reader(
        state.db.for_request(),
        visible.table.clone(),
        query,
        format,
        slot,
        tx,
    );
    let body = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    let (content_type, ext) = match format {
        Format::Csv => ("text/csv; charset=utf-8", "csv"),
        Format::Json => ("application/json", "json"),
    };
    let filename: String = visible
        .table
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
    Ok(attachment(content_type, &format!("{filename}.{ext}")).streaming(body))
}

/// The reading thread: it holds the export slot and one connection until the last row is
/// sent or the client goes away.
fn spawn_reader(
    db: Db,
    table: Arc<Table>,
    query: ListQuery,
    format: Format,
    slot: Slot,
    tx: Sender<Result<Bytes, std::io::Error>>,
) {
    std::thread::spawn(move || {
        let _slot = slot;
        let result = db
            .read_conn()
            .and_then(|mut conn| stream_rows(&mut conn, &table, format, &query, &tx));
        if let Err(e) = result {
            tracing::error!(error = %e, table = %table.name, "export failed");
            let _ = tx.blocking_send(Err(std::io::Error::other("export failed")));
        }
    });
}

fn stream_rows(
    conn: &mut crate::db::DbConn,
    table: &Table,
    format: Format,
    query: &ListQuery,
    tx: &Sender<Result<Bytes, std::io::Error>>,
) -> Result<(), AppError> {
    let mut writer = Writer::new(format, table, &query.hidden);
    let mut buf = String::with_capacity(CHUNK * 2);
    writer.begin(&mut buf);
    let mut open = true;
    store::for_each_row(conn, table, query, |row| {
        writer.row(&mut buf, &row);
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
    writer.end(&mut buf);
    if open && !buf.is_empty() {
        let _ = tx.blocking_send(Ok(Bytes::from(buf)));
    }
    Ok(())
}
