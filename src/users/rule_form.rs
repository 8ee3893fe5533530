//! The row-rule editor's form: one draft per action (read, create, update, delete), each
//! checked line by line against the catalog so an error names the line it is about, and
//! turned into rules only when every action is valid (nothing is saved partially).

use crate::catalog::Table;
use crate::identity::row_rules::RowRule;
use crate::users::views::RuleDraft;
use crate::web::form::{Pairs, get};

/// The actions a rule may be set for, in the order the editor shows them.
pub const ACTIONS: [&str; 4] = ["read", "create", "update", "delete"];

/// At most this many conditions per group, and characters per condition.
const MAX_LINES: usize = 50;
const MAX_LINE: usize = 500;

/// A valid draft: the rule of one action (`None`: no rule) and whether an update may move
/// a row out of it.
pub struct ParsedRule {
    pub action: &'static str,
    pub rule: Option<RowRule>,
    pub allow_move_out: bool,
}

/// The conditions of a group as lines: trimmed, empty lines dropped.
fn lines(text: &str) -> Vec<&str> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect()
}

/// Why a group's text is not a list of valid conditions of `table`, naming the line.
fn check_group(text: &str, group: &str, table: &Table) -> Option<String> {
    let lines = lines(text);
    if lines.len() > MAX_LINES {
        return Some(format!("At most {MAX_LINES} conditions in \"{group}\"."));
    }
    lines.iter().enumerate().find_map(|(i, line)| {
        let n = i + 1;
        if line.chars().count() > MAX_LINE {
            return Some(format!(
                "Line {n} of \"{group}\" is longer than {MAX_LINE} characters."
            ));
        }
        RowRule::parse(line, "")
            .and_then(|rule| rule.validate(table))
            .err()
            .map(|m| format!("Line {n} of \"{group}\" ({line}): {m}"))
    })
}

/// The draft of `action` as submitted, with its errors.
fn draft(pairs: &Pairs, action: &'static str, table: &Table) -> RuleDraft {
    let all = get(pairs, &format!("{action}.all"))
        .unwrap_or("")
        .to_string();
    let any = get(pairs, &format!("{action}.any"))
        .unwrap_or("")
        .to_string();
    RuleDraft {
        action,
        all_error: check_group(&all, "all of", table),
        any_error: check_group(&any, "any of", table),
        allow_move_out: action == "update" && get(pairs, "update.allow_move_out").is_some(),
        all,
        any,
        broken: None,
    }
}

/// The rule a valid draft holds (`None` when both groups are empty).
pub fn rule_of(d: &RuleDraft, table: &Table) -> Result<Option<RowRule>, String> {
    let (all, any) = (lines(&d.all).join("\n"), lines(&d.any).join("\n"));
    if all.is_empty() && any.is_empty() {
        return Ok(None);
    }
    let rule = RowRule::parse(&all, &any)?;
    rule.validate(table)?;
    Ok(Some(rule))
}

/// Every action's draft as submitted; the rules too when all of them are valid.
pub fn read(pairs: &Pairs, table: &Table) -> (Vec<RuleDraft>, Option<Vec<ParsedRule>>) {
    let mut drafts: Vec<RuleDraft> = ACTIONS.iter().map(|a| draft(pairs, a, table)).collect();
    let mut parsed = Vec::new();
    for d in &mut drafts {
        if d.has_error() {
            continue;
        }
        match rule_of(d, table) {
            Ok(rule) => parsed.push(ParsedRule {
                action: d.action,
                rule,
                allow_move_out: d.allow_move_out,
            }),
            Err(m) => d.all_error = Some(m),
        }
    }
    let valid = parsed.len() == ACTIONS.len();
    (drafts, valid.then_some(parsed))
}
