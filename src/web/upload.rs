//! Request bodies spooled to a file on disk, never held in memory, under a limit of their
//! own (an import's `--import-max-bytes`): a body over it is refused with 413 naming it.

use std::fmt::Display;
use std::io::Write;

use actix_web::HttpRequest;
use actix_web::web::Bytes;
use futures_util::{Stream, StreamExt};

use crate::error::AppError;

/// The 413 for a file over `limit` bytes.
pub fn too_large(limit: u64) -> AppError {
    AppError::TooLarge(format!(
        "The file is larger than the import limit of {} ({limit} bytes, set by --import-max-bytes). Nothing was imported.",
        size_label(limit)
    ))
}

/// `50 MiB`, `512 KiB`, `900 bytes`.
pub fn size_label(bytes: u64) -> String {
    const KIB: u64 = 1024;
    match bytes {
        b if b >= KIB * KIB && b % (KIB * KIB) == 0 => format!("{} MiB", b / (KIB * KIB)),
        b if b >= KIB * KIB => format!("{:.1} MiB", b as f64 / (KIB * KIB) as f64),
        b if b >= KIB => format!("{:.0} KiB", b as f64 / KIB as f64),
        b => format!("{b} bytes"),
    }
}

/// Refuse at once a request whose declared length is over the limit.
pub fn check_length(req: &HttpRequest, limit: u64) -> Result<(), AppError> {
    let declared = req
        .headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    match declared {
        Some(n) if n > limit => Err(too_large(limit)),
        _ => Ok(()),
    }
}

/// Write the stream to `out`, chunk by chunk; 413 past `limit` bytes. Returns the size.
pub async fn spool<S, E>(mut stream: S, limit: u64, out: &mut impl Write) -> Result<u64, AppError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: Display,
{
    let mut size = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk =
            chunk.map_err(|e| AppError::Invalid(format!("The upload could not be read: {e}.")))?;
        size += chunk.len() as u64;
        if size > limit {
            return Err(too_large(limit));
        }
        out.write_all(&chunk).map_err(AppError::caused_by)?;
    }
    out.flush().map_err(AppError::caused_by)?;
    Ok(size)
}
