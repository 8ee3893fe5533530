//! The import page's files: an upload spooled to `<data dir>/imports/<id>.csv` (with its
//! owner, table and name beside it), its rejected rows, and the mapping and preview the
//! page builds from the file's first rows. An upload belongs to the operator who sent it
//! and is gone after a successful import or a day.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use actix_multipart::Multipart;
use actix_web::HttpRequest;
use futures_util::StreamExt;

use crate::catalog::Table;
use crate::db::secrets::random_token;
use crate::engine::csvio;
use crate::engine::store::{Mode, Source, cell, default_sources};
use crate::engine::value::display;
use crate::error::AppError;
use crate::identity::permissions::Access;
use crate::state::AppState;
use crate::web::form::{Pairs, get};
use crate::web::upload;

/// Rows the mapping page previews.
pub const PREVIEW_ROWS: usize = 20;
const KEEP_FOR: Duration = Duration::from_secs(24 * 3600);

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Meta {
    pub owner: String,
    pub table: String,
    pub file_name: String,
    pub size: u64,
}

pub struct Upload {
    pub id: String,
    pub meta: Meta,
    dir: PathBuf,
}

impl Upload {
    pub fn csv(&self) -> PathBuf {
        self.dir.join(format!("{}.csv", self.id))
    }

    pub fn rejected(&self) -> PathBuf {
        self.dir.join(format!("{}.rejected.csv", self.id))
    }

    /// Remove the upload and its rejected rows.
    pub fn forget(&self) {
        for p in [
            self.csv(),
            self.rejected(),
            self.dir.join(format!("{}.json", self.id)),
        ] {
            let _ = std::fs::remove_file(p);
        }
    }
}

fn dir(state: &AppState) -> Result<PathBuf, AppError> {
    let dir = state.config.data_dir.join("imports");
    std::fs::create_dir_all(&dir).map_err(AppError::caused_by)?;
    Ok(dir)
}

/// Spool the form's `file` field; returns the new upload.
pub async fn receive(
    req: &HttpRequest,
    state: &AppState,
    access: &Access,
    table: &Table,
    mut form: Multipart,
) -> Result<Upload, AppError> {
    let limit = state.config.import_max_bytes;
    upload::check_length(req, limit)?;
    let dir = dir(state)?;
    sweep(&dir);
    let id = random_token();
    let path = dir.join(format!("{id}.csv"));
    while let Some(field) = form.next().await {
        let mut field =
            field.map_err(|e| AppError::Invalid(format!("The upload could not be read: {e}.")))?;
        if field.name() != Some("file") {
            continue;
        }
        let file_name = field
            .content_disposition()
            .and_then(|d| d.get_filename())
            .unwrap_or("upload.csv")
            .to_string();
        let mut out = std::fs::File::create(&path).map_err(AppError::caused_by)?;
        let size = match upload::spool(&mut field, limit, &mut out).await {
            Ok(size) => size,
            Err(e) => {
                let _ = std::fs::remove_file(&path);
                return Err(e);
            }
        };
        if size == 0 {
            let _ = std::fs::remove_file(&path);
            return Err(AppError::Unprocessable(
                "Choose a CSV file to import: the file sent is empty.".into(),
            ));
        }
        let meta = Meta {
            owner: access.user.id.clone(),
            table: table.name.clone(),
            file_name,
            size,
        };
        let json = serde_json::to_vec(&meta).map_err(AppError::caused_by)?;
        std::fs::write(dir.join(format!("{id}.json")), json).map_err(AppError::caused_by)?;
        return Ok(Upload { id, meta, dir });
    }
    Err(AppError::Unprocessable(
        "Choose a CSV file to import.".into(),
    ))
}

/// The upload `id` of this operator for this table (404 for anyone else's).
pub fn find(
    state: &AppState,
    access: &Access,
    table: &Table,
    id: &str,
) -> Result<Upload, AppError> {
    if id.is_empty()
        || !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(AppError::NotFound);
    }
    let dir = dir(state)?;
    let raw = std::fs::read(dir.join(format!("{id}.json"))).map_err(|_| AppError::NotFound)?;
    let meta: Meta = serde_json::from_slice(&raw).map_err(|_| AppError::NotFound)?;
    if meta.owner != access.user.id || meta.table != table.name {
        return Err(AppError::NotFound);
    }
    Ok(Upload {
        id: id.to_string(),
        meta,
        dir,
    })
}

/// Uploads left over for more than a day are removed.
fn sweep(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let now = SystemTime::now();
    for e in entries.flatten() {
        let old = e
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| now.duration_since(t).ok())
            .is_some_and(|age| age > KEEP_FOR);
        if old {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// The mapping the form (or the preview's address) asks for: `map.<column>` is `skip`,
/// `null`, `const` (with `const.<column>`) or `h<N>` (the file's field N); columns the form
/// does not name are matched by header name.
pub fn mapping(table: &Table, headers: &[String], pairs: &Pairs) -> Result<Vec<Source>, AppError> {
    let mut sources = default_sources(table, headers);
    for (i, c) in table.columns.iter().enumerate() {
        let Some(choice) = get(pairs, &format!("map.{}", c.name)) else {
            continue;
        };
        sources[i] = match choice {
            "" | "skip" => Source::Skip,
            "null" => Source::Null,
            "const" => Source::Constant(
                get(pairs, &format!("const.{}", c.name))
                    .unwrap_or("")
                    .to_string(),
            ),
            h => match h.strip_prefix('h').and_then(|n| n.parse::<usize>().ok()) {
                Some(n) if n < headers.len() => Source::Field(n),
                _ => {
                    return Err(AppError::Invalid(format!(
                        "Unknown choice for column {}.",
                        c.name
                    )));
                }
            },
        };
    }
    Ok(sources)
}

/// The mode and key the form asks for.
pub fn mode_and_key(pairs: &Pairs) -> Result<(Mode, Option<String>), AppError> {
    let mode = Mode::parse(get(pairs, "mode").unwrap_or("insert"))
        .ok_or_else(|| AppError::Invalid("Choose insert, upsert or update.".into()))?;
    let key = get(pairs, "key")
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .map(str::to_string);
    Ok((mode, key))
}

/// One previewed cell: the value as it will be written, or what is wrong with it.
pub struct PreviewCell {
    pub text: String,
    pub error: bool,
    pub default: bool,
}

/// The file's header and its first rows, each cell as the mapping will write it.
pub fn preview(
    path: &Path,
    table: &Table,
    sources: &[Source],
    mode: Mode,
) -> Result<(Vec<String>, Vec<Vec<PreviewCell>>), AppError> {
    let (mut reader, _) = csvio::open(path).map_err(AppError::caused_by)?;
    let headers = csvio::headers(&mut reader).map_err(AppError::Unprocessable)?;
    let mut rows = Vec::new();
    let mut record = csv::StringRecord::new();
    while rows.len() < PREVIEW_ROWS {
        match reader.read_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                rows.push(vec![PreviewCell {
                    text: format!("This row cannot be read: {e}."),
                    error: true,
                    default: false,
                }]);
                break;
            }
        }
        let cells = table
            .columns
            .iter()
            .zip(sources)
            .map(|(c, s)| {
                let raw = match s {
                    Source::Skip => {
                        return PreviewCell {
                            text: "(default)".into(),
                            error: false,
                            default: true,
                        };
                    }
                    Source::Null => {
                        return PreviewCell {
                            text: "NULL".into(),
                            error: false,
                            default: true,
                        };
                    }
                    Source::Constant(t) => t.as_str(),
                    Source::Field(f) => record.get(*f).unwrap_or(""),
                };
                match cell(c, raw, mode.creates()) {
                    Ok(None) => PreviewCell {
                        text: "(default)".into(),
                        error: false,
                        default: true,
                    },
                    Ok(Some(v)) if v.is_null() => PreviewCell {
                        text: "NULL".into(),
                        error: false,
                        default: true,
                    },
                    Ok(Some(v)) => PreviewCell {
                        text: display(&v, c),
                        error: false,
                        default: false,
                    },
                    Err(m) => PreviewCell {
                        text: m,
                        error: true,
                        default: false,
                    },
                }
            })
            .collect();
        rows.push(cells);
    }
    Ok((headers, rows))
}
