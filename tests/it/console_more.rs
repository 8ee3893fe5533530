//! Issue 11's leftovers in the SQL console, on both backends: write mode's audit entry is
//! written in the statement's own transaction (an entry that cannot be written takes the
//! statement back with it); a result without rows still shows its column headers; the
//! "SQL" link is shown to every role holding "run SQL" (not administrators only) and the
//! schema actions to roles holding "change schema".

use reqwest::StatusCode;

use crate::common::{Backend, Session, TestApp};
use crate::console::{create_analyst_role, operator, people, run};

both_backends!(
    write_mode_audit_entry_commits_and_rolls_back_with_the_statement,
    a_result_without_rows_shows_its_column_headers,
    the_sql_link_and_schema_actions_follow_the_rights,
);

async fn write_mode_audit_entry_commits_and_rolls_back_with_the_statement(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    app.sql(&people(backend));
    let tab = app.session();
    let write = [("write", "on"), ("confirmed", "yes")];
    let (_, body) = run(&tab, "UPDATE people SET note = 'x'", &write).await;
    assert!(body.contains("2 rows changed, committed"), "{body}");
    let audited = app
        .scalar("SELECT changes FROM gh_audit WHERE action = 'sql.executed'")
        .expect("an audit entry");
    assert!(audited.contains("2 rows changed"), "{audited}");
    // A statement that takes the audit log away cannot have its entry written inside its
    // transaction: so it does not happen at all.
    let (_, body) = run(&tab, "ALTER TABLE gh_audit RENAME TO gh_audit_gone", &write).await;
    assert!(body.contains("form-error"), "{body}");
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM gh_audit WHERE action = 'sql.executed'")
            .as_deref(),
        Some("2"),
        "the log is still there, with the refused attempt recorded after it"
    );
    let failed = app
        .scalar(
            "SELECT changes FROM gh_audit WHERE action = 'sql.executed' AND changes LIKE '%gh_audit_gone%'",
        )
        .expect("the attempt is recorded");
    assert!(failed.contains("error:"), "{failed}");
    // The next statement gets its own entry again.
    let (_, body) = run(&tab, "DELETE FROM people WHERE name = 'Ada'", &write).await;
    assert!(body.contains("1 row changed"), "{body}");
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM gh_audit WHERE action = 'sql.executed'")
            .as_deref(),
        Some("3")
    );
}

async fn a_result_without_rows_shows_its_column_headers(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    app.sql(&people(backend));
    let tab = app.session();
    let (status, body) = run(
        &tab,
        "SELECT id AS alpha, name AS beta FROM people WHERE name = 'nobody';",
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("0 rows"), "{body}");
    assert!(body.contains(">alpha</th>"), "{body}");
    assert!(body.contains(">beta</th>"), "{body}");
    let (_, body) = run(
        &tab,
        "WITH x AS (SELECT name FROM people) SELECT name AS gamma FROM x WHERE false -- done",
        &[],
    )
    .await;
    assert!(body.contains(">gamma</th>"), "{body}");
}

async fn the_sql_link_and_schema_actions_follow_the_rights(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    app.sql(&people(backend));
    let link = "<a href=\"/sql\"";
    assert!(app.session().page("/").await.contains(link), "admins");
    create_analyst_role(&app, false).await;
    let analyst = operator(&app, "analyst@example.com", "analyst").await;
    let viewer = operator(&app, "viewer@example.com", "viewer").await;
    let theirs = Session::of(&app, &analyst);
    let home = theirs.page("/").await;
    assert!(
        home.contains(link),
        "a role with \"run SQL\" sees the link: {home}"
    );
    assert!(
        !home.contains("href=\"/users\""),
        "and still no administration"
    );
    let list = theirs.page("/data/people").await;
    assert!(
        !list.contains("/data/people/schema"),
        "no schema right, no action"
    );
    let viewers = Session::of(&app, &viewer);
    assert!(!viewers.page("/").await.contains(link), "viewers do not");

    // "Change schema" shows the schema actions to a role that is not administrator.
    let res = app
        .post_form(
            "/roles/analyst",
            "/roles/analyst",
            &[
                ("t.people.r", "on"),
                ("run_sql", "on"),
                ("change_schema", "on"),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let list = theirs.page("/data/people").await;
    assert!(list.contains("href=\"/data/people/schema\""), "{list}");
}
