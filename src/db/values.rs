//! Small values every module writes to the database the same way: the time now, a new
//! id, a LIKE pattern's escaped text.

/// Now, in UTC, as stored in Gatehouse's TIMESTAMP columns (microsecond precision on both).
pub fn now() -> chrono::NaiveDateTime {
    let now = chrono::Utc::now().naive_utc();
    // Postgres keeps microseconds; truncate so a value read back equals the one written.
    now.with_nanosecond_truncated()
}

trait TruncateNanos {
    fn with_nanosecond_truncated(self) -> Self;
}

impl TruncateNanos for chrono::NaiveDateTime {
    fn with_nanosecond_truncated(self) -> Self {
        use chrono::Timelike;
        let micros = self.nanosecond() / 1_000 * 1_000;
        self.with_nanosecond(micros).unwrap_or(self)
    }
}

/// A new Gatehouse id: UUIDv7 text, made in Rust so both backends agree.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Escape `%`, `_` and `\` so user text matches literally inside a LIKE pattern.
pub fn like_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(like_escape("50%_off\\"), "50\\%\\_off\\\\");
    }
}
