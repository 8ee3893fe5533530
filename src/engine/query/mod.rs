//! The list view's state, as the URL holds it: `q`, `sort`, `page`, `per_page`, `cols`,
//! `count` and `{column}__{op}` filters. Parsed strictly (unknown columns or operators are
//! a 400 with a message) and turned into WHERE / ORDER BY clauses with bound values
//! (`clauses`).

mod clauses;
mod cursor;

pub use cursor::{Cursor, keyset_capable};

pub use crate::catalog::rules::Op;
use crate::catalog::{Column, Kind, Table};
pub(crate) use crate::engine::query::clauses::{filter_condition, filter_condition_in};
use crate::engine::sql::Sql;
use crate::error::AppError;

pub const PAGE_SIZES: [u64; 4] = [25, 50, 100, 500];
pub const DEFAULT_PAGE_SIZE: u64 = 50;

#[derive(Debug, Clone)]
pub struct Filter {
    pub column: String,
    pub op: Op,
    pub raw: String,
}

#[derive(Debug, Clone)]
pub struct ListQuery {
    pub q: String,
    /// Column and descending?
    pub sort: Option<(String, bool)>,
    pub page: u64,
    pub per_page: u64,
    pub filters: Vec<Filter>,
    /// Columns the operator chose to hide.
    pub hidden: Vec<String>,
    /// The columns chosen to be shown (empty: all), as the URL carries them.
    pub shown: Vec<String>,
    pub exact_count: bool,
    /// Where a page reached by "Next" / "Previous" starts (then `page` is only a label).
    pub cursor: Option<Cursor>,
    /// The zone a filter's time typed without one is read in: the operator's on pages
    /// (a saved view is read in its viewer's), UTC in the API.
    pub zone: jiff::tz::TimeZone,
}

impl Default for ListQuery {
    fn default() -> Self {
        ListQuery {
            q: String::new(),
            sort: None,
            page: 1,
            per_page: DEFAULT_PAGE_SIZE,
            filters: Vec::new(),
            hidden: Vec::new(),
            shown: Vec::new(),
            exact_count: false,
            cursor: None,
            zone: jiff::tz::TimeZone::UTC,
        }
    }
}

impl ListQuery {
    /// Parse a query string against `table`'s columns, times in filters as UTC (the API).
    pub fn parse(query: &str, table: &Table) -> Result<ListQuery, AppError> {
        ListQuery::parse_in(query, table, &jiff::tz::TimeZone::UTC)
    }

    /// Parse a query string against `table`'s columns, times in filters typed without a
    /// zone read in `zone` (the operator's).
    pub fn parse_in(
        query: &str,
        table: &Table,
        zone: &jiff::tz::TimeZone,
    ) -> Result<ListQuery, AppError> {
        let mut lq = ListQuery {
            zone: zone.clone(),
            ..ListQuery::default()
        };
        let mut chosen: Vec<String> = Vec::new();
        let mut adding: (Option<String>, Option<String>, Option<String>) = (None, None, None);
        let mut cursor: Option<(String, bool)> = None;
        let bad = |m: String| AppError::Invalid(m);
        for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
            match key.as_ref() {
                "q" => lq.q = value.trim().to_string(),
                "sort" if value.is_empty() => {}
                "sort" => {
                    let (name, desc) = match value.strip_prefix('-') {
                        Some(n) => (n, true),
                        None => (value.as_ref(), false),
                    };
                    if table.column(name).is_none()
                        && !(name == "rowid" && table.key_columns() == ["rowid"])
                    {
                        return Err(bad(format!(
                            "Cannot sort by '{name}': {} has no such column.",
                            table.name
                        )));
                    }
                    lq.sort = Some((name.to_string(), desc));
                }
                "page" => {
                    lq.page = value
                        .parse::<u64>()
                        .ok()
                        .filter(|p| (1..=10_000_000).contains(p))
                        .ok_or_else(|| bad(format!("'{value}' is not a page number.")))?;
                }
                "per_page" => {
                    lq.per_page = value
                        .parse::<u64>()
                        .ok()
                        .filter(|n| PAGE_SIZES.contains(n))
                        .ok_or_else(|| {
                            bad(format!(
                                "Rows per page must be one of 25, 50, 100 or 500, not '{value}'."
                            ))
                        })?;
                }
                "cols" => {
                    // The columns to show; everything else is hidden.
                    let shown: Vec<&str> = value.split(',').filter(|s| !s.is_empty()).collect();
                    if let Some(unknown) = shown.iter().find(|n| table.column(n).is_none()) {
                        return Err(bad(format!("{} has no column '{unknown}'.", table.name)));
                    }
                    if !shown.is_empty() {
                        lq.shown = shown.iter().map(|s| s.to_string()).collect();
                        lq.hidden = table
                            .columns
                            .iter()
                            .map(|c| c.name.clone())
                            .filter(|n| !shown.contains(&n.as_str()))
                            .collect();
                    }
                }
                "count" => lq.exact_count = value == "exact",
                "after" | "before" if value.is_empty() => {}
                "after" | "before" => {
                    if cursor.is_some() {
                        return Err(bad(
                            "A page starts after one row or before one, not both.".into()
                        ));
                    }
                    cursor = Some((value.into_owned(), key == "before"));
                }
                "col" => chosen.push(value.into_owned()),
                "add_column" => adding.0 = Some(value.into_owned()),
                "add_op" => adding.1 = Some(value.into_owned()),
                "add_value" => adding.2 = Some(value.into_owned()),
                k => {
                    let Some((column, op)) = k.rsplit_once("__") else {
                        continue; // Not ours (htmx adds its own parameters); ignore.
                    };
                    let Some(col) = table.column(column) else {
                        return Err(bad(format!(
                            "Cannot filter on '{column}': {} has no such column.",
                            table.name
                        )));
                    };
                    let op = Op::parse(op).ok_or_else(|| {
                        bad(format!("'{op}' is not a filter; use one of eq, ne, lt, lte, gt, gte, contains, startswith, in, isnull."))
                    })?;
                    if value.is_empty() && op != Op::Eq && op != Op::Ne {
                        continue; // An empty filter box filters nothing.
                    }
                    if value.is_empty() && col.kind != Kind::Text && col.kind != Kind::Enum {
                        continue;
                    }
                    let filter = Filter {
                        column: column.to_string(),
                        op,
                        raw: value.into_owned(),
                    };
                    let mut check = Sql::new(crate::db::Backend::Sqlite);
                    filter_condition_in(&mut check, &filter, col, zone)?;
                    lq.filters.push(filter);
                }
            }
        }
        if !chosen.is_empty() {
            if let Some(unknown) = chosen.iter().find(|n| table.column(n).is_none()) {
                return Err(bad(format!("{} has no column '{unknown}'.", table.name)));
            }
            lq.hidden = table
                .columns
                .iter()
                .map(|c| c.name.clone())
                .filter(|n| !chosen.contains(n))
                .collect();
            lq.shown = chosen.clone();
        }
        // The filter builder's three fields become one `{column}__{op}` filter.
        if let (Some(column), Some(op), value) = adding
            && !column.is_empty()
        {
            let value = value.unwrap_or_default();
            if !(value.is_empty() && op != "isnull") {
                let pair = format!(
                    "{}={}",
                    url::form_urlencoded::byte_serialize(format!("{column}__{op}").as_bytes())
                        .collect::<String>(),
                    url::form_urlencoded::byte_serialize(value.as_bytes()).collect::<String>()
                );
                let extra = ListQuery::parse_in(&pair, table, zone)?;
                lq.filters.extend(extra.filters);
            }
        }
        if let Some((token, backward)) = cursor {
            lq.cursor = Some(lq.decode_cursor(table, &token, backward)?);
        }
        Ok(lq)
    }

    /// Whether the view is narrowed (so the planner's estimate does not apply).
    pub fn is_filtered(&self) -> bool {
        !self.q.is_empty() || !self.filters.is_empty()
    }

    /// Rows skipped before the page: none when a cursor says where it starts.
    pub fn offset(&self) -> u64 {
        if self.cursor.is_some() {
            0
        } else {
            (self.page - 1) * self.per_page
        }
    }

    /// This state as a query string, with some parameters replaced (for links). A new
    /// `page` drops the cursor: the page is then reached by number.
    pub fn to_query(&self, page: Option<u64>, sort: Option<&str>) -> String {
        let cursor = match (&self.cursor, page) {
            (Some(c), None) => Some((c.backward, c.token.as_str())),
            _ => None,
        };
        self.query_with(page, sort, cursor)
    }

    /// The link to page `page` that starts after (or, `backward`, before) a cursor.
    pub fn to_query_at(&self, page: u64, backward: bool, token: &str) -> String {
        self.query_with(Some(page), None, Some((backward, token)))
    }

    fn query_with(
        &self,
        page: Option<u64>,
        sort: Option<&str>,
        cursor: Option<(bool, &str)>,
    ) -> String {
        let mut s = url::form_urlencoded::Serializer::new(String::new());
        if !self.q.is_empty() {
            s.append_pair("q", &self.q);
        }
        match sort {
            Some(v) => {
                s.append_pair("sort", v);
            }
            None => {
                if let Some((c, desc)) = &self.sort {
                    s.append_pair("sort", &format!("{}{c}", if *desc { "-" } else { "" }));
                }
            }
        }
        for f in &self.filters {
            s.append_pair(&format!("{}__{}", f.column, f.op.name()), &f.raw);
        }
        if self.per_page != DEFAULT_PAGE_SIZE {
            s.append_pair("per_page", &self.per_page.to_string());
        }
        if !self.shown.is_empty() {
            s.append_pair("cols", &self.shown.join(","));
        }
        let page = page.unwrap_or(self.page);
        if page != 1 {
            s.append_pair("page", &page.to_string());
        }
        if let Some((backward, token)) = cursor {
            s.append_pair(if backward { "before" } else { "after" }, token);
        }
        s.finish()
    }
}

/// Columns the search box looks through.
pub fn searchable(c: &Column) -> bool {
    matches!(c.kind, Kind::Text | Kind::Enum)
}
