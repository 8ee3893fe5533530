//! The "chart" tab of a table (`/data/{table}/chart`): its rows, as the list's search and
//! filters select them, counted per value of a column (bars) or per day / week / month of
//! a date column (a line). The counts come from the engine's bounded aggregate, cached for
//! a few seconds per role and query; the chart is an accessible SVG with a data table.

use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;

use crate::catalog::Table;
use crate::dashboard::svg;
use crate::db::DbConn;
use crate::engine::aggregate::{
    AggregateCache, Bucket, Cached, ChartQuery, Grouping, ROW_CAP, Series, group_counts,
    groups_by_time, groups_by_value,
};
use crate::engine::keys::encode_part;
use crate::engine::store::thousands;
use crate::error::AppError;
use crate::identity::Access;
use crate::state::AppState;
use crate::web::csrf;
use crate::web::page::{self, Layout, Page};
use crate::web::table::VisibleTable;

/// A chart as the page shows it: the SVG and the same figures as a table.
pub struct ChartView {
    pub id: String,
    pub title: String,
    pub svg: String,
    /// The data table's value columns (one per series).
    pub series: Vec<String>,
    pub rows: Vec<(String, Vec<String>)>,
    /// Whether the figures are approximate, or cut to the largest groups.
    pub note: Option<String>,
    pub empty: bool,
}

impl ChartView {
    pub fn lines(
        id: &str,
        title: &str,
        desc: &str,
        labels: &[String],
        series: &[(String, Vec<i64>)],
    ) -> ChartView {
        let empty = series.iter().all(|(_, v)| v.iter().all(|n| *n == 0));
        let rows = labels
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let values = series.iter().map(|(_, v)| thousands(v[i])).collect();
                (l.clone(), values)
            })
            .collect();
        ChartView {
            id: id.to_string(),
            title: title.to_string(),
            svg: if empty {
                String::new()
            } else {
                svg::lines(id, title, desc, labels, series)
            },
            series: series.iter().map(|(n, _)| n.clone()).collect(),
            rows,
            note: None,
            empty,
        }
    }

    /// The chart of a table's counts.
    pub fn of_series(
        id: &str,
        title: &str,
        table: &Table,
        q: &ChartQuery,
        s: &Series,
    ) -> ChartView {
        let grouping = q.grouping.as_ref();
        let desc = match grouping {
            Some(Grouping::Values(c)) => format!(
                "{} rows of {} counted per value of {c}.",
                thousands(s.total),
                table.name
            ),
            Some(Grouping::Time(c, b)) => format!(
                "{} rows of {} counted per {} of {c}.",
                thousands(s.total),
                table.name,
                b.name()
            ),
            None => String::new(),
        };
        let mut view = match grouping {
            Some(Grouping::Values(_)) => ChartView {
                id: id.to_string(),
                title: title.to_string(),
                svg: svg::bars(id, title, &desc, &s.points),
                series: vec!["rows".into()],
                rows: Vec::new(),
                note: None,
                empty: false,
            },
            _ => {
                let labels: Vec<String> = s.points.iter().map(|(l, _)| l.clone()).collect();
                let values = vec![("rows".to_string(), s.points.iter().map(|p| p.1).collect())];
                ChartView::lines(id, title, &desc, &labels, &values)
            }
        };
        view.rows = s
            .points
            .iter()
            .map(|(l, n)| (l.clone(), vec![thousands(*n)]))
            .collect();
        view.empty = s.points.is_empty();
        if view.empty {
            view.svg.clear();
        }
        view.note = match (s.approximate, s.more_groups) {
            (true, _) => Some(format!(
                "Approximate: counted over the first {} matching rows only.",
                thousands(ROW_CAP)
            )),
            (false, true) => Some("Only the largest groups (or latest periods) are shown.".into()),
            _ => None,
        };
        view
    }
}

/// The cache key of a table chart for a role.
/// Per role, and under a row rule per bound rule (two operators of one role may see
/// different rows: `$me`); per time zone (its days, and the times its filters name).
fn key(role: &str, table: &Table, q: &ChartQuery) -> String {
    format!(
        "chart:{role}:{}\u{0}{}\u{0}{}\u{0}{}",
        table.name,
        q.to_query(),
        crate::engine::rules::scope_key(table),
        q.list.zone.iana_name().unwrap_or("UTC")
    )
}

/// The counts of a chart, from the cache or the database (on the caller's connection).
pub fn series_on(
    conn: &mut DbConn,
    cache: &AggregateCache,
    role: &str,
    table: &Table,
    q: &ChartQuery,
) -> Result<Arc<Series>, AppError> {
    let key = key(role, table, q);
    match cache.lookup::<Series>(&key) {
        Cached::Fresh(s) | Cached::Stale(s) => Ok(s),
        Cached::Miss => match group_counts(conn, table, q) {
            Ok(s) => {
                let s = Arc::new(s);
                cache.put(key, s.clone());
                Ok(s)
            }
            Err(e) => {
                cache.release(&key);
                Err(e)
            }
        },
    }
}

/// The counts of a chart, from the cache without a trip to the database when it can.
async fn series(
    state: &AppState,
    cache: &web::Data<AggregateCache>,
    role: &str,
    table: &Arc<Table>,
    q: &ChartQuery,
) -> Result<Arc<Series>, AppError> {
    if let Cached::Fresh(s) = cache.lookup::<Series>(&key(role, table, q)) {
        return Ok(s);
    }
    let (cache, role, table, q) = (cache.clone(), role.to_string(), table.clone(), q.clone());
    state
        .db
        .read(move |conn| series_on(conn, &cache, &role, &table, &q))
        .await
}

/// A column the chart may group by, as the form offers it.
pub struct ColumnChoice {
    pub name: String,
    pub time: bool,
    pub selected: bool,
}

#[derive(Template)]
#[template(path = "dashboard/chart.html")]
pub struct ChartPage {
    pub layout: Layout,
    pub table: String,
    pub path: String,
    /// The list's query (search and filters), for the link back and the hidden fields.
    pub list_query: String,
    pub list_fields: Vec<(String, String)>,
    pub choices: Vec<ColumnChoice>,
    pub every: &'static str,
    pub buckets: [&'static str; 3],
    pub chart: Option<ChartView>,
    pub chart_query: String,
    pub default_title: String,
    pub may_pin_for_everyone: bool,
    pub csrf: String,
}

pub async fn show(
    req: HttpRequest,
    access: Access,
    Page(layout): Page,
    state: web::Data<AppState>,
    cache: web::Data<AggregateCache>,
) -> Result<HttpResponse, AppError> {
    let VisibleTable { table, .. } = VisibleTable::of(&req, &access.rights).await?;
    let q = ChartQuery::parse_in(req.query_string(), &table, &layout.settings.zone())?;
    let counted = match q.grouping {
        Some(_) => Some(series(&state, &cache, &access.rights.role, &table, &q).await?),
        None => None,
    };
    let page = chart_page(
        layout,
        &table,
        &q,
        counted.as_deref(),
        &access,
        csrf::token(&req),
    );
    page::ok(&page)
}

fn chart_page(
    layout: Layout,
    table: &Table,
    q: &ChartQuery,
    counted: Option<&Series>,
    access: &Access,
    csrf: String,
) -> ChartPage {
    let chosen = q.grouping.as_ref().map(|g| g.column().to_string());
    let default_title = match &q.grouping {
        Some(Grouping::Values(c)) => format!("{} by {c}", table.name),
        Some(Grouping::Time(c, b)) => format!("{} per {} of {c}", table.name, b.name()),
        None => table.name.clone(),
    };
    let list_query = q.list.to_query(Some(1), None);
    ChartPage {
        layout,
        table: table.name.clone(),
        path: format!("/data/{}", encode_part(&table.name)),
        list_fields: url::form_urlencoded::parse(list_query.as_bytes())
            .into_owned()
            .collect(),
        list_query,
        choices: table
            .columns
            .iter()
            .filter(|c| groups_by_value(c) || groups_by_time(c))
            .map(|c| ColumnChoice {
                name: c.name.clone(),
                time: groups_by_time(c),
                selected: chosen.as_deref() == Some(c.name.as_str()),
            })
            .collect(),
        every: match &q.grouping {
            Some(Grouping::Time(_, b)) => b.name(),
            _ => Bucket::Day.name(),
        },
        buckets: Bucket::ALL.map(Bucket::name),
        chart: counted.map(|s| ChartView::of_series("chart", &default_title, table, q, s)),
        chart_query: q.to_query(),
        default_title,
        may_pin_for_everyone: access.rights.admin_areas,
        csrf,
    }
}
