//! Record history and restore (issue 10) on both backends: a row back to a past version
//! (diff, 409 on a stale version, hidden columns neither shown nor restored), deleted rows
//! put back under their key (refused when the key is taken or a referenced row is gone).

use reqwest::StatusCode;

use crate::common::{Backend, Session, TestApp, location, new_client};

both_backends!(
    a_past_version_is_restored_as_an_audited_update_with_a_webhook_event,
    a_restore_hides_and_keeps_the_columns_the_role_cannot_see,
    deleted_rows_are_listed_and_restored_under_their_key,
    the_history_card_shows_readable_diffs_newest_first_in_pages,
    the_audit_log_exports_its_filtered_entries_as_csv,
    audit_retention_prunes_old_entries_in_batches_and_keeps_new_ones,
);

const PASSWORD: &str = "wobbly giraffe paints violet harbours";

fn serial(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => "INTEGER PRIMARY KEY",
        Backend::Postgres => "SERIAL PRIMARY KEY",
    }
}

async fn signed_in(backend: Backend) -> TestApp {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    app.sql(&format!(
        "CREATE TABLE people (id {}, name TEXT NOT NULL, city TEXT, bio TEXT);
         INSERT INTO people (id, name, city, bio) VALUES (1, 'Ann', 'Oslo', 'first bio');
         INSERT INTO gh_webhook_endpoints (id, url, role, enabled, secret_enc, created_at, events)
           VALUES ('ep', 'http://127.0.0.1:9/', 'admin', FALSE, 'x', CURRENT_TIMESTAMP, '[\"*\"]');",
        serial(backend)
    ));
    // Disabled endpoints get no events; enable it only now the worker cannot reach it
    // (port 9) and leaves the events queued.
    app.sql("UPDATE gh_webhook_endpoints SET enabled = TRUE");
    app
}

fn entry_ids(app: &TestApp, action: &str) -> Vec<String> {
    let mut ids = Vec::new();
    let all = app
        .scalar(&format!(
            "SELECT {} FROM (SELECT id FROM gh_audit WHERE action = '{action}' ORDER BY id) AS ids",
            match app.backend() {
                Backend::Sqlite => "group_concat(id, ' ')",
                Backend::Postgres => "string_agg(id, ' ' ORDER BY id)",
            }
        ))
        .unwrap_or_default();
    ids.extend(all.split(' ').filter(|s| !s.is_empty()).map(str::to_string));
    ids
}

fn version_in(page: &str) -> String {
    let marker = "name=\"_version\" value=\"";
    let i = page.find(marker).expect("a version field") + marker.len();
    page[i..i + page[i..].find('"').unwrap()].to_string()
}

fn count(app: &TestApp, sql: &str) -> i64 {
    app.scalar(sql).unwrap().parse().unwrap()
}

async fn a_past_version_is_restored_as_an_audited_update_with_a_webhook_event(backend: Backend) {
    let app = signed_in(backend).await;
    let res = app
        .edit("/data/people/1", &[("f.name", "Bea"), ("f.city", "Rome")])
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let res = app.edit("/data/people/1", &[("f.name", "Cy")]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let updates = entry_ids(&app, "record.updated");
    assert_eq!(updates.len(), 2);
    let first = &updates[0];
    let restore = format!("/data/people/1/restore/{first}");

    let record = app.session().page("/data/people/1").await;
    assert!(record.contains(&format!("href=\"{restore}\"")), "{record}");

    // The confirmation shows what changes: only the name (the city is as it was then).
    let confirm = app.session().page(&restore).await;
    assert!(
        confirm.contains("<th scope=\"row\">name</th><td><del>Cy</del></td><td>→ <ins>Bea</ins>"),
        "{confirm}"
    );
    assert!(
        !confirm.contains("<th scope=\"row\">city</th>"),
        "{confirm}"
    );
    let version = version_in(&confirm);

    // A version that is no longer current is refused with 409 and changes nothing.
    let res = app
        .post_form(
            &restore,
            &restore,
            &[("_version", "0123456789abcdef01234567")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    assert_eq!(
        app.scalar("SELECT name FROM people WHERE id = 1")
            .as_deref(),
        Some("Cy")
    );
    let events_before = count(
        &app,
        "SELECT COUNT(*) FROM gh_outbox WHERE event_type = 'record.updated'",
    );

    let res = app
        .post_form(&restore, &restore, &[("_version", &version)])
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), "/data/people/1");
    assert_eq!(
        app.scalar("SELECT name FROM people WHERE id = 1")
            .as_deref(),
        Some("Bea")
    );
    assert_eq!(
        app.scalar("SELECT city FROM people WHERE id = 1")
            .as_deref(),
        Some("Rome")
    );

    // Audited as row.restored, naming the entry it restored, with before and after.
    let changes: serde_json::Value = serde_json::from_str(
        &app.scalar("SELECT changes FROM gh_audit WHERE action = 'row.restored'")
            .unwrap(),
    )
    .unwrap();
    assert_eq!(changes["source"], first.as_str());
    assert_eq!(changes["before"]["name"], "Cy");
    assert_eq!(changes["after"]["name"], "Bea");
    // And a webhook event queued in the same transaction.
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM gh_outbox WHERE event_type = 'record.updated'"
        ),
        events_before + 1
    );
    let payload: serde_json::Value = serde_json::from_str(
        &app.scalar("SELECT payload FROM gh_outbox ORDER BY id DESC LIMIT 1")
            .expect("the restore's event"),
    )
    .unwrap();
    assert_eq!(payload["type"], "record.updated");
    assert_eq!(payload["data"]["before"]["name"], "Cy");
    assert_eq!(payload["data"]["after"]["name"], "Bea");

    // Restoring the same version again: nothing to change, said so.
    let confirm = app.session().page(&restore).await;
    assert!(confirm.contains("restoring changes nothing"), "{confirm}");
    // An entry of another row, or no entry at all, is not found.
    assert_eq!(
        app.get("/data/people/1/restore/nope").await.status(),
        StatusCode::NOT_FOUND
    );
}

async fn a_restore_hides_and_keeps_the_columns_the_role_cannot_see(backend: Backend) {
    let app = signed_in(backend).await;
    let res = app
        .post_form(
            "/roles/new",
            "/roles",
            &[
                ("name", "clerk"),
                ("description", "Front desk"),
                ("t.people.r", "on"),
                ("t.people.c", "on"),
                ("t.people.u", "on"),
                ("h.people", "bio"),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    {
        let mut conn = app.db_conn();
        let hash = gatehouse::identity::password::hash(PASSWORD).unwrap();
        let new = gatehouse::identity::users::NewUser {
            email: "clerk@example.com",
            display_name: "Clerk",
            password_hash: &hash,
            role: "clerk",
        };
        gatehouse::identity::users::insert(&mut conn, new, gatehouse::db::now()).unwrap();
    }
    let client = new_client();
    let clerk = Session::of(&app, &client);
    clerk.sign_in("clerk@example.com", PASSWORD).await;

    // The administrator changes the hidden column, the clerk the name, the administrator
    // both again.
    let res = app.edit("/data/people/1", &[("f.bio", "second bio")]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let res = clerk.edit("/data/people/1", &[("f.name", "Bea")]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let res = app
        .edit(
            "/data/people/1",
            &[("f.name", "Cy"), ("f.bio", "third bio")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let updates = entry_ids(&app, "record.updated");
    assert_eq!(updates.len(), 3);
    let (admins, clerks) = (&updates[0], &updates[1]);

    // Another operator's entries are not the clerk's to see (their History shows their own):
    // not found, rather than a page with someone else's values.
    let res = clerk.get(&format!("/data/people/1/restore/{admins}")).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);

    let restore = format!("/data/people/1/restore/{clerks}");
    let confirm = clerk.page(&restore).await;
    assert!(confirm.contains("<ins>Bea</ins>"), "{confirm}");
    assert!(
        !confirm.contains("bio")
            && !confirm.contains("second bio")
            && !confirm.contains("third bio"),
        "a hidden column is never shown: {confirm}"
    );
    let version = version_in(&confirm);
    let res = clerk
        .post_form(&restore, &restore, &[("_version", &version)])
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        app.scalar("SELECT name FROM people WHERE id = 1")
            .as_deref(),
        Some("Bea")
    );
    assert_eq!(
        app.scalar("SELECT bio FROM people WHERE id = 1").as_deref(),
        Some("third bio"),
        "a hidden column is not restored"
    );
    let changes = app
        .scalar("SELECT changes FROM gh_audit WHERE action = 'row.restored'")
        .unwrap();
    assert!(!changes.contains("bio"), "{changes}");
}

async fn deleted_rows_are_listed_and_restored_under_their_key(backend: Backend) {
    let app = signed_in(backend).await;
    app.sql(&format!(
        "CREATE TABLE orders (id {}, person_id INTEGER REFERENCES people(id), note TEXT NOT NULL);
         INSERT INTO people (id, name) VALUES (2, 'Dee');
         INSERT INTO orders (id, person_id, note) VALUES (1, 1, 'first order'), (2, 1, 'second order'), (3, 2, 'third order');",
        serial(backend)
    ));
    let res = app.post_form("/data", "/data/refresh", &[]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    for id in 1..=3 {
        let path = format!("/data/orders/{id}/delete");
        assert_eq!(
            app.post_form(&path, &path, &[]).await.status(),
            StatusCode::SEE_OTHER
        );
    }
    let list = app.session().page("/data/orders/deleted").await;
    for note in ["first order", "second order", "third order"] {
        assert!(list.contains(note), "{list}");
    }
    assert!(list.contains(crate::common::ADMIN_EMAIL), "{list}");
    let deletions = entry_ids(&app, "record.deleted");
    let entry_of = |key: &str| {
        deletions
            .iter()
            .find(|id| {
                app.scalar(&format!("SELECT row_key FROM gh_audit WHERE id = '{id}'"))
                    .as_deref()
                    == Some(key)
            })
            .cloned()
            .unwrap()
    };

    // Restored: the same key, the same values, audited, a created event.
    let action = format!("/data/orders/deleted/{}", entry_of("1"));
    let res = app.post_form("/data/orders/deleted", &action, &[]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), "/data/orders/1");
    assert_eq!(
        app.scalar("SELECT note FROM orders WHERE id = 1")
            .as_deref(),
        Some("first order")
    );
    let changes: serde_json::Value = serde_json::from_str(
        &app.scalar("SELECT changes FROM gh_audit WHERE action = 'row.restored'")
            .unwrap(),
    )
    .unwrap();
    assert_eq!(changes["source"], entry_of("1").as_str());
    assert_eq!(changes["after"]["note"], "first order");
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM gh_outbox WHERE event_type = 'record.created' AND payload LIKE '%first order%'"
        ),
        1
    );

    // The key was taken again meanwhile: refused with a message, nothing written.
    app.sql("INSERT INTO orders (id, person_id, note) VALUES (2, 1, 'a newcomer')");
    let action = format!("/data/orders/deleted/{}", entry_of("2"));
    let res = app.post_form("/data/orders/deleted", &action, &[]).await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    let body = res.text().await.unwrap();
    assert!(body.contains("A row with the key 2 exists again"), "{body}");
    assert_eq!(
        app.scalar("SELECT note FROM orders WHERE id = 2")
            .as_deref(),
        Some("a newcomer")
    );

    // The person it referred to is gone: refused, naming the column and the table.
    let res = app
        .post_form("/data/people/2/delete", "/data/people/2/delete", &[])
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let action = format!("/data/orders/deleted/{}", entry_of("3"));
    let res = app.post_form("/data/orders/deleted", &action, &[]).await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    let body = res.text().await.unwrap();
    assert!(
        body.contains("referred to is gone") && body.contains("person_id: No row of people"),
        "{body}"
    );
    assert_eq!(count(&app, "SELECT COUNT(*) FROM orders WHERE id = 3"), 0);
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM gh_audit WHERE action = 'row.restored'"
        ),
        1
    );

    // A viewer sees the list but may not restore.
    {
        let mut conn = app.db_conn();
        let hash = gatehouse::identity::password::hash(PASSWORD).unwrap();
        let new = gatehouse::identity::users::NewUser {
            email: "viewer@example.com",
            display_name: "Viewer",
            password_hash: &hash,
            role: "viewer",
        };
        gatehouse::identity::users::insert(&mut conn, new, gatehouse::db::now()).unwrap();
    }
    let client = new_client();
    let viewer = Session::of(&app, &client);
    viewer.sign_in("viewer@example.com", PASSWORD).await;
    let token = viewer.csrf("/data/orders/deleted").await;
    let res = viewer.post_with_token(&action, &token, &[]).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
}

async fn the_history_card_shows_readable_diffs_newest_first_in_pages(backend: Backend) {
    let app = signed_in(backend).await;
    for i in 1..=22 {
        let name = format!("Name {i:02}");
        let res = app.edit("/data/people/1", &[("f.name", &name)]).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
    }
    let first = app.session().page("/data/people/1").await;
    let history = &first[first.find("<h2>History</h2>").expect("a history")..];
    assert_eq!(
        history.matches("<strong>record.updated</strong>").count(),
        20
    );
    // Newest first, each a column with before → after, and who.
    let newest = history
        .find("<th scope=\"row\">name</th><td><del>Name 21</del></td><td>→ <ins>Name 22</ins>")
        .expect("the newest change as a diff");
    let older = history
        .find("<del>Name 20</del></td><td>→ <ins>Name 21</ins>")
        .expect("the one before");
    assert!(newest < older);
    assert!(history.contains(&format!("by {}", crate::common::ADMIN_EMAIL)));
    assert!(!history.contains("<pre>"), "no raw JSON: {history}");
    assert!(
        history.contains("href=\"/data/people/1?history=2\">Older changes"),
        "{history}"
    );

    let second = app.session().page("/data/people/1?history=2").await;
    let history = &second[second.find("<h2>History</h2>").expect("a history")..];
    assert_eq!(
        history.matches("<strong>record.updated</strong>").count(),
        2
    );
    assert!(
        history.contains("<del>Ann</del></td><td>→ <ins>Name 01</ins>"),
        "{history}"
    );
    assert!(history.contains("href=\"/data/people/1?history=1\">← Newer changes"));
    assert!(!history.contains("Older changes"));

    // A restore says so in the history.
    let source = entry_ids(&app, "record.updated")[0].clone();
    let restore = format!("/data/people/1/restore/{source}");
    let version = version_in(&app.session().page(&restore).await);
    let res = app
        .post_form(&restore, &restore, &[("_version", &version)])
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let page = app.session().page("/data/people/1").await;
    assert!(
        page.contains(&format!(
            "<strong>row.restored</strong> by {} <time",
            crate::common::ADMIN_EMAIL
        )) && page.contains(&format!("via restore of entry {source}")),
        "{page}"
    );
    assert_eq!(
        app.scalar("SELECT name FROM people WHERE id = 1")
            .as_deref(),
        Some("Name 01")
    );
}

async fn the_audit_log_exports_its_filtered_entries_as_csv(backend: Backend) {
    let app = signed_in(backend).await;
    app.sql(&format!(
        "CREATE TABLE other (id {}, name TEXT);",
        serial(backend)
    ));
    app.sql("INSERT INTO other (id, name) VALUES (1, 'x')");
    let res = app.post_form("/data", "/data/refresh", &[]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let res = app
        .edit(
            "/data/people/1",
            &[("f.name", "=HYPERLINK(\"http://evil\")")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let res = app.edit("/data/other/1", &[("f.name", "y")]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);

    let page = app.session().page("/audit?table=people").await;
    assert!(
        page.contains("href=\"/audit/export.csv?table=people"),
        "{page}"
    );
    let res = app.get("/audit/export.csv?table=people").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let body = res.text().await.unwrap();
    let lines: Vec<&str> = body.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(lines[0], "id,at,user,action,table,key,changes,via");
    assert_eq!(lines.len(), 2, "only the filtered table's entry: {body}");
    let id = entry_ids(&app, "record.updated")
        .into_iter()
        .find(|id| {
            app.scalar(&format!(
                "SELECT table_name FROM gh_audit WHERE id = '{id}'"
            ))
            .as_deref()
                == Some("people")
        })
        .unwrap();
    assert!(lines[1].starts_with(&format!("{id},")), "{body}");
    assert!(
        lines[1].contains(&format!(
            ",{},record.updated,people,1,",
            crate::common::ADMIN_EMAIL
        )),
        "{body}"
    );
    // The changes are one quoted field, quotes doubled; the formula is inside JSON, so it
    // cannot start a cell.
    assert!(
        lines[1].contains("\"{\"\"after\"\":{\"\"name\"\":\"\"=HYPERLINK"),
        "{body}"
    );
    assert!(!body.contains(",=HYPERLINK"), "{body}");

    // A cell that starts with a formula character is neutralised.
    app.sql("UPDATE gh_audit SET row_key = '=1+1' WHERE table_name = 'other'");
    let body = app
        .get("/audit/export.csv?table=other")
        .await
        .text()
        .await
        .unwrap();
    assert!(body.contains(",other,'=1+1,"), "{body}");
    // A bad filter is a clear 400, as on the page.
    let res = app.get("/audit/export.csv?since=yesterday").await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
}

fn insert_old_entries(app: &TestApp, n: usize, tag: &str) {
    for i in 0..n {
        app.sql(&format!(
            "INSERT INTO gh_audit (id, created_at, user_id, user_email, action, table_name, row_key, changes) \
             VALUES ('{tag}-{i}', '2020-01-01 00:00:00', NULL, 'old@example.com', 'record.updated', 'people', '1', '{{}}')"
        ));
    }
}

async fn audit_retention_prunes_old_entries_in_batches_and_keeps_new_ones(backend: Backend) {
    let mut app = TestApp::spawn_with(backend, &["--audit-retention", "400d"]).await;
    app.setup_admin().await;
    app.sql(&format!(
        "CREATE TABLE people (id {}, name TEXT NOT NULL);",
        serial(backend)
    ));
    app.sql("INSERT INTO people (id, name) VALUES (1, 'Ann')");
    let res = app.edit("/data/people/1", &[("f.name", "Bea")]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let recent = count(&app, "SELECT COUNT(*) FROM gh_audit");
    assert!(recent >= 1);
    let described = app.state.config.describe();
    assert!(described.contains("audit-retention"), "{described}");
    assert!(!described.contains("keep forever"), "{described}");

    // The store's pruning: batch by batch until nothing older is left.
    insert_old_entries(&app, 5, "a");
    let cutoff = gatehouse::db::now() - chrono::Duration::days(400);
    let pruned = gatehouse::audit::prune(&mut app.db_conn(), cutoff, 2).unwrap();
    assert_eq!(pruned, 5);
    assert_eq!(count(&app, "SELECT COUNT(*) FROM gh_audit"), recent);

    // The background task prunes at start (and hourly): restart with old entries present.
    insert_old_entries(&app, 3, "b");
    app.restart().await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while count(
        &app,
        "SELECT COUNT(*) FROM gh_audit WHERE user_email = 'old@example.com'",
    ) > 0
    {
        assert!(
            std::time::Instant::now() < deadline,
            "old entries were not pruned"
        );
        actix_web::rt::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM gh_audit"),
        recent,
        "new entries are kept"
    );

    // Without the flag, entries are kept forever.
    let plain = TestApp::spawn(backend).await;
    assert!(plain.state.config.describe().contains("keep forever"));
    assert!(plain.state.config.audit_retention.is_none());
}
