//! Enumerations written as CHECK constraints: `status IN ('new', 'paid')` in SQLite's
//! table SQL, and the `(status = ANY (ARRAY['new'::text, …]))` form Postgres prints back.

use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Punct(String),
}

fn tokenize(sql: &str) -> Vec<Tok> {
    let chars: Vec<char> = sql.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '\''
            || c == '"'
            || c == '`'
            || (c == '[' && !out.last().is_some_and(|t| is_kw(t, "ARRAY")))
        {
            let close = if c == '[' { ']' } else { c };
            let mut s = String::new();
            i += 1;
            while i < chars.len() {
                if chars[i] == close {
                    if close != ']' && i + 1 < chars.len() && chars[i + 1] == close {
                        s.push(close);
                        i += 2;
                        continue;
                    }
                    break;
                }
                s.push(chars[i]);
                i += 1;
            }
            i += 1;
            out.push(if c == '\'' {
                Tok::Str(s)
            } else {
                Tok::Ident(s)
            });
        } else if c.is_alphanumeric() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            out.push(Tok::Ident(chars[start..i].iter().collect()));
        } else if c == ':' && i + 1 < chars.len() && chars[i + 1] == ':' {
            out.push(Tok::Punct("::".into()));
            i += 2;
        } else {
            out.push(Tok::Punct(c.to_string()));
            i += 1;
        }
    }
    out
}

fn is_kw(t: &Tok, kw: &str) -> bool {
    matches!(t, Tok::Ident(s) if s.eq_ignore_ascii_case(kw))
}

fn punct(t: &Tok, p: &str) -> bool {
    matches!(t, Tok::Punct(s) if s == p)
}

/// Column name (lower-cased) → allowed values, for every IN-list check found in `sql`.
pub fn in_lists(sql: &str) -> BTreeMap<String, Vec<String>> {
    let toks = tokenize(sql);
    let mut found = BTreeMap::new();
    for i in 1..toks.len() {
        // `col IN ('a', 'b')`
        if is_kw(&toks[i], "IN")
            && let Tok::Ident(col) = &toks[i - 1]
            && toks.get(i + 1).is_some_and(|t| punct(t, "("))
        {
            let mut values = Vec::new();
            let mut j = i + 2;
            let mut ok = false;
            while let Some(t) = toks.get(j) {
                match t {
                    Tok::Str(s) => values.push(s.clone()),
                    Tok::Punct(p) if p == "," => {}
                    Tok::Punct(p) if p == ")" => {
                        ok = true;
                        break;
                    }
                    _ => break,
                }
                j += 1;
            }
            if ok && !values.is_empty() {
                found.insert(col.to_lowercase(), values);
            }
        }
        // `(col)::text = ANY ((ARRAY['a'::text, 'b'::text])::text[])`
        if is_kw(&toks[i], "ANY") && i >= 2 && punct(&toks[i - 1], "=") {
            let mut j = i - 2;
            let column = loop {
                match &toks[j] {
                    Tok::Ident(_) if j >= 1 && punct(&toks[j - 1], "::") && j >= 2 => j -= 2,
                    Tok::Punct(p) if (p == ")" || p == "(") && j >= 1 => j -= 1,
                    Tok::Ident(name) => break Some(name.clone()),
                    _ => break None,
                }
            };
            let Some(column) = column else { continue };
            let mut depth = 0;
            let mut values = Vec::new();
            for t in &toks[i + 1..] {
                match t {
                    Tok::Punct(p) if p == "(" => depth += 1,
                    Tok::Punct(p) if p == ")" => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    Tok::Str(s) => values.push(s.clone()),
                    _ => {}
                }
            }
            if !values.is_empty() {
                found.insert(column.to_lowercase(), values);
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_in_lists_are_found() {
        let sql = "CREATE TABLE orders (id INTEGER PRIMARY KEY, status TEXT NOT NULL \
                   CHECK (status IN ('new', 'paid', 'it''s shipped')), \"Kind\" TEXT CHECK(\"Kind\" in ('a','b')))";
        let found = in_lists(sql);
        assert_eq!(found["status"], vec!["new", "paid", "it's shipped"]);
        assert_eq!(found["kind"], vec!["a", "b"]);
    }

    #[test]
    fn postgres_any_arrays_are_found() {
        let def = "CHECK ((status = ANY (ARRAY['new'::text, 'paid'::text])))";
        assert_eq!(in_lists(def)["status"], vec!["new", "paid"]);
        let varchar = "CHECK (((state)::text = ANY ((ARRAY['on'::character varying, 'off'::character varying])::text[])))";
        assert_eq!(in_lists(varchar)["state"], vec!["on", "off"]);
    }

    #[test]
    fn other_checks_are_ignored() {
        assert!(in_lists("CHECK (price > 0)").is_empty());
        assert!(in_lists("CHECK (id IN (1, 2))").is_empty());
    }
}
