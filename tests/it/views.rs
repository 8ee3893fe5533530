//! Saved views on both backends: a personal view keeps its search, filters, sort and
//! columns and stays personal; a shared view reaches its roles without revealing hidden
//! columns; a view whose column was dropped opens with a notice; `?view=ID` in exports and
//! the API; renaming, sharing and deleting are audited; bad input stores nothing.

use reqwest::StatusCode;
use serde_json::Value;

use crate::common::{Backend, Session, TestApp, location, new_client};

both_backends!(
    a_personal_view_keeps_its_query_and_stays_personal,
    a_shared_view_reaches_its_role_without_revealing_hidden_columns,
    a_view_whose_column_is_gone_opens_with_a_notice,
    changes_renames_shares_and_deletes_are_audited,
);

const PASSWORD: &str = "wobbly giraffe paints violet harbours";

fn schema(backend: Backend) -> String {
    let id = match backend {
        Backend::Sqlite => "INTEGER PRIMARY KEY",
        Backend::Postgres => "SERIAL PRIMARY KEY",
    };
    let mut sql =
        format!("CREATE TABLE people (id {id}, name TEXT NOT NULL, age INTEGER, bio TEXT);");
    for i in 1..=30 {
        sql.push_str(&format!(
            "INSERT INTO people (name, age, bio) VALUES ('Person {i}', {}, 'SECRET-BIO-{i}');",
            20 + i
        ));
    }
    sql
}

/// An operator with `role`, signed in on a client of their own.
async fn operator(app: &TestApp, email: &str, role: &str) -> reqwest::Client {
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

/// Save a view through the list's form; returns its id.
async fn save(s: &Session<'_>, name: &str, query: &str, roles: &[&str]) -> i64 {
    let mut fields = vec![("name", name), ("query", query)];
    fields.extend(roles.iter().map(|r| ("role", *r)));
    let res = s
        .post_form("/data/people", "/data/people/views", &fields)
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "saving {name}");
    let to = location(&res);
    to.strip_prefix("/data/people?view=")
        .unwrap_or_else(|| panic!("saved view redirects to itself, not {to}"))
        .parse()
        .unwrap()
}

fn count(app: &TestApp, sql: &str) -> u64 {
    app.scalar(&format!("SELECT CAST(COUNT(*) AS TEXT) FROM {sql}"))
        .unwrap()
        .parse()
        .unwrap()
}

/// Create an API token of `role` (it acts for the administrator who made it).
async fn token(app: &TestApp, role: &str) -> String {
    let res = app
        .post_form(
            "/integrations/tokens",
            "/integrations/tokens",
            &[("name", role), ("role", role), ("expires_days", "30")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let page = res.text().await.unwrap();
    let marker = "id=\"new-token\">";
    let start = page.find(marker).expect("the new token is shown") + marker.len();
    page[start..start + page[start..].find('<').unwrap()].to_string()
}

async fn api_get(app: &TestApp, path: &str, token: &str) -> reqwest::Response {
    reqwest::Client::new()
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

async fn a_personal_view_keeps_its_query_and_stays_personal(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    app.sql(&schema(backend));
    let admin = app.session();
    // The list's query as the page posts it, page number included (a view does not keep it).
    let id = save(
        &admin,
        "Over forty",
        "q=Person&age__gte=41&sort=-age&cols=id,name,age&page=1",
        &[],
    )
    .await;
    assert_eq!(
        app.scalar(&format!("SELECT query FROM gh_views WHERE id = {id}")),
        Some("q=Person&age__gte=41&sort=-age&cols=id%2Cname%2Cage".into())
    );

    // Reopened: its filter, sort and columns apply, and the menu marks it.
    let page = admin.page(&format!("/data/people?view={id}")).await;
    assert!(page.contains("aria-current=\"page\" title=\"personal\">Over forty</a>"));
    assert!(page.contains("Person 30") && page.contains("Person 21"));
    assert!(!page.contains("Person 20<"), "the filter applies");
    assert!(!page.contains("SECRET-BIO"), "the view's columns apply");
    let (p30, p21) = (
        page.find("Person 30").unwrap(),
        page.find("Person 21").unwrap(),
    );
    assert!(p30 < p21, "sorted by age, descending");
    // A change on top in the address wins over the view's own.
    let page = admin
        .page(&format!("/data/people?view={id}&sort=age"))
        .await;
    assert!(page.find("Person 21").unwrap() < page.find("Person 30").unwrap());
    assert!(
        !page.contains("Person 20<"),
        "the rest of the view still applies"
    );

    // Exports with the view: its rows, order and columns.
    let csv = admin
        .get(&format!("/data/people/export.csv?view={id}"))
        .await
        .text()
        .await
        .unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "id,name,age");
    assert_eq!(lines.len(), 11, "ten rows over forty and the header: {csv}");
    assert!(lines[1].contains("Person 30"));
    let json: Value = admin
        .get(&format!("/data/people/export.json?view={id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(json.as_array().unwrap().len(), 10);

    // The API with a view shared with the token's role; a personal view is not the token's.
    let shared = save(
        &admin,
        "Over forty, shared",
        "age__gte=41&sort=-age&cols=id,name,age",
        &["viewer"],
    )
    .await;
    let tok = token(&app, "viewer").await;
    let res = api_get(
        &app,
        &format!("/api/v1/tables/people/rows?view={shared}"),
        &tok,
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    let rows = body["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 10);
    assert_eq!(rows[0]["name"], "Person 30");
    let res = api_get(
        &app,
        &format!("/api/v1/tables/people/rows?view={shared}&sort=age"),
        &tok,
    )
    .await;
    assert_eq!(
        res.json::<Value>().await.unwrap()["rows"][0]["name"],
        "Person 21"
    );
    let res = api_get(&app, &format!("/api/v1/tables/people/rows?view={id}"), &tok).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let res = api_get(&app, "/api/v1/tables/people/rows?view=abc", &tok).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);

    // Another operator cannot open, export or change it: not found.
    let other = operator(&app, "ed@example.com", "editor").await;
    let ed = Session::of(&app, &other);
    for path in [
        format!("/data/people?view={id}"),
        format!("/data/people/export.csv?view={id}"),
    ] {
        assert_eq!(
            ed.get(&path).await.status(),
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    let res = ed
        .post_form(
            "/data/people",
            &format!("/data/people/views/{id}"),
            &[("name", "Mine now")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert!(!ed.page("/data/people").await.contains("Over forty"));
    // Bad input is refused and stores nothing.
    let before = count(&app, "gh_views");
    for (name, query) in [
        ("", "age__gte=1"),
        ("Bad", "nosuch__eq=1"),
        ("Bad", "sort=nosuch"),
    ] {
        let res = admin
            .post_form(
                "/data/people",
                "/data/people/views",
                &[("name", name), ("query", query)],
            )
            .await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{name} {query}");
    }
    assert_eq!(count(&app, "gh_views"), before);
}

async fn a_shared_view_reaches_its_role_without_revealing_hidden_columns(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    app.sql(&schema(backend));
    let res = app
        .post_form(
            "/roles/new",
            "/roles",
            &[("name", "clerk"), ("t.people.r", "on"), ("h.people", "bio")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let admin = app.session();
    let id = save(
        &admin,
        "Bios",
        "cols=id,name,bio&bio__contains=SECRET&sort=-id",
        &["clerk"],
    )
    .await;
    // The administrator sees the hidden column through the view.
    assert!(
        admin
            .page(&format!("/data/people?view={id}"))
            .await
            .contains("SECRET-BIO-30")
    );

    let clerk_client = operator(&app, "clerk@example.com", "clerk").await;
    let clerk = Session::of(&app, &clerk_client);
    let list = clerk.page("/data/people").await;
    assert!(list.contains(&format!("href=\"/data/people?view={id}\"")));
    assert!(list.contains("shared with clerk"));
    let page = clerk.page(&format!("/data/people?view={id}")).await;
    assert!(
        !page.contains("SECRET-BIO"),
        "a shared view never reveals a hidden column"
    );
    assert!(
        page.contains("id=\"view-notice\""),
        "the dropped parts are noticed"
    );
    assert!(
        page.contains("Person 30") && page.contains("Person 1<"),
        "the rest applies"
    );
    assert!(page.find("Person 30").unwrap() < page.find("Person 29").unwrap());
    let csv = clerk
        .get(&format!("/data/people/export.csv?view={id}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(!csv.contains("SECRET-BIO") && !csv.contains("bio"), "{csv}");
    assert_eq!(csv.lines().next(), Some("id,name"));

    // The clerk may open it, not change it, and may not share views.
    let res = clerk
        .post_form(
            "/data/people",
            &format!("/data/people/views/{id}"),
            &[("name", "Taken")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let before = count(&app, "gh_views");
    let res = clerk
        .post_form(
            "/data/people",
            "/data/people/views",
            &[("name", "Mine"), ("query", ""), ("role", "clerk")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(count(&app, "gh_views"), before);
    // An operator of a role it is not shared with does not find it.
    let ed_client = operator(&app, "ed@example.com", "editor").await;
    let ed = Session::of(&app, &ed_client);
    assert_eq!(
        ed.get(&format!("/data/people?view={id}")).await.status(),
        StatusCode::NOT_FOUND
    );
    // Sharing with a role that does not exist is refused.
    let res = admin
        .post_form(
            "/data/people",
            "/data/people/views",
            &[("name", "Ghost"), ("query", ""), ("role", "ghosts")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(count(&app, "gh_views"), before);
}

async fn a_view_whose_column_is_gone_opens_with_a_notice(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    app.sql(&schema(backend));
    let admin = app.session();
    let id = save(
        &admin,
        "Third",
        "name__eq=Person+3&sort=-age&age__gte=1&cols=id,name,age",
        &[],
    )
    .await;
    app.sql("ALTER TABLE people DROP COLUMN age");
    let res = admin.get(&format!("/data/people?view={id}")).await;
    assert_eq!(res.status(), StatusCode::OK);
    let page = res.text().await.unwrap();
    assert!(page.contains("id=\"view-notice\""));
    assert!(
        page.contains("refers to 3 column(s) that no longer exist"),
        "{page}"
    );
    assert!(page.contains("Person 3<"), "the remaining filter applies");
    assert!(!page.contains("Person 4<"));
}

async fn changes_renames_shares_and_deletes_are_audited(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    app.sql(&schema(backend));
    let admin = app.session();
    let id = save(&admin, "Draft", "age__gte=30", &[]).await;
    let view_page = format!("/data/people?view={id}");
    let res = admin
        .post_form(
            &view_page,
            &format!("/data/people/views/{id}"),
            &[
                ("name", "Thirties"),
                ("query", "age__gte=30&age__lt=40"),
                ("sharing", "1"),
                ("role", "viewer"),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), view_page);
    assert_eq!(
        app.scalar(&format!("SELECT name FROM gh_views WHERE id = {id}")),
        Some("Thirties".into())
    );
    assert_eq!(
        count(
            &app,
            &format!("gh_view_roles WHERE view_id = {id} AND role_name = 'viewer'")
        ),
        1
    );
    let viewer_client = operator(&app, "vi@example.com", "viewer").await;
    let viewer = Session::of(&app, &viewer_client);
    let page = viewer.page(&view_page).await;
    assert!(page.contains("Person 10<") && !page.contains("Person 20<"));

    // Delete needs the confirmation; without it nothing goes.
    let del = format!("/data/people/views/{id}/delete");
    let res = admin.post_form(&view_page, &del, &[]).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(count(&app, "gh_views"), 1);
    let res = admin
        .post_form(&view_page, &del, &[("confirm", "yes")])
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(count(&app, "gh_views"), 0);
    assert_eq!(count(&app, "gh_view_roles"), 0);
    assert_eq!(viewer.get(&view_page).await.status(), StatusCode::NOT_FOUND);

    for action in [
        "view.created",
        "view.renamed",
        "view.updated",
        "view.shared",
        "view.deleted",
    ] {
        let n = count(
            &app,
            &format!(
                "gh_audit WHERE action = '{action}' AND table_name = 'gh_views' AND row_key = '{id}' AND user_email = 'admin@example.com'"
            ),
        );
        assert_eq!(n, 1, "{action}");
    }
}
