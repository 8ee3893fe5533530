//! Row rules, the language: conditions in the list filters' form (`region__eq=$me.region`),
//! all of which must hold, and an optional "any of" group, whose values are constants or the
//! signed-in operator's id, email or attributes. A rule bound to an operator (`Scope`) is
//! what the engine ANDs into the WHERE of every statement it builds for a table. It lives
//! beneath the engine and identity because both carry it: identity stores and loads rules,
//! the table view carries them bound, the engine turns them into SQL.

use std::collections::BTreeMap;

use crate::catalog::{Column, Table};

/// What an operator does to rows: the four rights a role has per table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    Read,
    Create,
    Update,
    Delete,
}

impl Action {
    pub const ALL: [Action; 4] = [Action::Read, Action::Create, Action::Update, Action::Delete];

    /// The name stored in `gh_role_rules.action`.
    pub fn name(self) -> &'static str {
        match self {
            Action::Read => "read",
            Action::Create => "create",
            Action::Update => "update",
            Action::Delete => "delete",
        }
    }

    pub fn parse(s: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.name() == s)
    }

    fn index(self) -> usize {
        self as usize
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Lte,
    Gt,
    Gte,
    Contains,
    StartsWith,
    In,
    IsNull,
}

impl Op {
    pub const ALL: [(&'static str, Op); 10] = [
        ("eq", Op::Eq),
        ("ne", Op::Ne),
        ("lt", Op::Lt),
        ("lte", Op::Lte),
        ("gt", Op::Gt),
        ("gte", Op::Gte),
        ("contains", Op::Contains),
        ("startswith", Op::StartsWith),
        ("in", Op::In),
        ("isnull", Op::IsNull),
    ];

    pub fn parse(s: &str) -> Option<Op> {
        Op::ALL.iter().find(|(n, _)| *n == s).map(|(_, op)| *op)
    }

    pub fn name(self) -> &'static str {
        Op::ALL
            .iter()
            .find(|(_, op)| *op == self)
            .map_or("eq", |(n, _)| n)
    }

    pub fn label(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Ne => "≠",
            Op::Lt => "<",
            Op::Lte => "≤",
            Op::Gt => ">",
            Op::Gte => "≥",
            Op::Contains => "contains",
            Op::StartsWith => "starts with",
            Op::In => "is one of",
            Op::IsNull => "is null",
        }
    }
}

/// The value a condition compares with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleValue {
    Constant(String),
    /// `$me.id`
    MeId,
    /// `$me.email`
    MeEmail,
    /// `$me.<key>`: an attribute set on the operator (`/users/{id}`).
    MeAttr(String),
}

impl RuleValue {
    fn parse(raw: &str) -> RuleValue {
        match raw.trim().strip_prefix("$me.") {
            Some("id") => RuleValue::MeId,
            Some("email") => RuleValue::MeEmail,
            Some(key) => RuleValue::MeAttr(key.to_string()),
            None => RuleValue::Constant(raw.trim().to_string()),
        }
    }

    pub fn text(&self) -> String {
        match self {
            RuleValue::Constant(c) => c.clone(),
            RuleValue::MeId => "$me.id".into(),
            RuleValue::MeEmail => "$me.email".into(),
            RuleValue::MeAttr(k) => format!("$me.{k}"),
        }
    }

    /// The value for this operator; `None` when there is none (no operator, as for a
    /// webhook or an API token, or an attribute the operator lacks): the condition is false.
    fn bind(&self, me: Option<&Me>) -> Option<String> {
        match (self, me) {
            (RuleValue::Constant(c), _) => Some(c.clone()),
            (RuleValue::MeId, Some(me)) => Some(me.id.clone()),
            (RuleValue::MeEmail, Some(me)) => Some(me.email.clone()),
            (RuleValue::MeAttr(k), Some(me)) => me.attributes.get(k).cloned(),
            (_, None) => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    pub column: String,
    pub op: Op,
    pub value: RuleValue,
}

impl Condition {
    /// One line of the text form: `{column}__{op}={value}`.
    pub fn parse(line: &str) -> Result<Condition, String> {
        let (left, value) = line
            .split_once('=')
            .ok_or_else(|| format!("'{line}' is not a condition: write column__op=value."))?;
        let (column, op) = left.trim().rsplit_once("__").ok_or_else(|| {
            format!("'{left}' names no operator: write column__op, such as region__eq.")
        })?;
        let op = Op::parse(op).ok_or_else(|| {
            format!("'{op}' is not an operator; use one of eq, ne, lt, lte, gt, gte, contains, startswith, in, isnull.")
        })?;
        if column.is_empty() {
            return Err(format!("'{line}' names no column."));
        }
        Ok(Condition {
            column: column.to_string(),
            op,
            value: RuleValue::parse(value),
        })
    }

    pub fn to_text(&self) -> String {
        format!("{}__{}={}", self.column, self.op.name(), self.value.text())
    }

    /// How a refusal names it: "region must equal EU".
    pub fn describe(&self, bound: Option<&str>) -> String {
        let value = bound.map_or_else(|| self.value.text(), str::to_string);
        let verb = match self.op {
            Op::Eq => "must equal",
            Op::Ne => "must not equal",
            Op::Lt => "must be less than",
            Op::Lte => "must be at most",
            Op::Gt => "must be greater than",
            Op::Gte => "must be at least",
            Op::Contains => "must contain",
            Op::StartsWith => "must start with",
            Op::In => "must be one of",
            Op::IsNull => {
                return if matches!(value.as_str(), "true" | "1" | "yes") {
                    format!("{} must be empty", self.column)
                } else {
                    format!("{} must not be empty", self.column)
                };
            }
        };
        format!("{} {verb} {value}", self.column)
    }
}

/// A rule: every `all` condition holds and, when `any` is not empty, one of `any` does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RowRule {
    pub all: Vec<Condition>,
    pub any: Vec<Condition>,
}

/// At most this many conditions in a rule.
pub const MAX_CONDITIONS: usize = 50;

impl RowRule {
    /// The text form, one condition per line, as the rule editor has it.
    pub fn parse(all_text: &str, any_text: &str) -> Result<RowRule, String> {
        let lines = |text: &str| -> Result<Vec<Condition>, String> {
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(Condition::parse)
                .collect()
        };
        let rule = RowRule {
            all: lines(all_text)?,
            any: lines(any_text)?,
        };
        if rule.all.len() + rule.any.len() > MAX_CONDITIONS {
            return Err(format!("A rule has at most {MAX_CONDITIONS} conditions."));
        }
        Ok(rule)
    }

    /// (all, any), one condition per line.
    pub fn to_text(&self) -> (String, String) {
        let text = |c: &[Condition]| {
            c.iter()
                .map(Condition::to_text)
                .collect::<Vec<_>>()
                .join("\n")
        };
        (text(&self.all), text(&self.any))
    }

    pub fn is_empty(&self) -> bool {
        self.all.is_empty() && self.any.is_empty()
    }

    pub fn conditions(&self) -> impl Iterator<Item = &Condition> {
        self.all.iter().chain(self.any.iter())
    }

    /// The columns the rule names that `table` does not have (dropped or renamed).
    pub fn missing_columns(&self, table: &Table) -> Vec<String> {
        let mut missing: Vec<String> = self
            .conditions()
            .filter(|c| table.column(&c.column).is_none())
            .map(|c| c.column.clone())
            .collect();
        missing.dedup();
        missing
    }

    /// This rule with the operator's values bound, against the table's full set of columns
    /// (a hidden column may still be ruled on). Fails closed: a column the table no longer
    /// has, or an `all` condition without a value, lets no row through.
    pub fn bind(&self, table: &Table, me: Option<&Me>) -> Scope {
        if let Some(missing) = self.missing_columns(table).first() {
            return Scope::Closed(format!(
                "The row rule names the column {missing}, which {} no longer has.",
                table.name
            ));
        }
        let bound = |c: &Condition| -> Option<Bound> {
            Some(Bound {
                column: table.column(&c.column)?.clone(),
                op: c.op,
                raw: c.value.bind(me)?,
                condition: c.clone(),
            })
        };
        let mut all = Vec::new();
        for c in &self.all {
            match bound(c) {
                Some(b) => all.push(b),
                None => return Scope::Closed(format!("{}: no value here.", c.to_text())),
            }
        }
        let any: Vec<Bound> = self.any.iter().filter_map(bound).collect();
        if !self.any.is_empty() && any.is_empty() {
            return Scope::Closed("No condition of the \"any of\" group has a value here.".into());
        }
        Scope::Open { all, any }
    }
}

/// The signed-in operator, as rules see them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Me {
    pub id: String,
    pub email: String,
    pub attributes: BTreeMap<String, String>,
}

/// One condition with its value bound.
#[derive(Debug, Clone)]
pub struct Bound {
    pub column: Column,
    pub op: Op,
    pub raw: String,
    pub condition: Condition,
}

impl Bound {
    /// How a refusal names it: "region must equal EU".
    pub fn describe(&self) -> String {
        self.condition.describe(Some(&self.raw))
    }
}

/// A rule bound for one operator: the rows it lets through.
#[derive(Debug, Clone)]
pub enum Scope {
    /// No row (the rule cannot be evaluated: fail closed), and why.
    Closed(String),
    Open {
        all: Vec<Bound>,
        any: Vec<Bound>,
    },
}

/// A table's rules bound for the operator, one per action (none: every row).
#[derive(Debug, Clone, Default)]
pub struct Scopes {
    by_action: [Option<Scope>; 4],
    /// An update may move a row out of the update rule.
    pub allow_move_out: bool,
}

impl Scopes {
    pub fn new(by_action: [Option<Scope>; 4], allow_move_out: bool) -> Scopes {
        Scopes {
            by_action,
            allow_move_out,
        }
    }

    pub fn of(&self, action: Action) -> Option<&Scope> {
        self.by_action[action.index()].as_ref()
    }
}

impl Table {
    /// The rule bound for `action` on this table, if the operator's role has one.
    pub fn scope(&self, action: Action) -> Option<&Scope> {
        self.scopes.as_ref().and_then(|s| s.of(action))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_form_round_trips() {
        let rule = RowRule::parse(
            "region__eq=$me.region\nassignee_id__eq=$me.id\n",
            "status__in=open,pending\nowner__eq=$me.email",
        )
        .unwrap();
        assert_eq!(rule.all[0].value, RuleValue::MeAttr("region".into()));
        assert_eq!(rule.all[1].value, RuleValue::MeId);
        assert_eq!(rule.any[0].op, Op::In);
        assert_eq!(rule.any[1].value, RuleValue::MeEmail);
        let (all, any) = rule.to_text();
        assert_eq!(RowRule::parse(&all, &any).unwrap(), rule);
    }

    #[test]
    fn bad_lines_are_refused_with_a_reason() {
        assert!(
            RowRule::parse("region", "")
                .unwrap_err()
                .contains("column__op")
        );
        assert!(
            RowRule::parse("region=EU", "")
                .unwrap_err()
                .contains("operator")
        );
        assert!(
            RowRule::parse("region__like=EU", "")
                .unwrap_err()
                .contains("'like'")
        );
    }

    #[test]
    fn conditions_name_themselves() {
        let c = Condition::parse("region__eq=$me.region").unwrap();
        assert_eq!(c.describe(Some("EU")), "region must equal EU");
    }
}
