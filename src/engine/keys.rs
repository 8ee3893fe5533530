//! Row keys in URLs: each key value percent-encoded (commas included) and the parts of a
//! composite key joined by commas, so `/data/order_items/12,3` is unambiguous. Handlers
//! read the raw path segment, so a key holding `/` or `,` survives the trip.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

use crate::catalog::{Kind, RowKey, Table};
use crate::engine::value::Value;
use crate::error::AppError;

// Note: a key that is exactly `.` or `..` cannot be addressed: URL parsers treat it (even
// percent-encoded) as a dot segment and remove it.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

pub fn encode_part(text: &str) -> String {
    utf8_percent_encode(text, COMPONENT).to_string()
}

/// The URL segment for a row with these key values.
pub fn encode(values: &[Value]) -> String {
    values
        .iter()
        .map(|v| encode_part(&v.as_text().unwrap_or_default()))
        .collect::<Vec<_>>()
        .join(",")
}

/// The key values from a raw (still percent-encoded) URL segment.
pub fn decode(raw: &str, table: &Table) -> Result<Vec<Value>, AppError> {
    let parts: Vec<String> = raw
        .split(',')
        .map(|p| percent_decode_str(p).decode_utf8().map(|s| s.into_owned()))
        .collect::<Result<_, _>>()
        .map_err(|_| AppError::NotFound)?;
    let kinds: Vec<Kind> = match &table.key {
        RowKey::Primary(cols) => cols
            .iter()
            .map(|c| table.column(c).map_or(Kind::Text, |c| c.kind))
            .collect(),
        RowKey::RowId => vec![Kind::Int],
        RowKey::None => return Err(AppError::NotFound),
    };
    if parts.len() != kinds.len() {
        return Err(AppError::NotFound);
    }
    parts
        .into_iter()
        .zip(kinds)
        .map(|(p, kind)| match kind {
            Kind::Int => p
                .parse::<i64>()
                .map(Value::Int)
                .map_err(|_| AppError::NotFound),
            _ => Ok(Value::Text(p)),
        })
        .collect()
}

/// The key of the row a path names, from its raw `{key}` segment; 404 without one.
pub fn from_path(raw: Option<&str>, table: &Table) -> Result<Vec<Value>, AppError> {
    decode(raw.ok_or(AppError::NotFound)?, table)
}

pub fn decode_segment(raw: &str) -> Result<String, AppError> {
    percent_decode_str(raw)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| AppError::NotFound)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn composite_keys_with_commas_and_slashes_round_trip() {
        let values = vec![Value::Text("a,b/c".into()), Value::Text("100%".into())];
        let encoded = encode(&values);
        assert_eq!(encoded, "a%2Cb%2Fc,100%25");
        let parts: Vec<String> = encoded
            .split(',')
            .map(|p| decode_segment(p).unwrap())
            .collect();
        assert_eq!(parts, vec!["a,b/c", "100%"]);
    }
}
