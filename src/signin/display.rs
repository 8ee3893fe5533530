//! `/account/settings`: the operator's own display settings (time zone, theme).

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use crate::error::AppError;
use crate::identity::CurrentUser;
use crate::identity::settings::{self, Settings};
use crate::state::AppState;
use crate::web::page;

#[derive(Deserialize)]
pub struct SettingsForm {
    #[serde(default)]
    time_zone: String,
    #[serde(default)]
    theme: String,
}

pub async fn save(
    req: HttpRequest,
    user: CurrentUser,
    state: web::Data<AppState>,
    form: web::Form<SettingsForm>,
) -> Result<HttpResponse, AppError> {
    let chosen = match Settings::parse(&form.time_zone, &form.theme) {
        Ok(chosen) => chosen,
        Err(problem) => return Ok(page::done(&req, "/account", "error", &problem)),
    };
    let uid = user.id.clone();
    state
        .db
        .run(move |conn| settings::save(conn, &uid, &chosen))
        .await?;
    Ok(page::done(
        &req,
        "/account",
        "success",
        "Display settings saved.",
    ))
}
