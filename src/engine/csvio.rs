//! CSV in and out, in one place. Writing: the data export, the audit export and an
//! import's rejected rows share one field writer and one rule against spreadsheet formulas.
//! It is written here rather than with the `csv` crate's writer because an export must tell
//! NULL (an empty field) from an empty string (`""`), which that writer cannot express.
//! Reading: the `csv` crate (RFC 4180: quoted fields, embedded newlines), with the UTF-8
//! byte-order mark skipped and the delimiter (comma, semicolon or tab) detected.

use std::borrow::Cow;
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;

/// Text a spreadsheet would run as a formula (starting with `=`, `+`, `-`, `@`, tab or
/// carriage return) gets a leading `'`, as OWASP advises.
pub fn formula_safe(text: &str) -> Cow<'_, str> {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        Cow::Owned(format!("'{text}"))
    } else {
        Cow::Borrowed(text)
    }
}

/// One CSV field: quoted when it must be, `""` for an empty string, nothing for NULL.
pub fn push_field(out: &mut String, value: Option<&str>) {
    match value {
        None => {}
        Some(s)
            if s.is_empty()
                || s.contains([',', '"', '\n', '\r'])
                || s.starts_with(' ')
                || s.ends_with(' ') =>
        {
            out.push('"');
            out.push_str(&s.replace('"', "\"\""));
            out.push('"');
        }
        Some(s) => out.push_str(s),
    }
}

/// One CSV line (CRLF-terminated) of fields, NULL as `None`.
pub fn push_line<S: AsRef<str>>(out: &mut String, fields: impl Iterator<Item = Option<S>>) {
    for (i, f) in fields.enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_field(out, f.as_ref().map(AsRef::as_ref));
    }
    out.push_str("\r\n");
}

/// A line of text cells, each made formula-safe (the audit export, rejected rows).
pub fn push_text_line<S: AsRef<str>>(out: &mut String, cells: impl Iterator<Item = S>) {
    push_line(
        out,
        cells.map(|c| Some(formula_safe(c.as_ref()).into_owned())),
    );
}

/// The delimiter a file uses: the most frequent of `,` `;` and tab on its first line
/// (outside quotes); a comma when none appears.
pub fn detect_delimiter(head: &[u8]) -> u8 {
    let mut counts = [0usize; 3];
    let mut quoted = false;
    for &b in head {
        match b {
            b'"' => quoted = !quoted,
            b'\n' | b'\r' if !quoted => break,
            b',' if !quoted => counts[0] += 1,
            b';' if !quoted => counts[1] += 1,
            b'\t' if !quoted => counts[2] += 1,
            _ => {}
        }
    }
    let best = (0..3).max_by_key(|&i| (counts[i], 3 - i)).unwrap_or(0);
    if counts[best] == 0 {
        b','
    } else {
        [b',', b';', b'\t'][best]
    }
}

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// A reader over a CSV file: BOM skipped, delimiter detected, header expected, rows of
/// any length accepted (the importer says which row is short or long).
pub fn open(path: &Path) -> std::io::Result<(csv::Reader<BufReader<File>>, u8)> {
    let mut file = File::open(path)?;
    let mut head = Vec::with_capacity(64 * 1024);
    (&mut file).take(64 * 1024).read_to_end(&mut head)?;
    let bom = head.starts_with(BOM);
    let body = if bom { &head[BOM.len()..] } else { &head[..] };
    let delimiter = detect_delimiter(body);
    file.seek(SeekFrom::Start(if bom { BOM.len() as u64 } else { 0 }))?;
    let reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(true)
        .flexible(true)
        .from_reader(BufReader::with_capacity(64 * 1024, file));
    Ok((reader, delimiter))
}

/// The header of a file opened with `open`, as text.
pub fn headers<R: Read>(reader: &mut csv::Reader<R>) -> Result<Vec<String>, String> {
    let head = reader
        .byte_headers()
        .map_err(|e| format!("The file's header could not be read: {e}."))?;
    let names = head
        .iter()
        .map(|h| {
            let h = std::str::from_utf8(h)
                .map_err(|_| "The file's header is not UTF-8 text.".to_string())?;
            if h.contains('\0') {
                return Err("The file's header holds a NUL character (\\0).".to_string());
            }
            Ok(h.trim().to_string())
        })
        .collect::<Result<Vec<_>, _>>()?;
    if names.iter().all(String::is_empty) {
        return Err("The file is empty: it needs a header row naming the columns.".into());
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delimiters_are_detected_outside_quotes() {
        assert_eq!(detect_delimiter(b"a,b,c\n1,2,3"), b',');
        assert_eq!(detect_delimiter(b"a;b;c\n"), b';');
        assert_eq!(detect_delimiter(b"a\tb\tc"), b'\t');
        assert_eq!(detect_delimiter(b"\"x,y,z\";b\n"), b';');
        assert_eq!(detect_delimiter(b"single"), b',');
    }

    #[test]
    fn fields_tell_null_from_empty_and_neutralise_formulas() {
        let mut out = String::new();
        push_line(
            &mut out,
            [Some("a,b"), None, Some(""), Some("x")].into_iter(),
        );
        assert_eq!(out, "\"a,b\",,\"\",x\r\n");
        assert_eq!(formula_safe("=1+1"), "'=1+1");
        assert_eq!(formula_safe("plain"), "plain");
    }
}
