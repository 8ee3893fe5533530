//! The builder's database work, run inside `Db::run`: the choices its forms offer, and a
//! submitted change planned, then (once confirmed with the same SQL) applied.

use std::sync::Arc;

use crate::audit::Actor;
use crate::catalog::{Catalog, CatalogCache, RowKey};
use crate::db::DbConn;
use crate::engine::ddl::{self, Change, Plan};
use crate::engine::keys::encode_part;
use crate::error::AppError;
use crate::identity::permissions::Rights;
use crate::schema::form;
use crate::web::form::{Pairs, get};

/// What the forms offer: tables a foreign key may refer to, and enum types (Postgres).
pub struct Choices {
    pub catalog: Arc<Catalog>,
    /// Tables with a primary key: (name, its key columns).
    pub targets: Vec<(String, String)>,
    pub enums: Vec<String>,
}

pub fn choices(
    conn: &mut DbConn,
    cache: &CatalogCache,
    rights: &Rights,
) -> Result<Choices, AppError> {
    let catalog = rights.catalog_view(&cache.get(conn)?);
    let targets = catalog
        .tables
        .values()
        .filter_map(|t| match &t.key {
            RowKey::Primary(k) if !t.is_view => Some((t.name.clone(), k.join(", "))),
            _ => None,
        })
        .collect();
    let enums = ddl::enum_types(conn)?.into_iter().map(|(n, _)| n).collect();
    Ok(Choices {
        catalog,
        targets,
        enums,
    })
}

/// What became of a submitted change.
pub enum Outcome {
    /// Show the SQL and its impact, and ask (again) for confirmation.
    Preview {
        plan: Box<Plan>,
        /// The form's fields, to send again with the confirmation.
        fields: Pairs,
        note: Option<String>,
        status: u16,
    },
    Refused(String),
    Done {
        summary: String,
        location: String,
    },
}

/// Browsers send a form's line breaks as CRLF.
fn same_sql(submitted: &str, planned: &str) -> bool {
    submitted.replace("\r\n", "\n").trim() == planned.trim()
}

/// Plan the change a form asks for on `table` (a new table when `None`), and apply it
/// when the form confirms the very SQL planned.
pub fn submit(
    conn: &mut DbConn,
    cache: &CatalogCache,
    rights: &Rights,
    table: Option<&str>,
    pairs: &Pairs,
    actor: &Actor,
) -> Result<Outcome, AppError> {
    let catalog = rights.catalog_view(&cache.get(conn)?);
    let target = match table {
        Some(name) => Some(catalog.table(name)?),
        None => None,
    };
    let enums = ddl::enum_types(conn)?;
    let change = match table {
        None => form::new_table(pairs, &enums),
        Some(_) => form::alteration(pairs, &enums),
    };
    let change = match change {
        Ok(c) => c,
        Err(message) => return Ok(Outcome::Refused(message)),
    };
    let plan = match ddl::plan(conn, &catalog, target.as_deref(), &change)? {
        Ok(plan) => plan,
        Err(message) => return Ok(Outcome::Refused(message)),
    };
    let fields: Pairs = pairs
        .iter()
        .filter(|(k, _)| !["csrf_token", "confirm", "sql", "confirm_name"].contains(&k.as_str()))
        .cloned()
        .collect();
    let preview = |note: Option<String>, status: u16| Outcome::Preview {
        plan: Box::new(plan.clone()),
        fields: fields.clone(),
        note,
        status,
    };
    if get(pairs, "confirm") != Some("yes") {
        return Ok(preview(None, 200));
    }
    if !same_sql(get(pairs, "sql").unwrap_or(""), &plan.script()) {
        return Ok(preview(
            Some(
                "The schema changed since this preview was made: check the SQL below again.".into(),
            ),
            409,
        ));
    }
    if let Some(name) = &plan.confirm_name
        && get(pairs, "confirm_name").map(str::trim) != Some(name.as_str())
    {
        return Ok(preview(Some(format!("Type {name} to confirm.")), 422));
    }
    Ok(match ddl::apply(conn, &plan, actor, cache)? {
        Ok(_) => Outcome::Done {
            location: location(&change, &plan),
            summary: plan.summary,
        },
        Err(message) => Outcome::Refused(message),
    })
}

fn location(change: &Change, plan: &Plan) -> String {
    match change {
        Change::CreateTable(t) => format!("/data/{}", encode_part(&t.name)),
        Change::DropTable => "/data".into(),
        Change::RenameTable { to } => format!("/data/{}/schema", encode_part(to)),
        _ => format!("/data/{}/schema", encode_part(&plan.table)),
    }
}
