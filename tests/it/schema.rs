//! The schema builder on both backends: a table with every offered type, a foreign key and
//! a composite key, created through the pages and then used through the data pages and
//! the API; each alteration (SQLite's rebuild keeping rows, indexes, triggers and foreign
//! keys, checked by `foreign_key_check` and `integrity_check`); refusals; rights.

use reqwest::StatusCode;

use crate::common::{Backend, Session, TestApp, location, new_client};

both_backends!(
    a_table_with_every_type_a_foreign_key_and_a_composite_key_is_created_and_used,
    each_alteration_is_previewed_confirmed_audited_and_keeps_the_data,
    refusals_explain_themselves_and_change_nothing,
    only_roles_with_the_change_schema_right_use_the_builder,
);

const PASSWORD: &str = "wobbly giraffe paints violet harbours";

/// HTML text back to what it says: named and numeric character references.
pub(crate) fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let Some(end) = rest.find(';').filter(|e| *e < 10) else {
            out.push('&');
            rest = &rest[1..];
            continue;
        };
        let entity = &rest[1..end];
        let c = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            e if e.starts_with("#x") => u32::from_str_radix(&e[2..], 16)
                .ok()
                .and_then(char::from_u32),
            e if e.starts_with('#') => e[1..].parse().ok().and_then(char::from_u32),
            _ => None,
        };
        match c {
            Some(c) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The SQL a preview page shows (from its hidden `sql` field).
pub(crate) fn previewed_sql(body: &str) -> String {
    let marker = "name=\"sql\" value=\"";
    let start = body.find(marker).expect("a preview with its SQL") + marker.len();
    unescape(&body[start..start + body[start..].find('"').unwrap()])
}

/// Submit a builder form: the preview must come first (200, the SQL shown, nothing run),
/// then the confirmation with that SQL. Returns the confirmation's response.
pub(crate) async fn change(
    tab: &Session<'_>,
    page: &str,
    action: &str,
    fields: &[(&str, &str)],
    typed: Option<&str>,
) -> reqwest::Response {
    let res = tab.post_form(page, action, fields).await;
    let status = res.status();
    let body = res.text().await.unwrap();
    assert_eq!(status, StatusCode::OK, "preview of {fields:?}: {body}");
    let sql = previewed_sql(&body);
    assert!(body.contains("What it affects"));
    let mut confirm: Vec<(&str, &str)> = fields.to_vec();
    confirm.push(("confirm", "yes"));
    confirm.push(("sql", &sql));
    if let Some(name) = typed {
        confirm.push(("confirm_name", name));
    }
    tab.post_form(page, action, &confirm).await
}

pub(crate) async fn alter(
    app: &TestApp,
    table: &str,
    fields: &[(&str, &str)],
    typed: Option<&str>,
) {
    let page = format!("/data/{table}/schema");
    let res = change(&app.session(), &page, &page, fields, typed).await;
    assert_eq!(
        res.status(),
        StatusCode::SEE_OTHER,
        "{fields:?}: {}",
        res.text().await.unwrap()
    );
}

/// The body of a refused change (422).
pub(crate) async fn refused(
    app: &TestApp,
    page: &str,
    action: &str,
    fields: &[(&str, &str)],
) -> String {
    let res = app.post_form(page, action, fields).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{fields:?}");
    unescape(&res.text().await.unwrap())
}

pub(crate) fn count(app: &TestApp, sql: &str) -> i64 {
    app.scalar(sql).unwrap().parse().unwrap()
}

pub(crate) fn sqlite_checks_pass(app: &TestApp) {
    if app.backend() == Backend::Sqlite {
        assert_eq!(app.scalar("PRAGMA integrity_check").as_deref(), Some("ok"));
        assert_eq!(
            count(app, "SELECT COUNT(*) FROM pragma_foreign_key_check"),
            0
        );
    }
}

async fn a_table_with_every_type_a_foreign_key_and_a_composite_key_is_created_and_used(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    if backend == Backend::Postgres {
        app.sql("CREATE TYPE mood AS ENUM ('happy', 'sad');");
    }
    let tab = app.session();
    // A parent with the default auto-generated key.
    let res = change(
        &tab,
        "/data/new-table",
        "/data/new-table",
        &[
            ("name", "authors"),
            ("c0.name", "name"),
            ("c0.type", "text"),
            ("c0.not_null", "on"),
            ("c0.unique", "on"),
        ],
        None,
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), "/data/authors");

    let fields: Vec<(&str, &str)> = vec![
        ("name", "things"),
        ("c0.name", "code"),
        ("c0.type", "varchar"),
        ("c0.size", "10"),
        ("c0.pk", "on"),
        ("c1.name", "version"),
        ("c1.type", "integer"),
        ("c1.pk", "on"),
        ("c2.name", "big"),
        ("c2.type", "bigint"),
        ("c3.name", "price"),
        ("c3.type", "decimal"),
        ("c3.size", "8"),
        ("c3.scale", "2"),
        ("c3.default", "1.5"),
        ("c4.name", "flag"),
        ("c4.type", "boolean"),
        ("c4.not_null", "on"),
        ("c4.default", "yes"),
        ("c5.name", "day"),
        ("c5.type", "date"),
        ("c6.name", "seen_at"),
        ("c6.type", "timestamp"),
        ("c6.default", "now"),
        ("c7.name", "author_id"),
        ("c7.type", "bigint"),
        ("c7.ref", "authors"),
        ("c7.on_delete", "cascade"),
        ("i0.columns", "author_id, day"),
    ];
    let res = tab
        .post_form("/data/new-table", "/data/new-table", &fields)
        .await;
    let body = unescape(&res.text().await.unwrap());
    assert!(
        body.contains("PRIMARY KEY (\"code\", \"version\")"),
        "{body}"
    );
    assert!(
        body.contains("REFERENCES \"authors\" (\"id\") ON DELETE CASCADE"),
        "{body}"
    );
    assert!(
        body.contains("CREATE INDEX \"things_author_id_day_idx\""),
        "{body}"
    );
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM gh_audit WHERE action = 'schema.changed'"
        ),
        1,
        "a preview runs nothing"
    );
    // Eight column rows on the form: the other types go in a second table.
    let res = change(&tab, "/data/new-table", "/data/new-table", &fields, None).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let mut more: Vec<(&str, &str)> = vec![
        ("name", "extras"),
        ("c0.name", "note"),
        ("c0.type", "text"),
        ("c1.name", "at_tz"),
        ("c1.type", "timestamptz"),
        ("c2.name", "uid"),
        ("c2.type", "uuid"),
        ("c3.name", "doc"),
        ("c3.type", "json"),
        ("c3.default", "{\"a\": 1}"),
        ("c4.name", "label"),
        ("c4.type", "varchar"),
        ("c4.size", "5"),
        ("c4.default", "it's"),
    ];
    if backend == Backend::Postgres {
        more.extend([
            ("c5.name", "mood"),
            ("c5.type", "enum:mood"),
            ("c5.default", "happy"),
        ]);
    }
    let res = change(&tab, "/data/new-table", "/data/new-table", &more, None).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);

    // The catalog was read again at once: the data pages know the tables.
    let list = tab.page("/data").await;
    assert!(list.contains("/data/things") && list.contains("/data/extras"));
    assert!(!list.contains("gh_"), "Gatehouse's own tables never show");
    let res = tab
        .post_form(
            "/data/authors/new",
            "/data/authors",
            &[("f.name", "Ursula")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let author = app.scalar("SELECT id FROM authors").unwrap();
    let res = tab
        .post_form(
            "/data/things/new",
            "/data/things",
            &[
                ("f.code", "A-1"),
                ("f.version", "1"),
                ("f.big", "9000000000"),
                ("f.day", "2026-11-27"),
                ("f.author_id", &author),
            ],
        )
        .await;
    assert_eq!(
        res.status(),
        StatusCode::SEE_OTHER,
        "{}",
        res.text().await.unwrap()
    );
    assert_eq!(
        app.scalar("SELECT CAST(price AS TEXT) FROM things")
            .as_deref()
            .map(|p| p.starts_with("1.5")),
        Some(true)
    );
    assert!(
        app.scalar("SELECT seen_at FROM things").is_some(),
        "the default timestamp was set"
    );
    let res = tab
        .post_form(
            "/data/extras/new",
            "/data/extras",
            &[
                ("f.note", "hello"),
                ("f.uid", "0190b5a2-7c1e-7d2a-9f3b-5c8d2e1f4a6b"),
                ("f.at_tz", "2026-11-27 10:00"),
            ],
        )
        .await;
    assert_eq!(
        res.status(),
        StatusCode::SEE_OTHER,
        "{}",
        res.text().await.unwrap()
    );
    assert_eq!(
        app.scalar("SELECT label FROM extras").as_deref(),
        Some("it's")
    );
    let list = tab.page("/data/things").await;
    assert!(list.contains("Ursula"), "the foreign key shows its label");

    // The API sees the new table.
    let res = tab
        .post_form(
            "/integrations/tokens",
            "/integrations/tokens",
            &[("name", "t"), ("role", "admin"), ("expires_days", "30")],
        )
        .await;
    let page = res.text().await.unwrap();
    let marker = "id=\"new-token\">";
    let start = page.find(marker).unwrap() + marker.len();
    let token = &page[start..start + page[start..].find('<').unwrap()];
    let rows: serde_json::Value = new_client()
        .get(app.url("/api/v1/tables/things/rows"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(rows["rows"][0]["code"], "A-1", "{rows}");

    // ON DELETE CASCADE as asked.
    app.sql("DELETE FROM authors");
    assert_eq!(count(&app, "SELECT COUNT(*) FROM things"), 0);
    let audit = app.scalar("SELECT changes FROM gh_audit WHERE action = 'schema.changed' AND table_name = 'things'").unwrap();
    assert!(audit.contains("CREATE TABLE"), "{audit}");
    sqlite_checks_pass(&app);
}

async fn each_alteration_is_previewed_confirmed_audited_and_keeps_the_data(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let id = match backend {
        Backend::Sqlite => "INTEGER PRIMARY KEY",
        Backend::Postgres => "SERIAL PRIMARY KEY",
    };
    let mut sql = format!(
        "CREATE TABLE teams (id {id}, name TEXT NOT NULL);
         CREATE TABLE members (id {id}, team_id INTEGER, email TEXT, nick TEXT, score INTEGER);
         CREATE INDEX members_email_idx ON members (email);
         CREATE TABLE notes (id {id}, member_id INTEGER REFERENCES members (id), body TEXT);
         INSERT INTO teams (name) VALUES ('red'), ('blue');"
    );
    for i in 1..=20 {
        sql.push_str(&format!(
            "INSERT INTO members (team_id, email, nick, score) VALUES ({}, 'm{i}@example.com', 'n{i}', {i});",
            1 + i % 2
        ));
    }
    sql.push_str("INSERT INTO notes (member_id, body) VALUES (1, 'first');");
    if backend == Backend::Sqlite {
        sql.push_str(
            "CREATE TABLE log (msg TEXT);
             CREATE TRIGGER members_log AFTER INSERT ON members BEGIN INSERT INTO log VALUES (NEW.email); END;
             CREATE VIEW member_emails AS SELECT email FROM members;",
        );
    }
    app.sql(&sql);

    alter(
        &app,
        "members",
        &[("op", "add_column"), ("name", "city"), ("type", "text")],
        None,
    )
    .await;
    alter(
        &app,
        "members",
        &[
            ("op", "add_column"),
            ("name", "level"),
            ("type", "integer"),
            ("not_null", "on"),
            ("default", "3"),
            ("unique", ""),
        ],
        None,
    )
    .await;
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM members WHERE level = 3"),
        20
    );
    alter(
        &app,
        "members",
        &[
            ("op", "rename_column"),
            ("column", "nick"),
            ("to", "handle"),
        ],
        None,
    )
    .await;
    assert_eq!(
        app.scalar("SELECT handle FROM members WHERE id = 1")
            .as_deref(),
        Some("n1")
    );
    // These rebuild the table on SQLite.
    alter(
        &app,
        "members",
        &[("op", "set_default"), ("column", "score"), ("default", "7")],
        None,
    )
    .await;
    alter(
        &app,
        "members",
        &[
            ("op", "set_not_null"),
            ("column", "score"),
            ("not_null", "yes"),
        ],
        None,
    )
    .await;
    alter(
        &app,
        "members",
        &[
            ("op", "add_foreign_key"),
            ("columns", "team_id"),
            ("ref", "teams"),
            ("on_delete", "set null"),
        ],
        None,
    )
    .await;
    app.sql("INSERT INTO members (email) VALUES ('new@example.com')");
    assert_eq!(
        app.scalar("SELECT score FROM members WHERE email = 'new@example.com'")
            .as_deref(),
        Some("7")
    );
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM members"),
        21,
        "every row kept"
    );
    assert_eq!(
        app.scalar("SELECT handle FROM members WHERE id = 20")
            .as_deref(),
        Some("n20")
    );
    sqlite_checks_pass(&app);
    if backend == Backend::Sqlite {
        assert_eq!(
            count(
                &app,
                "SELECT COUNT(*) FROM sqlite_master WHERE name = 'members_email_idx'"
            ),
            1,
            "index kept"
        );
        assert_eq!(
            count(
                &app,
                "SELECT COUNT(*) FROM log WHERE msg = 'new@example.com'"
            ),
            1,
            "trigger kept"
        );
        assert_eq!(
            count(&app, "SELECT COUNT(*) FROM member_emails"),
            21,
            "view kept"
        );
        assert_eq!(
            count(
                &app,
                "SELECT COUNT(*) FROM pragma_foreign_key_list('notes')"
            ),
            1,
            "the foreign key to it kept"
        );
    }
    let refused_fk = app.edit("/data/members/1", &[("f.team_id", "99")]).await;
    assert_eq!(
        refused_fk.status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "the new foreign key holds"
    );
    app.sql("DELETE FROM teams WHERE id = 1");
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM members WHERE team_id IS NULL"),
        11,
        "ON DELETE SET NULL"
    );

    alter(
        &app,
        "members",
        &[
            ("op", "set_not_null"),
            ("column", "score"),
            ("not_null", "no"),
        ],
        None,
    )
    .await;
    alter(
        &app,
        "members",
        &[
            ("op", "add_index"),
            ("columns", "handle, score"),
            ("unique", "on"),
        ],
        None,
    )
    .await;
    let page = app.session().page("/data/members/schema").await;
    assert!(page.contains("members_handle_score_key"));
    alter(
        &app,
        "members",
        &[("op", "drop_index"), ("index", "members_handle_score_key")],
        None,
    )
    .await;
    // Dropping a column asks for its name.
    alter(
        &app,
        "members",
        &[("op", "drop_column"), ("column", "city")],
        Some("city"),
    )
    .await;
    let columns = app.session().page("/data/members/schema").await;
    assert!(!columns.contains("<td>city</td>"));
    alter(
        &app,
        "members",
        &[("op", "rename_table"), ("to", "people")],
        None,
    )
    .await;
    assert_eq!(count(&app, "SELECT COUNT(*) FROM people"), 21);
    sqlite_checks_pass(&app);
    alter(&app, "notes", &[("op", "drop_table")], Some("notes")).await;
    let res = app.get("/data/notes").await;
    assert_eq!(
        res.status(),
        StatusCode::NOT_FOUND,
        "gone from the catalog at once"
    );
    let n = count(
        &app,
        "SELECT COUNT(*) FROM gh_audit WHERE action = 'schema.changed'",
    );
    assert_eq!(n, 12, "one audit entry per change");
    sqlite_checks_pass(&app);
}

async fn refusals_explain_themselves_and_change_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let id = match backend {
        Backend::Sqlite => "INTEGER PRIMARY KEY",
        Backend::Postgres => "SERIAL PRIMARY KEY",
    };
    app.sql(&format!(
        "CREATE TABLE teams (id {id}, name TEXT);
         CREATE TABLE members (id {id}, team_id INTEGER REFERENCES teams (id), nick TEXT);
         INSERT INTO teams (name) VALUES ('red'), (NULL); INSERT INTO members (team_id) VALUES (1);"
    ));
    let (page, action) = ("/data/teams/schema", "/data/teams/schema");
    let body = refused(&app, page, action, &[("op", "drop_table")]).await;
    assert!(
        body.contains("Other tables refer to teams: members (team_id)"),
        "{body}"
    );
    let body = refused(
        &app,
        page,
        action,
        &[("op", "drop_column"), ("column", "id")],
    )
    .await;
    assert!(body.contains("primary key"), "{body}");
    let body = refused(
        &app,
        page,
        action,
        &[
            ("op", "add_column"),
            ("name", "code"),
            ("type", "text"),
            ("not_null", "on"),
        ],
    )
    .await;
    assert!(
        body.contains("teams has 2 rows, and a NOT NULL column needs a value"),
        "{body}"
    );
    let body = refused(
        &app,
        page,
        action,
        &[
            ("op", "set_not_null"),
            ("column", "name"),
            ("not_null", "yes"),
        ],
    )
    .await;
    assert!(body.contains("1 rows of teams have no value"), "{body}");
    let body = refused(
        &app,
        page,
        action,
        &[("op", "add_column"), ("name", "select"), ("type", "text")],
    )
    .await;
    assert!(body.contains("reserved word"), "{body}");
    let body = refused(
        &app,
        page,
        action,
        &[
            ("op", "add_column"),
            ("name", "Bad\"Name"),
            ("type", "text"),
        ],
    )
    .await;
    assert!(body.contains("lower-case letters"), "{body}");
    let body = refused(
        &app,
        page,
        action,
        &[
            ("op", "add_column"),
            ("name", "n"),
            ("type", "integer"),
            ("default", "1; DROP TABLE teams"),
        ],
    )
    .await;
    assert!(body.contains("whole number"), "{body}");
    let body = refused(
        &app,
        page,
        action,
        &[("op", "add_column"), ("name", "n"), ("type", "text; DROP")],
    )
    .await;
    assert!(body.contains("not a type on the list"), "{body}");
    let body = refused(
        &app,
        "/data/new-table",
        "/data/new-table",
        &[("name", "gh_users"), ("c0.name", "x"), ("c0.type", "text")],
    )
    .await;
    assert!(body.contains("prefix kept for Gatehouse"), "{body}");
    let body = refused(
        &app,
        "/data/new-table",
        "/data/new-table",
        &[
            ("name", &"x".repeat(64)),
            ("c0.name", "x"),
            ("c0.type", "text"),
        ],
    )
    .await;
    assert!(body.contains("too long"), "{body}");
    let body = refused(
        &app,
        "/data/new-table",
        "/data/new-table",
        &[("name", "teams"), ("c0.name", "x"), ("c0.type", "text")],
    )
    .await;
    assert!(body.contains("exists already"), "{body}");
    // gh_* tables are not reachable by the builder at all.
    assert_eq!(
        app.get("/data/gh_users/schema").await.status(),
        StatusCode::NOT_FOUND
    );

    // A drop needs the name typed; a preview whose SQL no longer matches is shown again.
    let tab = app.session();
    let sql = previewed_sql(
        &tab.post_form(
            "/data/members/schema",
            "/data/members/schema",
            &[("op", "drop_column"), ("column", "nick")],
        )
        .await
        .text()
        .await
        .unwrap(),
    );
    let res = tab
        .post_form(
            "/data/members/schema",
            "/data/members/schema",
            &[
                ("op", "drop_column"),
                ("column", "nick"),
                ("confirm", "yes"),
                ("sql", &sql),
                ("confirm_name", "wrong"),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let res = tab
        .post_form(
            "/data/members/schema",
            "/data/members/schema",
            &[
                ("op", "drop_column"),
                ("column", "nick"),
                ("confirm", "yes"),
                ("sql", "DROP TABLE teams"),
                ("confirm_name", "nick"),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    // The database's own refusal (rows that break a new foreign key) changes nothing.
    app.sql("CREATE TABLE pets (id INTEGER PRIMARY KEY, owner INTEGER); INSERT INTO pets (id, owner) VALUES (1, 42);");
    let res = change(
        &tab,
        "/data/pets/schema",
        "/data/pets/schema",
        &[
            ("op", "add_foreign_key"),
            ("columns", "owner"),
            ("ref", "teams"),
        ],
        None,
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = res.text().await.unwrap();
    assert!(body.contains("nothing was changed"), "{body}");
    assert_eq!(count(&app, "SELECT COUNT(*) FROM pets"), 1);
    assert_eq!(app.scalar("SELECT nick FROM members"), None);
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM gh_audit WHERE action = 'schema.changed'"
        ),
        0
    );
    sqlite_checks_pass(&app);
}

async fn only_roles_with_the_change_schema_right_use_the_builder(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    app.sql("CREATE TABLE things (id INTEGER PRIMARY KEY, name TEXT);");
    let res = app
        .post_form(
            "/roles/new",
            "/roles",
            &[
                ("name", "architect"),
                ("default.r", "on"),
                ("change_schema", "on"),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert!(
        app.session()
            .page("/roles/architect")
            .await
            .contains("name=\"change_schema\" checked")
    );
    for (email, role) in [
        ("arch@example.com", "architect"),
        ("ed@example.com", "editor"),
    ] {
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
    let editor = Session::new(&app);
    editor.sign_in("ed@example.com", PASSWORD).await;
    assert_eq!(
        editor.get("/data/new-table").await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        editor.get("/data/things/schema").await.status(),
        StatusCode::FORBIDDEN
    );
    let token = editor.csrf("/data").await;
    let res = editor
        .post_with_token(
            "/data/new-table",
            &token,
            &[("name", "x"), ("c0.name", "a"), ("c0.type", "text")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(!editor.page("/data").await.contains("/data/new-table"));

    let architect = Session::new(&app);
    architect.sign_in("arch@example.com", PASSWORD).await;
    assert!(architect.page("/data").await.contains("/data/new-table"));
    let res = change(
        &architect,
        "/data/new-table",
        "/data/new-table",
        &[("name", "plans"), ("c0.name", "title"), ("c0.type", "text")],
        None,
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(count(&app, "SELECT COUNT(*) FROM plans"), 0);
    let who = app.scalar("SELECT user_email FROM gh_audit WHERE action = 'schema.changed'");
    assert_eq!(who.as_deref(), Some("arch@example.com"));
}
