//! An import of a spooled CSV file, as the import page and the API run it: open the file
//! (BOM, delimiter), read its header, check the mapping, import. Problems with the file or
//! the mapping are 422s with a message; rows refused are `ImportError::Rejected`.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use crate::audit::Actor;
use crate::catalog::{Catalog, Table};
use crate::db::DbConn;
use crate::engine::csvio;
use crate::engine::store::import::{ImportError, Job, Outcome, import};
use crate::engine::store::import_plan::{Mode, Plan, Source, default_sources, unknown_headers};
use crate::error::AppError;

pub struct FileImport {
    pub path: PathBuf,
    /// The table as the importing role sees it (hidden columns gone).
    pub table: Arc<Table>,
    pub mode: Mode,
    pub key: Option<String>,
    /// The mapping chosen on the page; `None`: columns by header name, and a header that
    /// names no column (or a hidden one) is refused.
    pub sources: Option<Vec<Source>>,
    pub file_name: String,
}

/// The header of a spooled file, or why it cannot be read.
pub fn file_headers(path: &std::path::Path) -> Result<Vec<String>, AppError> {
    let (mut reader, _) = csvio::open(path).map_err(AppError::caused_by)?;
    csvio::headers(&mut reader).map_err(AppError::Unprocessable)
}

pub fn run_file(
    conn: &mut DbConn,
    catalog: &Catalog,
    request: &FileImport,
    actor: &Actor,
    rejected: Option<&mut dyn Write>,
) -> Result<Outcome, ImportError> {
    let (mut reader, _) = csvio::open(&request.path).map_err(AppError::caused_by)?;
    let headers = csvio::headers(&mut reader).map_err(AppError::Unprocessable)?;
    let sources = match &request.sources {
        Some(s) => s.clone(),
        None => {
            let unknown = unknown_headers(&request.table, &headers);
            if !unknown.is_empty() {
                return Err(AppError::Unprocessable(format!(
                    "The file's columns {} are not columns of {} that can be imported into.",
                    unknown.join(", "),
                    request.table.name
                ))
                .into());
            }
            default_sources(&request.table, &headers)
        }
    };
    let plan = Plan::new(
        request.table.clone(),
        request.mode,
        request.key.as_deref(),
        sources,
        headers,
    )
    .map_err(AppError::Unprocessable)?;
    let job = Job {
        catalog,
        plan: &plan,
        actor,
        file_name: &request.file_name,
        rejected: rejected.map(|w| -> &mut dyn Write { w }),
        progress: None,
    };
    import(conn, job, &mut reader)
}
