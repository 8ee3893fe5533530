//! The list page: a table's rows as cells, with sorting links, filter chips and controls,
//! column choice, paging and the count.

use askama::Template;

use crate::catalog::{Kind, Table};
use crate::data::views::cells::{Cell, Presenter, Shown, cell};
use crate::data::views::table_path;
use crate::engine::query::{ListQuery, Op, PAGE_SIZES};
use crate::engine::saved::{self, SavedView};
use crate::engine::store::{Count, ListPage, Row, count_label};
use crate::web::page::Layout;

pub struct ListRow {
    /// The key as it appears in URLs (for the bulk selection).
    pub key: String,
    pub key_path: String,
    pub cells: Vec<Cell>,
}

pub struct Header {
    pub name: String,
    pub link: String,
    pub sorted: &'static str,
    pub numeric: bool,
    /// The column type's icon (`sprite#symbol`).
    pub icon: String,
}

pub struct Chip {
    pub label: String,
    pub remove_link: String,
}

/// One column's controls in the filter panel, chosen by its type.
pub struct FilterField {
    pub column: String,
    /// `enum`, `bool`, `range` or `text`.
    pub widget: &'static str,
    pub input_type: &'static str,
    pub options: Vec<String>,
    pub value: String,
    pub from: String,
    pub to: String,
    pub nullable: bool,
    pub null_value: String,
}

/// A filter the panel does not show a control for, carried along unchanged.
pub struct HiddenFilter {
    pub name: String,
    pub value: String,
}

fn filter_fields(table: &Table, q: &ListQuery) -> (Vec<FilterField>, Vec<HiddenFilter>) {
    let current = |col: &str, op: Op| {
        q.filters
            .iter()
            .find(|f| f.column == col && f.op == op)
            .map(|f| f.raw.clone())
            .unwrap_or_default()
    };
    let mut shown_ops: Vec<(String, Op)> = Vec::new();
    let fields = table
        .columns
        .iter()
        .filter(|c| {
            !matches!(
                c.kind,
                Kind::Bytes | Kind::Unknown | Kind::Json | Kind::Array
            )
        })
        .map(|c| {
            let (widget, input_type, ops): (&'static str, &'static str, Vec<Op>) = match c.kind {
                Kind::Enum => ("enum", "", vec![Op::In]),
                Kind::Bool => ("bool", "", vec![Op::Eq]),
                k if k.is_numeric() => ("range", "number", vec![Op::Gte, Op::Lte]),
                Kind::Date => ("range", "date", vec![Op::Gte, Op::Lte]),
                Kind::DateTime | Kind::DateTimeTz => {
                    ("range", "datetime-local", vec![Op::Gte, Op::Lte])
                }
                Kind::Time => ("range", "time", vec![Op::Gte, Op::Lte]),
                _ => ("text", "text", vec![Op::Contains]),
            };
            for op in &ops {
                shown_ops.push((c.name.clone(), *op));
            }
            if c.nullable {
                shown_ops.push((c.name.clone(), Op::IsNull));
            }
            FilterField {
                column: c.name.clone(),
                widget,
                input_type,
                options: c.enum_values.clone(),
                value: current(&c.name, ops[0]),
                from: current(&c.name, Op::Gte),
                to: current(&c.name, Op::Lte),
                nullable: c.nullable,
                null_value: current(&c.name, Op::IsNull),
            }
        })
        .collect();
    let hidden = q
        .filters
        .iter()
        .filter(|f| {
            !shown_ops
                .iter()
                .any(|(c, op)| *c == f.column && *op == f.op)
        })
        .map(|f| HiddenFilter {
            name: format!("{}__{}", f.column, f.op.name()),
            value: f.raw.clone(),
        })
        .collect();
    (fields, hidden)
}

pub struct ColumnChoice {
    pub name: String,
    pub shown: bool,
}

pub struct ListView {
    pub csrf: String,
    /// What the operator may do with this table's rows.
    pub actions: crate::identity::permissions::Actions,
    pub table: String,
    pub path: String,
    pub query: String,
    pub q: String,
    pub headers: Vec<Header>,
    pub rows: Vec<ListRow>,
    pub count: String,
    pub count_is_exact: bool,
    pub exact_link: String,
    pub page: u64,
    pub prev_link: Option<String>,
    pub next_link: Option<String>,
    pub per_page: u64,
    pub page_sizes: Vec<(u64, String)>,
    pub chips: Vec<Chip>,
    pub columns: Vec<ColumnChoice>,
    pub sort: String,
    pub read_only: Option<&'static str>,
    /// A table (not a view): the schema builder can change it.
    pub is_table: bool,
    pub can_search: bool,
    pub filter_fields: Vec<FilterField>,
    /// Filters carried by the panel as hidden fields (ones it has no control for).
    pub other_filters: Vec<HiddenFilter>,
    /// Every current filter, carried by the search box.
    pub all_filters: Vec<HiddenFilter>,
    pub shown_cols: String,
    /// The saved view the list is open with: its links and forms carry `view=ID`.
    pub view_id: Option<i64>,
}

/// "Next" starts after the last row shown and "Previous" ends before the first (keyset
/// pagination: a deep page costs what the first does); the first page is reached by its
/// plain address, and a table without a key pages by number.
fn pager_link(q: &ListQuery, page: &ListPage, next: bool) -> Option<String> {
    let (wanted, cursor) = if next {
        (page.has_next, &page.next_cursor)
    } else {
        (page.has_prev, &page.prev_cursor)
    };
    if !wanted {
        return None;
    }
    let to = if next {
        q.page + 1
    } else {
        q.page.saturating_sub(1).max(1)
    };
    Some(match cursor {
        Some(token) if to > 1 => q.to_query_at(to, !next, token),
        _ => q.to_query(Some(to), None),
    })
}

/// What the list page knows of the operator beside the rows.
pub struct ListContext {
    pub csrf: String,
    pub read_only: Option<&'static str>,
    pub actions: crate::identity::permissions::Actions,
    pub at: Presenter,
}

pub fn list_view(
    table: &Table,
    q: &ListQuery,
    page: &ListPage,
    context: ListContext,
    open: Option<&SavedView>,
) -> ListView {
    let ListContext {
        csrf,
        read_only,
        actions,
        at,
    } = context;
    let path = table_path(&table.name);
    let link = |query: String| {
        let query = match open {
            Some(v) => saved::link_query(v.id, &v.query, &query).unwrap_or(query),
            None => query,
        };
        if query.is_empty() {
            path.clone()
        } else {
            format!("{path}?{query}")
        }
    };
    let shown: Vec<usize> = (0..table.columns.len())
        .filter(|i| !q.hidden.contains(&table.columns[*i].name))
        .collect();
    let headers = shown
        .iter()
        .map(|&i| {
            let c = &table.columns[i];
            let (sorted, next) = match &q.sort {
                Some((s, false)) if *s == c.name => ("ascending", format!("-{}", c.name)),
                Some((s, true)) if *s == c.name => ("descending", c.name.clone()),
                _ => ("none", c.name.clone()),
            };
            Header {
                name: c.name.clone(),
                link: link(q.to_query(Some(1), Some(&next))),
                sorted,
                numeric: c.kind.is_numeric(),
                icon: format!(
                    "{}#{}",
                    crate::web::assets::urls().icons,
                    super::cells::kind_icon(c)
                ),
            }
        })
        .collect();
    let rows = page
        .rows
        .iter()
        .map(|r: &Row| ListRow {
            key: r.key_path(),
            key_path: if r.key.is_empty() {
                String::new()
            } else {
                format!("{path}/{}", r.key_path())
            },
            cells: shown
                .iter()
                .map(|&i| cell(&r.values[i], table, i, page, &at))
                .collect(),
        })
        .collect();
    let chips = q
        .filters
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let mut without = q.clone();
            without.filters.remove(i);
            Chip {
                label: format!("{} {} {}", f.column, f.op.label(), f.raw),
                remove_link: link(without.to_query(Some(1), None)),
            }
        })
        .collect();
    let (fields, other_filters) = filter_fields(table, q);
    let mut exact = q.clone();
    exact.exact_count = true;
    ListView {
        csrf,
        actions,
        table: table.name.clone(),
        path: path.clone(),
        query: q.to_query(None, None),
        q: q.q.clone(),
        headers,
        rows,
        count: count_label(page.count),
        count_is_exact: matches!(page.count, Count::Exact(_)),
        exact_link: {
            let base = exact.to_query(None, None);
            link(if base.is_empty() {
                "count=exact".into()
            } else {
                format!("{base}&count=exact")
            })
        },
        page: q.page,
        prev_link: pager_link(q, page, false).map(&link),
        next_link: pager_link(q, page, true).map(&link),
        per_page: q.per_page,
        page_sizes: PAGE_SIZES
            .iter()
            .map(|n| {
                let mut other = q.clone();
                other.per_page = *n;
                (*n, link(other.to_query(Some(1), None)))
            })
            .collect(),
        chips,
        columns: table
            .columns
            .iter()
            .map(|c| ColumnChoice {
                name: c.name.clone(),
                shown: !q.hidden.contains(&c.name),
            })
            .collect(),
        sort: q
            .sort
            .as_ref()
            .map(|(c, d)| format!("{}{c}", if *d { "-" } else { "" }))
            .unwrap_or_default(),
        read_only,
        is_table: !table.is_view,
        can_search: table.columns.iter().any(crate::engine::query::searchable),
        filter_fields: fields,
        other_filters,
        all_filters: q
            .filters
            .iter()
            .map(|f| HiddenFilter {
                name: format!("{}__{}", f.column, f.op.name()),
                value: f.raw.clone(),
            })
            .collect(),
        shown_cols: q.shown.join(","),
        view_id: open.map(|v| v.id),
    }
}

#[derive(Template)]
#[template(path = "data/list.html")]
pub struct ListPageView {
    pub layout: Layout,
    pub view: ListView,
    pub saved: super::SavedPanel,
}

#[derive(Template)]
#[template(path = "data/_rows_partial.html")]
pub struct RowsPartial {
    pub view: ListView,
}
