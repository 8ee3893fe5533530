//! The SQL console on both backends: results shown as the data lists show them, read-only
//! by default with the database's own refusal, the timeout stopping a runaway statement
//! while the pages keep answering, cancel, write mode confirmed and audited, history and
//! saved queries, CSV export of the full result, and the "run SQL" / "write SQL" rights.

use std::time::{Duration, Instant};

use reqwest::StatusCode;

use crate::common::{Backend, Session, TestApp, location, new_client};

both_backends!(
    a_select_shows_typed_values_and_at_most_a_thousand_rows,
    the_full_result_exports_as_csv,
    read_only_mode_refuses_insert_update_and_ddl,
    the_timeout_stops_an_endless_query_while_pages_stay_responsive,
    a_running_statement_can_be_cancelled,
    write_mode_asks_first_commits_and_is_audited,
    history_keeps_fifty_statements_and_saved_queries_are_shared_with_roles,
    the_run_and_write_rights_are_enforced,
);

const PASSWORD: &str = "wobbly giraffe paints violet harbours";
/// A statement that never ends on either backend.
const ENDLESS: &str =
    "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT count(*) FROM r";

pub(crate) fn people(backend: Backend) -> String {
    let id = match backend {
        Backend::Sqlite => "INTEGER PRIMARY KEY",
        Backend::Postgres => "SERIAL PRIMARY KEY",
    };
    format!(
        "CREATE TABLE people (id {id}, name TEXT NOT NULL, note TEXT);
         INSERT INTO people (name, note) VALUES ('Ada', NULL), ('Grace', 'compilers');"
    )
}

/// Run `sql` from the console page as the tab's operator; the status and the page.
pub(crate) async fn run(
    tab: &Session<'_>,
    sql: &str,
    extra: &[(&str, &str)],
) -> (StatusCode, String) {
    // The first value of a name counts: the test's own fields come first.
    let mut fields = extra.to_vec();
    fields.extend_from_slice(&[("sql", sql), ("action", "run")]);
    let res = tab.post_form("/sql", "/sql", &fields).await;
    let status = res.status();
    (status, res.text().await.unwrap())
}

pub(crate) async fn operator(app: &TestApp, email: &str, role: &str) -> reqwest::Client {
    {
        let mut conn = app.db_conn();
        let hash = gatehouse::identity::password::hash(PASSWORD).unwrap();
        let new = gatehouse::identity::users::NewUser {
            email,
            display_name: email,
            password_hash: &hash,
            role,
        };
        gatehouse::identity::users::insert(&mut conn, new, gatehouse::db::now()).unwrap();
    }
    let client = new_client();
    Session::of(app, &client).sign_in(email, PASSWORD).await;
    client
}

/// The custom role `analyst`: reads `people` only in the data pages, may run SQL (not
/// write it).
pub(crate) async fn create_analyst_role(app: &TestApp, write: bool) {
    let mut fields = vec![("name", "analyst"), ("t.people.r", "on"), ("run_sql", "on")];
    if write {
        fields.push(("write_sql", "on"));
    }
    let res = app.post_form("/roles/new", "/roles", &fields).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
}

async fn a_select_shows_typed_values_and_at_most_a_thousand_rows(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    app.sql(&people(backend));
    let tab = app.session();

    let (status, body) = run(&tab, "SELECT id, name, note FROM people ORDER BY id", &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("2 rows"), "{body}");
    assert!(
        body.contains("<th scope=\"col\" class=\"num\">id</th>"),
        "numbers align right: {body}"
    );
    assert!(body.contains(">Grace<") && body.contains(">compilers<"));
    assert!(
        body.contains("<span class=\"null\">NULL</span>"),
        "NULL shown as such"
    );

    let bytes = match backend {
        Backend::Sqlite => "SELECT X'00ff10' AS raw, 2.5 AS half, 'x' AS word",
        Backend::Postgres => "SELECT '\\x00ff10'::bytea AS raw, 2.5 AS half, 'x' AS word",
    };
    let (_, body) = run(&tab, bytes, &[]).await;
    assert!(body.contains("\\x00ff10"), "bytes as hex: {body}");
    assert!(body.contains("2.5"));
    if backend == Backend::Postgres {
        let (_, body) = run(
            &tab,
            "SELECT 12345.670::numeric AS n, '2024-01-02 03:04:05+00'::timestamptz AS at, \
             'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid AS id, '{\"a\": 1}'::jsonb AS j, \
             interval '1 day 02:03:04' AS i, DATE '2024-02-29' AS d, ARRAY[1, 2] AS arr",
            &[],
        )
        .await;
        for expected in [
            "12345.670",
            "2024-01-02 03:04:05+00",
            "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
            "{&#34;a&#34;: 1}",
            "1 days 02:03:04",
            "2024-02-29",
            "select it AS TEXT to read it",
        ] {
            assert!(body.contains(expected), "{expected} in {body}");
        }
    }

    let many = "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 1500) \
                SELECT n FROM r";
    let (_, body) = run(&tab, many, &[]).await;
    assert!(body.contains("1000 rows"), "{body}");
    assert!(body.contains("Only the first 1000 rows are shown"));
    assert!(body.contains(">1000<") && !body.contains(">1001<"));

    let (_, body) = run(
        &tab,
        "SELECT name FROM people WHERE id = 1",
        &[("action", "explain")],
    )
    .await;
    let plan = body
        .split("<pre class=\"sql-plan\">")
        .nth(1)
        .expect("a plan as text");
    let plan = plan.split("</pre>").next().unwrap();
    let expected = match backend {
        Backend::Sqlite => "SEARCH people",
        Backend::Postgres => "people",
    };
    assert!(plan.contains(expected), "{plan}");

    // The htmx request gets the result fragment only.
    let token = tab.csrf("/sql").await;
    let res = tab
        .client
        .post(app.url("/sql"))
        .header("HX-Request", "true")
        .header("X-CSRF-Token", &token)
        .form(&[("sql", "SELECT 41 + 1 AS answer"), ("action", "run")])
        .send()
        .await
        .unwrap();
    let fragment = res.text().await.unwrap();
    assert!(
        fragment.contains(">42<") && !fragment.contains("<html"),
        "{fragment}"
    );
}

async fn the_full_result_exports_as_csv(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let tab = app.session();
    let sql = "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 5000) \
               SELECT n, 'row, ' || n AS label, NULL AS empty FROM r";
    let res = tab
        .post_form("/sql", "/sql/export.csv", &[("sql", sql)])
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let csv = res.text().await.unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 5001, "a header and every row");
    assert_eq!(lines[0], "n,label,empty");
    assert_eq!(lines[5000], "5000,\"row, 5000\",");

    let res = tab
        .post_form(
            "/sql",
            "/sql/export.csv",
            &[("sql", "SELECT * FROM no_such_table")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text().await.unwrap().contains("no_such_table"));
}

async fn read_only_mode_refuses_insert_update_and_ddl(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    app.sql(&people(backend));
    let tab = app.session();
    let refusal = match backend {
        Backend::Sqlite => "attempt to write a readonly database",
        Backend::Postgres => "in a read-only transaction",
    };
    for sql in [
        "INSERT INTO people (name) VALUES ('Mallory')",
        "UPDATE people SET name = 'Mallory'",
        "DELETE FROM people",
        "CREATE TABLE sneaky (a INTEGER)",
        "DROP TABLE people",
    ] {
        let (status, body) = run(&tab, sql, &[]).await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.contains(refusal), "{sql}: {body}");
    }
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM people").as_deref(),
        Some("2")
    );
    assert_eq!(
        app.scalar("SELECT name FROM people WHERE id = 1")
            .as_deref(),
        Some("Ada")
    );
    if backend == Backend::Sqlite {
        // ATTACH (and VACUUM INTO, which attaches its target) would open or create files
        // on the server: refused in both modes, before any file is made.
        let dir = tempfile::tempdir().unwrap();
        let copy = dir.path().join("copy.db");
        let attach = format!("ATTACH DATABASE '{}' AS other", copy.display());
        let vacuum = format!("VACUUM INTO '{}'", copy.display());
        for (sql, write) in [(&attach, false), (&vacuum, false), (&vacuum, true)] {
            let extra: &[(&str, &str)] = if write {
                &[("write", "on"), ("confirmed", "yes")]
            } else {
                &[]
            };
            let (_, body) = run(&tab, sql, extra).await;
            assert!(body.contains("not authorized"), "{sql}: {body}");
            assert!(!copy.exists(), "{sql} made no file");
        }
    }
}

async fn the_timeout_stops_an_endless_query_while_pages_stay_responsive(backend: Backend) {
    let app = TestApp::spawn_with(backend, &["--sql-timeout", "2s"]).await;
    app.setup_admin().await;
    app.sql(&people(backend));
    let token = app.csrf("/sql").await;
    let started = Instant::now();
    let endless = app
        .client
        .post(app.url("/sql"))
        .form(&[
            ("csrf_token", token.as_str()),
            ("sql", ENDLESS),
            ("run", "endless"),
        ])
        .send();
    let pages = async {
        actix_web::rt::time::sleep(Duration::from_millis(300)).await;
        let mut slowest = Duration::ZERO;
        for path in ["/data/people", "/", "/data/people/1", "/sql"] {
            let t = Instant::now();
            let res = app.get(path).await;
            assert_eq!(res.status(), StatusCode::OK, "{path}");
            slowest = slowest.max(t.elapsed());
        }
        (slowest, started.elapsed())
    };
    let (res, (slowest, pages_done)) = futures_util::future::join(endless, pages).await;
    let elapsed = started.elapsed();
    let body = res.unwrap().text().await.unwrap();
    assert!(body.contains("ran longer than 2s"), "{body}");
    println!("endless query stopped after {elapsed:?}; slowest page meanwhile {slowest:?}");
    assert!(
        elapsed <= Duration::from_secs(3),
        "stopped after {elapsed:?}"
    );
    assert!(
        elapsed >= Duration::from_secs(2),
        "stopped early: {elapsed:?}"
    );
    assert!(
        pages_done < Duration::from_secs(2),
        "pages answered while it ran"
    );
    assert!(
        slowest < Duration::from_millis(500),
        "slowest page {slowest:?}"
    );
}

async fn a_running_statement_can_be_cancelled(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let token = app.csrf("/sql").await;
    let started = Instant::now();
    let endless = app
        .client
        .post(app.url("/sql"))
        .form(&[
            ("csrf_token", token.as_str()),
            ("sql", ENDLESS),
            ("run", "to-cancel"),
        ])
        .send();
    let cancel = async {
        actix_web::rt::time::sleep(Duration::from_millis(700)).await;
        let res = app
            .client
            .post(app.url("/sql/cancel"))
            .form(&[("csrf_token", token.as_str()), ("run", "to-cancel")])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        started.elapsed()
    };
    let (res, cancelled_at) = futures_util::future::join(endless, cancel).await;
    let body = res.unwrap().text().await.unwrap();
    let elapsed = started.elapsed();
    println!("cancel sent at {cancelled_at:?}, statement ended at {elapsed:?}");
    assert!(body.contains("The statement was cancelled."), "{body}");
    assert!(elapsed < Duration::from_secs(3), "ended after {elapsed:?}");
    // Nothing runs any more: a second cancel finds nothing.
    let res = app
        .post_form("/sql", "/sql/cancel", &[("run", "to-cancel")])
        .await;
    assert_eq!(location(&res), "/sql");
    let page = app.session().page("/sql").await;
    assert!(page.contains("No statement of yours is running."), "{page}");
}

async fn write_mode_asks_first_commits_and_is_audited(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    app.sql(&people(backend));
    let tab = app.session();
    let insert = "INSERT INTO people (name) VALUES ('Linus')";

    let (_, body) = run(&tab, insert, &[("write", "on")]).await;
    assert!(body.contains("Run this in write mode?"), "{body}");
    assert!(body.contains("name=\"confirmed\" value=\"yes\""));
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM people").as_deref(),
        Some("2")
    );

    // The list's count is remembered for a few seconds; a console write forgets it.
    let list = tab.page("/data/people").await;
    assert!(list.contains(">2 rows<"), "{list}");
    let (_, body) = run(&tab, insert, &[("write", "on"), ("confirmed", "yes")]).await;
    assert!(body.contains("1 row changed, committed"), "{body}");
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM people").as_deref(),
        Some("3")
    );
    let list = tab.page("/data/people").await;
    assert!(
        list.contains(">3 rows<"),
        "the count afresh after a console write: {list}"
    );
    let audited = app
        .scalar("SELECT changes FROM gh_audit WHERE action = 'sql.executed'")
        .expect("an audit entry");
    assert!(
        audited.contains("INSERT INTO people") && audited.contains("1 rows changed"),
        "{audited}"
    );

    // DDL too, in one transaction; a failing statement changes nothing and is audited.
    let (_, body) = run(
        &tab,
        "CREATE TABLE made_here (a INTEGER)",
        &[("write", "on"), ("confirmed", "yes")],
    )
    .await;
    assert!(!body.contains("form-error"), "{body}");
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM made_here").as_deref(),
        Some("0")
    );
    let (_, body) = run(
        &tab,
        "INSERT INTO people (id, name) VALUES (1, 'Duplicate')",
        &[("write", "on"), ("confirmed", "yes")],
    )
    .await;
    assert!(body.contains("form-error"), "{body}");
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM gh_audit WHERE action = 'sql.executed'")
            .as_deref(),
        Some("3")
    );
    if backend == Backend::Postgres {
        let (_, body) = run(
            &tab,
            "SELECT * FROM people",
            &[("write", "on"), ("confirmed", "yes"), ("action", "analyze")],
        )
        .await;
        assert!(body.contains("actual time"), "{body}");
    }
}

async fn history_keeps_fifty_statements_and_saved_queries_are_shared_with_roles(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    app.sql(&people(backend));
    let tab = app.session();
    let token = tab.csrf("/sql").await;
    for i in 1..=52 {
        let sql = format!("SELECT {i} AS n");
        let res = tab
            .post_with_token("/sql", &token, &[("sql", sql.as_str())])
            .await;
        assert_eq!(res.status(), StatusCode::OK);
    }
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM gh_sql_history").as_deref(),
        Some("50")
    );
    let page = tab.page("/sql").await;
    assert!(page.contains("SELECT 52 AS n") && page.contains("SELECT 3 AS n"));
    assert!(!page.contains("SELECT 2 AS n<") && !page.contains("SELECT 1 AS n<"));
    let newest = app
        .scalar("SELECT id FROM gh_sql_history WHERE statement = 'SELECT 52 AS n'")
        .unwrap();
    let page = tab.page(&format!("/sql?history={newest}")).await;
    assert!(
        page.contains(">SELECT 52 AS n</textarea>"),
        "loaded into the editor"
    );

    create_analyst_role(&app, false).await;
    let analyst = operator(&app, "analyst@example.com", "analyst").await;
    let res = tab
        .post_form(
            "/sql",
            "/sql/queries",
            &[
                ("query_name", "Everyone"),
                ("sql", "SELECT name FROM people"),
                ("share", "analyst"),
            ],
        )
        .await;
    assert_eq!(location(&res), "/sql");
    tab.post_form(
        "/sql",
        "/sql/queries",
        &[("query_name", "Mine only"), ("sql", "SELECT 1")],
    )
    .await;
    let res = tab
        .post_form(
            "/sql",
            "/sql/queries",
            &[
                ("query_name", "Bad"),
                ("sql", "SELECT 1"),
                ("share", "nobody"),
            ],
        )
        .await;
    assert_eq!(location(&res), "/sql");
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM gh_sql_queries").as_deref(),
        Some("2"),
        "an unknown role saves nothing"
    );

    let theirs = Session::of(&app, &analyst);
    let page = theirs.page("/sql").await;
    assert!(
        page.contains("Everyone") && page.contains("(shared with you)"),
        "{page}"
    );
    assert!(!page.contains("Mine only"));
    let id = app
        .scalar("SELECT id FROM gh_sql_queries WHERE name = 'Everyone'")
        .unwrap();
    let page = theirs.page(&format!("/sql?query={id}")).await;
    assert!(page.contains(">SELECT name FROM people</textarea>"));
    let res = theirs
        .post_form("/sql", &format!("/sql/queries/{id}/delete"), &[])
        .await;
    assert_eq!(
        res.status(),
        StatusCode::NOT_FOUND,
        "only its owner deletes it"
    );
    let res = tab
        .post_form("/sql", &format!("/sql/queries/{id}/delete"), &[])
        .await;
    assert_eq!(location(&res), "/sql");
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM gh_sql_queries").as_deref(),
        Some("1")
    );
}

async fn the_run_and_write_rights_are_enforced(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    app.sql(&people(backend));
    app.sql("CREATE TABLE secrets (id INTEGER PRIMARY KEY, code TEXT); INSERT INTO secrets VALUES (1, 'TOP-SECRET');");
    let form = app.session().page("/roles/new").await;
    assert!(form.contains("equals reading the whole database"), "{form}");
    create_analyst_role(&app, false).await;
    let analyst = operator(&app, "analyst@example.com", "analyst").await;
    let viewer = operator(&app, "viewer@example.com", "viewer").await;

    // "Run SQL" reads what the data pages hide from the role: documented, and so.
    let theirs = Session::of(&app, &analyst);
    assert_eq!(
        theirs.get("/data/secrets").await.status(),
        StatusCode::NOT_FOUND
    );
    let (status, body) = run(&theirs, "SELECT code FROM secrets", &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("TOP-SECRET"));
    assert!(
        !body.contains("Write mode"),
        "no write switch without the right"
    );
    let (status, _) = run(
        &theirs,
        "DELETE FROM secrets",
        &[("write", "on"), ("confirmed", "yes")],
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM secrets").as_deref(),
        Some("1")
    );

    let viewers = Session::of(&app, &viewer);
    assert_eq!(viewers.get("/sql").await.status(), StatusCode::FORBIDDEN);
    let token = viewers.csrf("/").await;
    let res = viewers
        .post_with_token("/sql", &token, &[("sql", "SELECT 1")])
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);

    // Granting "write SQL" lets the analyst write.
    let res = app
        .post_form(
            "/roles/analyst",
            "/roles/analyst",
            &[("t.people.r", "on"), ("run_sql", "on"), ("write_sql", "on")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let (status, body) = run(
        &theirs,
        "DELETE FROM secrets",
        &[("write", "on"), ("confirmed", "yes")],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("1 row changed"), "{body}");
}
