//! The console's handlers: the page, a run (full page, or the result fragment for htmx),
//! cancel, CSV export, saved queries. Every one requires the "run SQL" right; write mode
//! also "write SQL".

use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::StreamExt;
use serde::Deserialize;

use super::export::{Chunk, CsvSink};
use super::runner::{Collected, Console, Job, Stop};
use super::store;
use super::views::{ConsolePage, Editor, ResultPartial, ResultView};
use crate::audit::Actor;
use crate::db::{Backend, new_id};
use crate::engine::store::CountCache;
use crate::error::AppError;
use crate::identity::permissions::Access;
use crate::state::AppState;
use crate::web::form::{Pairs, get};
use crate::web::page::{self, Layout, Page};
use crate::web::{is_htmx, recent};

fn allowed(access: &Access) -> Result<(), AppError> {
    if access.rights.run_sql {
        Ok(())
    } else {
        Err(AppError::Forbidden(
            "The SQL console needs the \"run SQL\" right.".into(),
        ))
    }
}

fn write_refused() -> AppError {
    AppError::Forbidden("Write mode needs the \"write SQL\" right.".into())
}

#[derive(Deserialize)]
pub struct Load {
    history: Option<String>,
    query: Option<String>,
}

pub async fn index(
    access: Access,
    Page(layout): Page,
    state: web::Data<AppState>,
    console: web::Data<Console>,
    load: web::Query<Load>,
) -> Result<HttpResponse, AppError> {
    allowed(&access)?;
    let Load { history, query } = load.into_inner();
    let (user, role) = (access.user.id.clone(), access.user.role.clone());
    let sql = state
        .db
        .run(move |c| Ok(store::statement_to_load(c, &user, &role, history, query)?))
        .await?;
    let editor = Editor {
        sql: sql.unwrap_or_default(),
        write: false,
        run_id: new_id(),
        action: "run".into(),
    };
    let page = console_page(layout, &state, &console, &access, editor, None, None).await?;
    page::ok(&page)
}

pub async fn run(
    req: HttpRequest,
    access: Access,
    state: web::Data<AppState>,
    console: web::Data<Console>,
    form: web::Form<Pairs>,
    counts: web::Data<CountCache>,
) -> Result<HttpResponse, AppError> {
    allowed(&access)?;
    let input = RunInput::from(&form);
    if input.editor.write && !access.rights.write_sql {
        return Err(write_refused());
    }
    let (confirm, result) = outcome(&state, &console, &access, &input, &counts).await?;
    if !(input.editor.write && input.confirmed) {
        recent::read_only(&req);
    }
    if is_htmx(&req) {
        let (csrf, editor) = (crate::web::csrf::token(&req), input.editor);
        return page::ok(&ResultPartial {
            csrf,
            editor,
            result,
            confirm,
        });
    }
    let page = console_page(
        Layout::build(&req),
        &state,
        &console,
        &access,
        input.editor,
        result,
        confirm,
    );
    page::ok(&page.await?)
}

pub async fn cancel(
    req: HttpRequest,
    access: Access,
    state: web::Data<AppState>,
    console: web::Data<Console>,
    form: web::Form<Pairs>,
) -> Result<HttpResponse, AppError> {
    allowed(&access)?;
    let run = get(&form, "run").unwrap_or_default();
    let (owner, run_id) = (access.user.id.clone(), run.to_string());
    let found = match console.cancel(&owner, run) {
        Some(Stop::Replica(pid)) => console.cancel_on_replica(pid).await.map(|()| true)?,
        local => {
            // Here on the primary, or (not running here) wherever `gh_sql_runs` says it runs.
            let pid = local.map(|(Stop::Primary(pid) | Stop::Replica(pid))| pid);
            let run = move |c: &mut _| match pid {
                Some(pid) => Ok(store::cancel_backend(c, pid).map(|()| true)?),
                None => Ok(store::cancel_elsewhere(c, &owner, &run_id)?),
            };
            state.db.run(run).await?
        }
    };
    let message = if found {
        "The statement is being cancelled."
    } else {
        "No statement of yours is running."
    };
    if is_htmx(&req) {
        return Ok(HttpResponse::NoContent().finish());
    }
    Ok(page::done(&req, "/sql", "success", message))
}

pub async fn export_csv(
    req: HttpRequest,
    access: Access,
    console: web::Data<Console>,
    form: web::Form<Pairs>,
) -> Result<HttpResponse, AppError> {
    allowed(&access)?;
    let sql = get(&form, "sql").unwrap_or_default();
    check_statement(sql).map_err(AppError::Unprocessable)?;
    let job = Job::read_only(sql);
    recent::read_only(&req);
    let (sink, mut rx) = CsvSink::channel();
    let done = console
        .start(&access.user.id, &new_id(), job, sink)
        .map_err(|f| AppError::TooManyRequests(f.message()))?;
    actix_web::rt::spawn(async move {
        if let Ok((sink, finished)) = done.await {
            sink.finish(finished).await;
        }
    });
    let first = match rx.recv().await {
        Some(Chunk::Failed(f)) => return Err(AppError::Unprocessable(f.message())),
        first => first,
    };
    let rest =
        futures_util::stream::unfold(rx, |mut rx| async { rx.recv().await.map(|c| (c, rx)) });
    let body = futures_util::stream::iter(first)
        .chain(rest)
        .map(|chunk| match chunk {
            Chunk::Data(bytes) => Ok(bytes),
            Chunk::Failed(f) => Err(actix_web::error::ErrorInternalServerError(f.message())),
        });
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header(("Content-Disposition", "attachment; filename=\"query.csv\""))
        .streaming(body))
}

pub async fn save_query(
    req: HttpRequest,
    access: Access,
    state: web::Data<AppState>,
    form: web::Form<Pairs>,
) -> Result<HttpResponse, AppError> {
    allowed(&access)?;
    let name = get(&form, "query_name").unwrap_or_default().to_string();
    let sql = get(&form, "sql").unwrap_or_default().to_string();
    let roles: Vec<String> = form
        .iter()
        .filter(|(k, _)| k == "share")
        .map(|(_, v)| v.clone())
        .collect();
    let user = access.user.id.clone();
    let saved = state
        .db
        .run(move |c| Ok(store::save_query(c, &user, &name, &sql, &roles)?))
        .await?;
    Ok(match saved {
        Ok(()) => page::done(&req, "/sql", "success", "Query saved."),
        Err(message) => page::done(&req, "/sql", "error", &message),
    })
}

pub async fn delete_query(
    req: HttpRequest,
    access: Access,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    allowed(&access)?;
    let (user, id) = (access.user.id.clone(), id.into_inner());
    let deleted = state
        .db
        .run(move |c| Ok(store::delete_query(c, &user, &id)?))
        .await?;
    if !deleted {
        return Err(AppError::NotFound);
    }
    Ok(page::done(&req, "/sql", "success", "Query deleted."))
}

/// A run as submitted.
struct RunInput {
    editor: Editor,
    confirmed: bool,
}

impl RunInput {
    fn from(form: &Pairs) -> RunInput {
        let action = get(form, "action")
            .filter(|a| matches!(*a, "explain" | "analyze"))
            .unwrap_or("run");
        let run_id = get(form, "run").filter(|r| !r.is_empty() && r.len() <= 64);
        RunInput {
            editor: Editor {
                sql: get(form, "sql").unwrap_or_default().to_string(),
                write: get(form, "write").is_some(),
                run_id: run_id.map_or_else(new_id, str::to_string),
                action: action.to_string(),
            },
            confirmed: get(form, "confirmed") == Some("yes"),
        }
    }

    /// The statement to run: the one typed, or asking for its plan.
    fn job(&self, backend: Backend) -> Result<Job, String> {
        let e = &self.editor;
        check_statement(&e.sql)?;
        let prefix = match (e.action.as_str(), backend) {
            ("explain", Backend::Sqlite) => "EXPLAIN QUERY PLAN ",
            ("explain", Backend::Postgres) => "EXPLAIN ",
            ("analyze", Backend::Postgres) if e.write => "EXPLAIN ANALYZE ",
            ("analyze", _) => return Err(
                "EXPLAIN ANALYZE runs the statement: it is offered in write mode on Postgres only."
                    .into(),
            ),
            _ => "",
        };
        Ok(Job {
            sql: format!("{prefix}{}", e.sql.trim()),
            write: e.write,
            audit: None,
        })
    }
}

fn check_statement(sql: &str) -> Result<(), String> {
    if sql.trim().is_empty() {
        Err("Type a statement to run.".into())
    } else if sql.contains('\0') {
        Err(crate::engine::value::NUL_REFUSED.into())
    } else {
        Ok(())
    }
}

/// The confirmation to ask for (write mode, not confirmed yet), or the statement's result;
/// after a write, every remembered count, page mark and label is forgotten.
async fn outcome(
    state: &AppState,
    console: &Console,
    access: &Access,
    input: &RunInput,
    counts: &CountCache,
) -> Result<(Option<String>, Option<ResultView>), AppError> {
    if input.editor.write && !input.confirmed {
        return Ok((Some(input.editor.sql.clone()), None));
    }
    let ran = execute(state, console, access, input).await;
    if input.editor.write {
        // Whatever it wrote (even if it then failed), lists count and label it afresh.
        counts.invalidate_all();
    }
    Ok((None, Some(ran?)))
}

/// Run the statement, then remember it in the operator's history (and the audit log in
/// write mode).
async fn execute(
    state: &AppState,
    console: &Console,
    access: &Access,
    input: &RunInput,
) -> Result<ResultView, AppError> {
    let mut job = match input.job(state.db.backend()) {
        Ok(job) => job,
        Err(message) => return Ok(ResultView::failed(message)),
    };
    if job.write {
        job.audit = Some(Actor::from(&access.user));
    }
    let (write, plan) = (job.write, input.editor.action != "run");
    let started = console.start(
        &access.user.id,
        &input.editor.run_id,
        job.clone(),
        Collected::default(),
    );
    let result = match started {
        Err(failure) => return Ok(failure.into()),
        Ok(done) => {
            let (collected, finished) = done
                .await
                .map_err(|_| AppError::internal("the console's statement thread gave no answer"))?;
            ResultView::of(collected, finished, write, plan)
        }
    };
    let (user, actor, outcome) = (
        access.user.id.clone(),
        Actor::from(&access.user),
        result.outcome(),
    );
    let failed = result.error.is_some();
    state
        .db
        .run(move |c| {
            store::remember(c, &user, &job.sql, write, &outcome)?;
            // A statement that ran has its entry already, committed with it.
            if write && failed {
                store::audit_write(c, &actor, &job.sql, &outcome)?;
            }
            Ok(())
        })
        .await?;
    Ok(result)
}

/// The whole page: the editor, a result or a confirmation, saved queries, history.
async fn console_page(
    layout: Layout,
    state: &AppState,
    console: &Console,
    access: &Access,
    editor: Editor,
    result: Option<ResultView>,
    confirm: Option<String>,
) -> Result<ConsolePage, AppError> {
    let (user, role) = (access.user.id.clone(), access.user.role.clone());
    let (history, saved, roles) = state
        .db
        .run(move |c| {
            Ok((
                store::history(c, &user)?,
                store::saved_queries(c, &user, &role)?,
                crate::identity::roles::role_names(c)?,
            ))
        })
        .await?;
    Ok(ConsolePage {
        csrf: layout.csrf.clone(),
        layout,
        editor,
        can_write: access.rights.write_sql,
        postgres: state.db.backend() == Backend::Postgres,
        timeout: crate::config::short(console.timeout()),
        result,
        confirm,
        history,
        saved,
        roles,
    })
}
