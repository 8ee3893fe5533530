//! SQLite's own text of a table, read closely enough to rebuild it: tokens (quoted names,
//! strings, comments, nested parentheses), a `CREATE TABLE` split into its column
//! definitions and table constraints, and a column definition split into its clauses, so
//! that one clause can be changed and everything else (CHECK, COLLATE, GENERATED, named
//! constraints, conflict clauses …) is written back exactly as the database keeps it.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Word,
    /// `"name"`, `` `name` `` or `[name]`.
    Quoted,
    /// `'text'` or a blob `x'00'`.
    Str,
    Number,
    Punct,
}

#[derive(Debug, Clone, Copy)]
pub struct Token {
    pub kind: Kind,
    pub start: usize,
    pub end: usize,
}

impl Token {
    pub fn text<'s>(&self, sql: &'s str) -> &'s str {
        &sql[self.start..self.end]
    }

    /// A keyword or bare name, upper-cased ("" for anything else).
    fn word(&self, sql: &str) -> String {
        if self.kind == Kind::Word {
            self.text(sql).to_ascii_uppercase()
        } else {
            String::new()
        }
    }

    fn is(&self, sql: &str, punct: &str) -> bool {
        self.kind == Kind::Punct && self.text(sql) == punct
    }

    /// The name a word or quoted token stands for.
    pub fn ident(&self, sql: &str) -> Option<String> {
        let t = self.text(sql);
        match self.kind {
            Kind::Word => Some(t.to_string()),
            Kind::Quoted => {
                let (open, inner) = (t.as_bytes()[0], &t[1..t.len() - 1]);
                Some(match open {
                    b'"' => inner.replace("\"\"", "\""),
                    b'`' => inner.replace("``", "`"),
                    _ => inner.to_string(),
                })
            }
            _ => None,
        }
    }
}

const UNREADABLE: &str = "Gatehouse could not read this table's definition closely enough to rebuild it (an unterminated quote or comment): change it with the sqlite3 tool instead.";

/// The tokens of `sql`; comments and blanks are left out.
pub fn tokens(sql: &str) -> Result<Vec<Token>, String> {
    let b = sql.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let word_byte = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c >= 0x80;
    // Finds the end of a quoted run opened at `i` by `open` and closed by `close`, a
    // doubled closing character standing for itself (except in brackets).
    let closing = |i: usize, close: u8, doubles: bool| -> Result<usize, String> {
        let mut j = i + 1;
        loop {
            match b.get(j) {
                None => return Err(UNREADABLE.into()),
                Some(&c) if c == close => {
                    if doubles && b.get(j + 1) == Some(&close) {
                        j += 2;
                    } else {
                        return Ok(j + 1);
                    }
                }
                Some(_) => j += 1,
            }
        }
    };
    while i < b.len() {
        let c = b[i];
        let start = i;
        let kind = match c {
            c if c.is_ascii_whitespace() => {
                i += 1;
                continue;
            }
            b'-' if b.get(i + 1) == Some(&b'-') => {
                i = sql[i..].find('\n').map_or(b.len(), |n| i + n + 1);
                continue;
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i = sql[i + 2..]
                    .find("*/")
                    .map(|n| i + 2 + n + 2)
                    .ok_or(UNREADABLE)?;
                continue;
            }
            b'\'' => {
                i = closing(i, b'\'', true)?;
                Kind::Str
            }
            b'x' | b'X' if b.get(i + 1) == Some(&b'\'') => {
                i = closing(i + 1, b'\'', true)?;
                Kind::Str
            }
            b'"' => {
                i = closing(i, b'"', true)?;
                Kind::Quoted
            }
            b'`' => {
                i = closing(i, b'`', true)?;
                Kind::Quoted
            }
            b'[' => {
                i = closing(i, b']', false)?;
                Kind::Quoted
            }
            c if c.is_ascii_digit()
                || (c == b'.' && b.get(i + 1).is_some_and(u8::is_ascii_digit)) =>
            {
                i += 1;
                while i < b.len() {
                    let d = b[i];
                    let exponent_sign = (d == b'+' || d == b'-')
                        && matches!(b[i - 1], b'e' | b'E')
                        && !sql[start..i].starts_with("0x");
                    if d.is_ascii_alphanumeric() || d == b'.' || d == b'_' || exponent_sign {
                        i += 1;
                    } else {
                        break;
                    }
                }
                Kind::Number
            }
            c if word_byte(c) => {
                while i < b.len() && word_byte(b[i]) {
                    i += 1;
                }
                Kind::Word
            }
            _ => {
                i += 1;
                Kind::Punct
            }
        };
        out.push(Token {
            kind,
            start,
            end: i,
        });
    }
    Ok(out)
}

/// Whether `sql` names `name` as an identifier (bare or quoted, any case); string
/// literals and comments do not count.
pub fn names(sql: &str, name: &str) -> bool {
    tokens(sql).is_ok_and(|ts| {
        ts.iter()
            .any(|t| t.ident(sql).is_some_and(|n| n.eq_ignore_ascii_case(name)))
    })
}

/// What a clause of a column definition is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClauseKind {
    PrimaryKey,
    NotNull,
    Null,
    Unique,
    Check,
    Default,
    Collate,
    References,
    Generated,
    /// `CONSTRAINT name` with nothing after it.
    Named,
}

#[derive(Debug, Clone)]
pub struct Clause {
    pub kind: ClauseKind,
    /// As written, its `CONSTRAINT name` included.
    pub text: String,
}

/// A column definition: its name and type as written, then its clauses.
#[derive(Debug, Clone)]
pub struct ColumnText {
    pub name: String,
    pub head: String,
    pub clauses: Vec<Clause>,
}

impl ColumnText {
    pub fn sql(&self) -> String {
        let mut out = self.head.clone();
        for c in &self.clauses {
            out.push(' ');
            out.push_str(&c.text);
        }
        out
    }

    pub fn has(&self, kind: ClauseKind) -> bool {
        self.clauses.iter().any(|c| c.kind == kind)
    }

    /// Whether a clause of this column (a CHECK, a generated expression …) names `name`.
    pub fn clause_names(&self, name: &str) -> bool {
        self.clauses
            .iter()
            .any(|c| c.kind != ClauseKind::References && names(&c.text, name))
    }
}

/// A table constraint: its text and the columns it lists (none for CHECK).
#[derive(Debug, Clone)]
pub struct ConstraintText {
    /// PRIMARY, UNIQUE, CHECK or FOREIGN.
    pub keyword: String,
    pub columns: Vec<String>,
    pub text: String,
}

#[derive(Debug, Clone)]
pub enum Element {
    Column(ColumnText),
    Constraint(ConstraintText),
}

/// A `CREATE TABLE` statement taken apart; `tail` is what follows its closing parenthesis
/// (`WITHOUT ROWID`, `STRICT`).
#[derive(Debug, Clone)]
pub struct TableText {
    pub elements: Vec<Element>,
    pub tail: String,
}

const TABLE_CONSTRAINTS: [&str; 4] = ["PRIMARY", "UNIQUE", "CHECK", "FOREIGN"];

/// Split a `CREATE TABLE … ( … ) …` statement into its elements.
pub fn table(sql: &str) -> Result<TableText, String> {
    let ts = tokens(sql)?;
    let open = ts.iter().position(|t| t.is(sql, "(")).ok_or(UNREADABLE)?;
    let mut depth = 0usize;
    let mut parts: Vec<(usize, usize)> = Vec::new();
    let mut from = open + 1;
    let mut close = None;
    for (n, t) in ts.iter().enumerate().skip(open) {
        if t.is(sql, "(") {
            depth += 1;
        } else if t.is(sql, ")") {
            depth -= 1;
            if depth == 0 {
                parts.push((from, n));
                close = Some(n);
                break;
            }
        } else if depth == 1 && t.is(sql, ",") {
            parts.push((from, n));
            from = n + 1;
        }
    }
    let close = close.ok_or(UNREADABLE)?;
    let mut elements = Vec::new();
    for (a, b) in parts {
        let part = ts.get(a..b).filter(|p| !p.is_empty()).ok_or(UNREADABLE)?;
        let text = &sql[part[0].start..part[part.len() - 1].end];
        elements.push(element(text)?);
    }
    Ok(TableText {
        elements,
        tail: sql[ts[close].end..]
            .trim_end()
            .trim_end_matches(';')
            .to_string(),
    })
}

/// One element of the list: a table constraint (by its first keyword) or a column.
pub fn element(text: &str) -> Result<Element, String> {
    let ts = tokens(text)?;
    let first = ts.first().ok_or(UNREADABLE)?.word(text);
    let keyword = if first == "CONSTRAINT" {
        ts.get(2).map(|t| t.word(text)).unwrap_or_default()
    } else {
        first
    };
    if TABLE_CONSTRAINTS.contains(&keyword.as_str()) {
        let columns = if keyword == "CHECK" {
            Vec::new()
        } else {
            listed_columns(text, &ts)
        };
        return Ok(Element::Constraint(ConstraintText {
            keyword,
            columns,
            text: text.to_string(),
        }));
    }
    Ok(Element::Column(column(text, &ts)?))
}

/// The columns of the first parenthesised list: the first name of each item.
fn listed_columns(sql: &str, ts: &[Token]) -> Vec<String> {
    let mut out = Vec::new();
    let Some(open) = ts.iter().position(|t| t.is(sql, "(")) else {
        return out;
    };
    let mut expect = true;
    for t in &ts[open + 1..] {
        if t.is(sql, ")") {
            break;
        }
        if t.is(sql, ",") {
            expect = true;
        } else if expect {
            out.extend(t.ident(sql));
            expect = false;
        }
    }
    out
}

fn clause_kind(word: &str, next: &str, current: Option<ClauseKind>) -> Option<ClauseKind> {
    Some(match word {
        "PRIMARY" => ClauseKind::PrimaryKey,
        "NOT" if next == "NULL" => ClauseKind::NotNull,
        "NULL" => ClauseKind::Null,
        "UNIQUE" => ClauseKind::Unique,
        "CHECK" => ClauseKind::Check,
        "DEFAULT" => ClauseKind::Default,
        "COLLATE" => ClauseKind::Collate,
        "REFERENCES" => ClauseKind::References,
        "GENERATED" => ClauseKind::Generated,
        "AS" if current != Some(ClauseKind::Generated) => ClauseKind::Generated,
        _ => return None,
    })
}

/// A column definition: the name, the type (every word up to the first clause), then
/// clauses, each starting at its keyword (or its `CONSTRAINT name`) at the outer level.
fn column(sql: &str, ts: &[Token]) -> Result<ColumnText, String> {
    let name = ts.first().and_then(|t| t.ident(sql)).ok_or(UNREADABLE)?;
    let mut starts: Vec<(usize, ClauseKind)> = Vec::new();
    let (mut depth, mut n) = (0usize, 1);
    // After DEFAULT its value (a sign, a literal, a word or a parenthesised expression) is
    // not a clause keyword; after CONSTRAINT, the name.
    let (mut await_value, mut await_name) = (false, false);
    let mut prev = String::new();
    while n < ts.len() {
        let t = ts[n];
        let word = t.word(sql);
        if t.is(sql, "(") {
            depth += 1;
        } else if t.is(sql, ")") {
            depth = depth.saturating_sub(1);
            if depth == 0 {
                await_value = false;
            }
        } else if depth == 0 && await_name {
            await_name = false;
        } else if depth == 0 && await_value {
            await_value = t.is(sql, "-") || t.is(sql, "+");
        } else if depth == 0 {
            let next = ts.get(n + 1).map(|t| t.word(sql)).unwrap_or_default();
            let current = starts.last().map(|s| s.1);
            let kind = if word == "CONSTRAINT" {
                Some(ClauseKind::Named)
            } else if word == "NULL" && ["SET", "DEFAULT", "NOT"].contains(&prev.as_str()) {
                None
            } else {
                clause_kind(&word, &next, current)
            };
            if let Some(kind) = kind {
                if current == Some(ClauseKind::Named) && kind != ClauseKind::Named {
                    if let Some(last) = starts.last_mut() {
                        last.1 = kind;
                    }
                } else {
                    starts.push((n, kind));
                }
                await_name = kind == ClauseKind::Named;
                await_value = kind == ClauseKind::Default;
                if kind == ClauseKind::NotNull {
                    n += 1;
                }
            }
        }
        prev = word;
        n += 1;
    }
    let head_end = starts.first().map_or(ts.len(), |s| s.0);
    let head = &sql[ts[0].start..ts[head_end - 1].end];
    let clauses = starts
        .iter()
        .enumerate()
        .map(|(k, &(at, kind))| {
            let end = starts.get(k + 1).map_or(ts.len(), |s| s.0);
            Clause {
                kind,
                text: sql[ts[at].start..ts[end - 1].end].to_string(),
            }
        })
        .collect();
    Ok(ColumnText {
        name,
        head: head.to_string(),
        clauses,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(c: &ColumnText) -> Vec<ClauseKind> {
        c.clauses.iter().map(|c| c.kind).collect()
    }

    #[test]
    fn a_table_splits_into_columns_and_constraints_with_their_text() {
        let sql = "CREATE TABLE \"o(r)ders\" (\n  id INTEGER PRIMARY KEY AUTOINCREMENT,\n  status TEXT NOT NULL DEFAULT 'new' CHECK (status IN ('new', 'paid, late')), -- a comment, with a comma\n  \"total\" NUMERIC(10,2) CONSTRAINT positive CHECK (total >= 0) COLLATE NOCASE,\n  doubled INTEGER GENERATED ALWAYS AS (id * 2) STORED,\n  CONSTRAINT one_status UNIQUE (status, [total]),\n  FOREIGN KEY (id) REFERENCES other (id) ON DELETE SET NULL NOT DEFERRABLE\n) WITHOUT ROWID;";
        let t = table(sql).unwrap();
        assert_eq!(t.tail, " WITHOUT ROWID");
        assert_eq!(t.elements.len(), 6);
        let Element::Column(status) = &t.elements[1] else {
            panic!("a column")
        };
        assert_eq!(status.head, "status TEXT");
        assert_eq!(
            kinds(status),
            [ClauseKind::NotNull, ClauseKind::Default, ClauseKind::Check]
        );
        assert_eq!(
            status.clauses[2].text,
            "CHECK (status IN ('new', 'paid, late'))"
        );
        let Element::Column(total) = &t.elements[2] else {
            panic!("a column")
        };
        assert_eq!(total.name, "total");
        assert_eq!(total.head, "\"total\" NUMERIC(10,2)");
        assert_eq!(
            total.clauses[0].text,
            "CONSTRAINT positive CHECK (total >= 0)"
        );
        assert_eq!(total.clauses[1].kind, ClauseKind::Collate);
        let Element::Column(doubled) = &t.elements[3] else {
            panic!("a column")
        };
        assert_eq!(kinds(doubled), [ClauseKind::Generated]);
        assert!(doubled.clause_names("ID"));
        let Element::Constraint(unique) = &t.elements[4] else {
            panic!("a constraint")
        };
        assert_eq!(unique.keyword, "UNIQUE");
        assert_eq!(unique.columns, ["status", "total"]);
        let Element::Constraint(fk) = &t.elements[5] else {
            panic!("a constraint")
        };
        assert_eq!(fk.columns, ["id"]);
    }

    #[test]
    fn defaults_and_references_keep_their_words() {
        let Element::Column(c) =
            element("a INT DEFAULT NULL NULL REFERENCES b ON DELETE SET NULL NOT NULL").unwrap()
        else {
            panic!("a column")
        };
        assert_eq!(
            kinds(&c),
            [
                ClauseKind::Default,
                ClauseKind::Null,
                ClauseKind::References,
                ClauseKind::NotNull
            ]
        );
        let Element::Column(c) = element("a INT DEFAULT -1 UNIQUE").unwrap() else {
            panic!("a column")
        };
        assert_eq!(c.clauses[0].text, "DEFAULT -1");
        assert!(!names("CHECK (a = 'b')", "b"));
        assert!(names("CHECK (\"B\" > 0)", "b"));
    }
}
