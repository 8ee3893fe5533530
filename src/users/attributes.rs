//! `POST /users/{id}/attributes`, for administrators: an operator's attributes (key/value
//! pairs that row rules read as `$me.<key>`), added, edited and removed in one form,
//! checked all at once (nothing is saved when a row is wrong), audited.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};

use crate::audit::Actor;
use crate::error::AppError;
use crate::identity::permissions::{Admin, RightsCache};
use crate::identity::row_rules::{self, MAX_ATTRIBUTES};
use crate::state::AppState;
use crate::users::routes::form_of;
use crate::users::rules_store;
use crate::users::views::AttributeRow;
use crate::web::form::Pairs;
use crate::web::page::{self, Layout};

/// Why a row cannot be stored: the core's rule for keys and values, and a value is needed.
fn problem(key: &str, value: &str) -> Option<String> {
    if value.is_empty() {
        return Some(format!("Give {key} a value, or tick \"remove\"."));
    }
    if value.chars().any(|c| c.is_control()) {
        return Some("A value cannot hold control characters.".into());
    }
    row_rules::attribute_refusal(key, value)
}

/// Every value submitted under `name`, in order.
fn field<'a>(pairs: &'a Pairs, name: &'a str) -> impl Iterator<Item = &'a String> {
    pairs.iter().filter(move |(k, _)| k == name).map(|(_, v)| v)
}

/// The rows as submitted (key and value fields pair up in order), without removed and
/// empty ones, each with its problem.
pub fn read_rows(pairs: &Pairs) -> Vec<AttributeRow> {
    let removed: Vec<&String> = field(pairs, "remove").collect();
    let mut seen: Vec<String> = Vec::new();
    field(pairs, "key")
        .zip(field(pairs, "value"))
        .enumerate()
        .filter(|(i, _)| !removed.contains(&&(i + 1).to_string()))
        .map(|(_, (k, v))| (k.trim().to_string(), v.trim().to_string()))
        .filter(|(k, v)| !(k.is_empty() && v.is_empty()))
        .map(|(key, value)| {
            let error = problem(&key, &value)
                .or_else(|| seen.contains(&key).then(|| format!("{key} appears twice.")));
            seen.push(key.clone());
            AttributeRow { key, value, error }
        })
        .collect()
}

pub async fn save(
    req: HttpRequest,
    admin: Admin,
    state: web::Data<AppState>,
    rights_cache: web::Data<RightsCache>,
    id: web::Path<String>,
    pairs: web::Form<Pairs>,
) -> Result<HttpResponse, AppError> {
    let mut rows = read_rows(&pairs);
    let too_many = rows.len() > MAX_ATTRIBUTES;
    if too_many || rows.iter().any(|r| r.error.is_some()) {
        let mut page = form_of(Layout::build(&req), &state, &admin, &id).await?;
        page.attributes_error = Some(if too_many {
            format!("Nothing was saved: an operator has at most {MAX_ATTRIBUTES} attributes.")
        } else {
            "Nothing was saved: correct the marked attributes.".to_string()
        });
        rows.push(AttributeRow::default());
        page.attributes = rows;
        return page::render(StatusCode::UNPROCESSABLE_ENTITY, &page);
    }
    let saved: Vec<(String, String)> = rows.into_iter().map(|r| (r.key, r.value)).collect();
    let (uid, actor) = (id.into_inner(), Actor::from(&admin.0.user));
    let user = uid.clone();
    state
        .db
        .run(move |conn| rules_store::save_attributes(conn, &user, &saved, &actor))
        .await?;
    rights_cache.forget_all();
    let back = format!("/users/{uid}");
    Ok(page::done(&req, &back, "success", "Attributes saved."))
}
