//! The import pages' templates: the upload form, the mapping with its preview, and the
//! problems of a refused file.

use askama::Template;

use crate::catalog::Table;
use crate::data::import_files::PreviewCell;
use crate::data::views::table_path;
use crate::engine::store::{Mode, Problem, Source, importable};
use crate::web::page::Layout;

#[derive(Template)]
#[template(path = "data/import.html")]
pub struct UploadPage {
    pub layout: Layout,
    pub table: String,
    pub path: String,
    pub limit: String,
    pub error: Option<String>,
}

impl UploadPage {
    pub fn new(layout: Layout, table: &Table, limit: u64) -> UploadPage {
        UploadPage {
            layout,
            table: table.name.clone(),
            path: table_path(&table.name),
            limit: crate::web::upload::size_label(limit),
            error: None,
        }
    }
}

pub struct MapColumn {
    pub name: String,
    pub type_label: String,
    pub required: bool,
    /// `skip`, `null`, `const` or `h<N>`.
    pub choice: String,
    pub constant: String,
    pub nullable: bool,
}

#[derive(Template)]
#[template(path = "data/import_map.html")]
pub struct MapPage {
    pub layout: Layout,
    pub table: String,
    pub path: String,
    pub id: String,
    pub file_name: String,
    pub size: String,
    pub headers: Vec<String>,
    /// (`h<N>`, header) for the mapping's options.
    pub header_choices: Vec<(String, String)>,
    pub columns: Vec<MapColumn>,
    pub mode: String,
    pub modes: Vec<(&'static str, &'static str)>,
    pub key: String,
    pub keys: Vec<String>,
    pub rows: Vec<Vec<PreviewCell>>,
    pub error: Option<String>,
}

/// What the mapping page needs to show besides the table.
pub struct MapState {
    pub id: String,
    pub file_name: String,
    pub size: u64,
    pub headers: Vec<String>,
    pub sources: Vec<Source>,
    pub mode: Mode,
    pub key: Option<String>,
    pub rows: Vec<Vec<PreviewCell>>,
    pub modes: Vec<(&'static str, &'static str)>,
}

impl MapPage {
    pub fn new(layout: Layout, table: &Table, s: MapState, error: Option<String>) -> MapPage {
        let columns = table
            .columns
            .iter()
            .zip(&s.sources)
            .filter(|(c, _)| importable(c))
            .map(|(c, src)| MapColumn {
                name: c.name.clone(),
                type_label: c.data_type.clone(),
                required: c.required(),
                choice: match src {
                    Source::Skip => "skip".into(),
                    Source::Null => "null".into(),
                    Source::Constant(_) => "const".into(),
                    Source::Field(n) => format!("h{n}"),
                },
                constant: match src {
                    Source::Constant(t) => t.clone(),
                    _ => String::new(),
                },
                nullable: c.nullable,
            })
            .collect();
        let mut keys: Vec<String> = table
            .indexes
            .iter()
            .filter(|i| i.unique && i.columns.len() == 1)
            .map(|i| i.columns[0].clone())
            .collect();
        keys.sort();
        keys.dedup();
        let shown: Vec<usize> = (0..table.columns.len())
            .filter(|i| importable(&table.columns[*i]))
            .collect();
        let rows = s
            .rows
            .into_iter()
            .map(|mut r| {
                if r.len() == table.columns.len() {
                    let mut kept = Vec::with_capacity(shown.len());
                    for (i, cell) in r.drain(..).enumerate() {
                        if shown.contains(&i) {
                            kept.push(cell);
                        }
                    }
                    kept
                } else {
                    r
                }
            })
            .collect();
        MapPage {
            layout,
            table: table.name.clone(),
            path: table_path(&table.name),
            id: s.id,
            file_name: s.file_name,
            size: crate::web::upload::size_label(s.size),
            header_choices: s
                .headers
                .iter()
                .enumerate()
                .map(|(i, h)| (format!("h{i}"), h.clone()))
                .collect(),
            headers: s.headers,
            columns,
            mode: s.mode.as_str().into(),
            modes: s.modes,
            key: s.key.unwrap_or_default(),
            keys,
            rows,
            error,
        }
    }
}

#[derive(Template)]
#[template(path = "data/import_problems.html")]
pub struct ProblemsPage {
    pub layout: Layout,
    pub table: String,
    pub path: String,
    pub id: String,
    pub file_name: String,
    pub problems: Vec<String>,
    pub problem_count: u64,
    pub rejected_rows: u64,
    pub rows: u64,
}

impl ProblemsPage {
    pub fn new(
        layout: Layout,
        table: &Table,
        id: &str,
        file_name: &str,
        problems: &[Problem],
        counts: (u64, u64, u64),
    ) -> ProblemsPage {
        let mut sorted: Vec<&Problem> = problems.iter().collect();
        sorted.sort_by_key(|p| p.row);
        ProblemsPage {
            layout,
            table: table.name.clone(),
            path: table_path(&table.name),
            id: id.to_string(),
            file_name: file_name.to_string(),
            problems: sorted.iter().map(|p| p.describe()).collect(),
            problem_count: counts.0,
            rejected_rows: counts.1,
            rows: counts.2,
        }
    }
}
