//! The console's page and its result fragment (the htmx answer to a run).

use askama::Template;

use super::runner::{Cell, Collected, Failure, Finished};
use super::store::{HistoryEntry, SavedQuery};
use crate::web::page::Layout;

/// What the operator typed and chose, kept in the form across runs.
#[derive(Debug, Clone, Default)]
pub struct Editor {
    pub sql: String,
    pub write: bool,
    pub run_id: String,
    /// `run`, `explain` or `analyze`.
    pub action: String,
}

/// The result of one run as shown.
#[derive(Debug, Default)]
pub struct ResultView {
    pub columns: Vec<(String, bool)>,
    pub rows: Vec<Vec<Cell>>,
    pub more: bool,
    pub changed: Option<u64>,
    pub elapsed_ms: u128,
    pub error: Option<String>,
    /// A plan, shown as preformatted text.
    pub plan: Option<String>,
    pub write: bool,
}

impl ResultView {
    pub fn failed(message: String) -> ResultView {
        ResultView {
            error: Some(message),
            ..ResultView::default()
        }
    }

    pub fn of(collected: Collected, finished: Finished, write: bool, plan: bool) -> ResultView {
        let (changed, elapsed) = match finished {
            Ok(done) => done,
            Err(failure) => return ResultView::failed(failure.message()),
        };
        let columns = (0..collected.columns.len())
            .map(|i| {
                let values = collected.rows.iter().filter_map(|r| r.get(i));
                let mut present = values.filter(|c| c.text.is_some()).peekable();
                let numeric = present.peek().is_some() && present.all(|c| c.numeric);
                (collected.columns[i].clone(), numeric)
            })
            .collect();
        let plan = plan.then(|| plan_text(&collected));
        ResultView {
            columns,
            rows: if plan.is_some() {
                Vec::new()
            } else {
                collected.rows
            },
            more: collected.more,
            changed,
            elapsed_ms: elapsed.as_millis(),
            error: None,
            plan,
            write,
        }
    }

    /// Whether column `i` holds numbers (right-aligned).
    pub fn numeric(&self, i: &usize) -> bool {
        self.columns.get(*i).is_some_and(|(_, n)| *n)
    }

    /// What the outcome is called in the history.
    pub fn outcome(&self) -> String {
        match (&self.error, self.changed) {
            (Some(e), _) => format!("error: {e}"),
            (None, Some(n)) => format!("{n} rows changed"),
            (None, None) if self.more => format!("more than {} rows", self.rows.len()),
            (None, None) => format!("{} rows", self.rows.len()),
        }
    }
}

impl From<Failure> for ResultView {
    fn from(f: Failure) -> ResultView {
        ResultView::failed(f.message())
    }
}

/// A plan as text: Postgres gives its lines; SQLite's `EXPLAIN QUERY PLAN` gives a tree of
/// (id, parent, _, detail) rows, indented here by depth.
fn plan_text(c: &Collected) -> String {
    let text = |cell: Option<&Cell>| cell.and_then(|c| c.text.clone()).unwrap_or_default();
    if c.columns.len() == 4 && c.columns[3] == "detail" {
        let mut depth: Vec<(String, usize)> = Vec::new();
        let mut out = String::new();
        for row in &c.rows {
            let (id, parent) = (text(row.first()), text(row.get(1)));
            let d = depth
                .iter()
                .find(|(i, _)| *i == parent)
                .map_or(0, |(_, d)| d + 1);
            out.push_str(&format!("{}{}\n", "  ".repeat(d), text(row.get(3))));
            depth.push((id, d));
        }
        out
    } else {
        c.rows
            .iter()
            .map(|r| text(r.first()))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

#[derive(Template)]
#[template(path = "console/index.html")]
pub struct ConsolePage {
    pub layout: Layout,
    pub csrf: String,
    pub editor: Editor,
    pub can_write: bool,
    pub postgres: bool,
    pub timeout: String,
    pub result: Option<ResultView>,
    /// A write-mode statement waiting for the operator's confirmation.
    pub confirm: Option<String>,
    pub history: Vec<HistoryEntry>,
    pub saved: Vec<SavedQuery>,
    pub roles: Vec<String>,
}

#[derive(Template)]
#[template(path = "console/_result.html")]
pub struct ResultPartial {
    pub csrf: String,
    pub editor: Editor,
    pub result: Option<ResultView>,
    pub confirm: Option<String>,
}
