//! A row's History card: each audit entry as who, when, through what (UI, an API token,
//! an import, a restore), and a readable diff — column, before → after, and for long text
//! a word-level diff whose insertions and deletions are spoken by screen readers too.

use std::time::Duration;

use similar::{ChangeTag, TextDiff};

use crate::audit::{Entry, via_label};
use crate::catalog::{Kind, Table};
use crate::engine::timestamp;
use crate::web::when::{Presenter, When};

pub struct HistoryItem {
    pub id: String,
    /// Whether "restore this version" is offered: a change of this row (not an earlier
    /// row with its key, not a deletion) and an operator who may update it.
    pub restorable: bool,
    pub at: When,
    pub who: String,
    pub action: String,
    /// Through what the change was made, as far as the entry records it.
    pub via: Option<String>,
    /// Column, before → after (empty for a side the change has not: created, deleted).
    pub lines: Vec<HistoryLine>,
}

pub struct HistoryLine {
    pub column: String,
    pub from: String,
    pub to: String,
    /// For long text changed on both sides: the words kept, removed and added, in order.
    pub words: Vec<WordPiece>,
}

/// A run of words of a word-level diff: `same`, `del` or `ins`.
pub struct WordPiece {
    pub kind: &'static str,
    pub text: String,
}

/// Text this long (on one side at least, and not much shorter on the other) is diffed
/// word by word.
const LONG_TEXT: usize = 60;
const OTHER_SIDE: usize = 20;
/// Beyond this the word diff is not attempted (the whole values are shown).
const DIFF_LIMIT: usize = 50_000;

/// The word-level diff of two long texts; empty when a side is short or huge.
pub fn word_diff(from: &str, to: &str) -> Vec<WordPiece> {
    let (a, b) = (from.chars().count(), to.chars().count());
    if a.min(b) < OTHER_SIDE || a.max(b) < LONG_TEXT || a.max(b) > DIFF_LIMIT {
        return Vec::new();
    }
    let diff = TextDiff::configure()
        .timeout(Duration::from_millis(50))
        .diff_words(from, to);
    let mut out: Vec<WordPiece> = Vec::new();
    for change in diff.iter_all_changes() {
        let kind = match change.tag() {
            ChangeTag::Equal => "same",
            ChangeTag::Delete => "del",
            ChangeTag::Insert => "ins",
        };
        match out.last_mut() {
            Some(last) if last.kind == kind => last.text.push_str(change.value()),
            _ => out.push(WordPiece {
                kind,
                text: change.value().to_string(),
            }),
        }
    }
    out
}

/// An audited value as shown in the history.
fn audited(v: Option<&serde_json::Value>) -> String {
    match v {
        None => String::new(),
        Some(serde_json::Value::Null) => "NULL".into(),
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

pub use crate::engine::store::FkLabels;

/// The (column, value) pairs of foreign-key columns in these entries' before and after.
pub fn fk_values<'a>(
    table: &Table,
    entries: impl Iterator<Item = &'a Entry>,
) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for e in entries {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&e.changes) else {
            continue;
        };
        for side in [v.get("before"), v.get("after")].into_iter().flatten() {
            for (column, value) in side.as_object().into_iter().flatten() {
                let text = audited(Some(value));
                let pair = (column.clone(), text);
                if table.foreign_key_of(column).is_some()
                    && !value.is_null()
                    && !out.contains(&pair)
                {
                    out.push(pair);
                }
            }
        }
    }
    out
}

/// What a row's History card shows its entries against: the table (for the kinds of
/// its columns), the labels of the rows foreign keys pointed at, and the operator's zone.
pub struct HistoryContext<'a> {
    pub table: &'a Table,
    pub labels: &'a FkLabels,
    pub at: &'a Presenter,
}

/// A value of a diff as shown: a foreign key with the label of the row it points at, a
/// time in the operator's zone.
fn labelled(column: &str, value: String, cx: &HistoryContext) -> String {
    if let Some(label) = cx.labels.get(column).and_then(|m| m.get(&value)) {
        return format!("{label} ({value})");
    }
    let is_time = cx
        .table
        .column(column)
        .is_some_and(|c| matches!(c.kind, Kind::DateTime | Kind::DateTimeTz));
    match is_time.then(|| timestamp::exact_in(&value, &cx.at.zone)) {
        Some(Some(exact)) => exact,
        _ => value,
    }
}

/// An entry's changes as lines, in the order the columns were recorded.
fn diff_lines(changes: &str, cx: &HistoryContext) -> Vec<HistoryLine> {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(changes) else {
        return Vec::new();
    };
    let (before, after) = (v.get("before"), v.get("after"));
    let mut columns: Vec<&String> = Vec::new();
    for side in [before, after].into_iter().flatten() {
        for k in side.as_object().into_iter().flat_map(|o| o.keys()) {
            if !columns.contains(&k) {
                columns.push(k);
            }
        }
    }
    columns
        .into_iter()
        .map(|c| {
            let from = labelled(c, audited(before.and_then(|b| b.get(c))), cx);
            let to = labelled(c, audited(after.and_then(|a| a.get(c))), cx);
            HistoryLine {
                column: c.clone(),
                words: word_diff(&from, &to),
                from,
                to,
            }
        })
        .collect()
}

/// Through what the change came: the channel the entry records (a restore also names its
/// source entry); for entries written before channels were recorded, what the entry says.
fn via(e: &Entry) -> Option<String> {
    let v: Option<serde_json::Value> = serde_json::from_str(&e.changes).ok();
    let source = v
        .as_ref()
        .and_then(|v| v.get("source"))
        .and_then(|s| s.as_str());
    match (e.via.as_str(), source) {
        ("restore" | "", Some(source)) => Some(format!("restore of entry {source}")),
        ("", None) if e.action.starts_with("import") => Some("import".into()),
        ("", None) => None,
        (channel, _) => Some(via_label(channel)),
    }
}

pub fn history_items(
    entries: Vec<Entry>,
    may_restore: bool,
    cx: &HistoryContext,
) -> Vec<HistoryItem> {
    entries
        .into_iter()
        .map(|e| HistoryItem {
            via: via(&e),
            lines: diff_lines(&e.changes, cx),
            restorable: may_restore && e.action != "record.deleted",
            id: e.id,
            at: cx.at.at(e.created_at),
            who: e.user_email,
            action: e.action,
        })
        .collect()
}
