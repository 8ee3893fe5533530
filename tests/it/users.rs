//! Operators, roles and permissions on both backends: the authorization matrix over every
//! route, hidden columns, the last-administrator and self guards, disabling, password
//! changes, reset links, sessions.

use std::collections::BTreeSet;

use reqwest::StatusCode;

use crate::common::{
    ADMIN_EMAIL, ADMIN_PASSWORD, Backend, Session, TestApp, location, new_client, set_cookie,
};

both_backends!(
    the_authorization_matrix_covers_every_route,
    administrators_manage_operators_with_guards_and_audit,
    a_custom_role_sees_only_its_tables_and_columns,
    password_changes_and_reset_links_end_other_sessions,
    operators_see_and_end_their_sessions,
);

const PASSWORD: &str = "wobbly giraffe paints violet harbours";

fn schema(backend: Backend) -> String {
    let id = match backend {
        Backend::Sqlite => "INTEGER PRIMARY KEY",
        Backend::Postgres => "SERIAL PRIMARY KEY",
    };
    let mut sql = format!(
        "CREATE TABLE people (id {id}, name TEXT NOT NULL, bio TEXT); CREATE TABLE secrets (id {id}, code TEXT);
         INSERT INTO secrets (code) VALUES ('TOP-SECRET');"
    );
    for i in 1..=30 {
        sql.push_str(&format!(
            "INSERT INTO people (name, bio) VALUES ('Person {i}', 'SECRET-BIO-{i}');"
        ));
    }
    sql
}

/// Create the custom role `clerk`: people read/create/update with `bio` hidden, no secrets.
async fn create_clerk_role(app: &TestApp) {
    app.create_role(
        "clerk",
        &[
            ("description", "Front desk"),
            ("t.people.r", "on"),
            ("t.people.c", "on"),
            ("t.people.u", "on"),
            ("h.people", "bio"),
            ("share_views", "on"),
        ],
    )
    .await;
}

fn user_id(app: &TestApp, email: &str) -> String {
    app.scalar(&format!("SELECT id FROM gh_users WHERE email = '{email}'"))
        .unwrap()
}

/// (route, path, form fields, expected statuses) of a POST.
type PostCase = (&'static str, String, Vec<(&'static str, String)>, [u16; 6]);

struct Case {
    method: &'static str,
    route: &'static str,
    path: String,
    form: Vec<(&'static str, String)>,
    /// admin, editor, viewer, clerk (custom), disabled, anonymous
    expect: [u16; 6],
}

fn case(method: &'static str, route: &'static str, path: &str, expect: [u16; 6]) -> Case {
    Case {
        method,
        route,
        path: path.to_string(),
        form: Vec::new(),
        expect,
    }
}

/// Every route of the route table.
fn registered_routes() -> BTreeSet<(String, String)> {
    gatehouse::routes::ROUTES
        .iter()
        .map(|r| (r.method.to_string(), r.path.to_string()))
        .collect()
}

async fn the_authorization_matrix_covers_every_route(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    app.sql(&schema(backend));
    create_clerk_role(&app).await;
    let editor = app.operator("editor@example.com", "editor", PASSWORD).await;
    let viewer = app.operator("viewer@example.com", "viewer", PASSWORD).await;
    let clerk = app.operator("clerk@example.com", "clerk", PASSWORD).await;
    let disabled = app.operator("gone@example.com", "editor", PASSWORD).await;
    app.sql("UPDATE gh_users SET disabled = TRUE WHERE email = 'gone@example.com'");
    app.operator("target@example.com", "viewer", PASSWORD).await;
    let target = user_id(&app, "target@example.com");
    let anonymous = new_client();
    let clients = [&app.client, &editor, &viewer, &clerk, &disabled, &anonymous];
    let names = [
        "admin",
        "editor",
        "viewer",
        "clerk",
        "disabled",
        "anonymous",
    ];

    let (ok, see, bad, forbidden, missing, unprocessable) = (200, 303, 400, 403, 404, 422);
    let signed = |code: u16| [code, code, code, code, see, see];
    let admin_only = |code: u16| [code, forbidden, forbidden, forbidden, see, see];
    let mut cases = vec![
        case("GET", "/", "/", signed(ok)),
        case("GET", "/healthz", "/healthz", [ok; 6]),
        case("GET", "/readyz", "/readyz", [ok; 6]),
        // Off unless --metrics (tests/it/metrics.rs covers it on).
        case("GET", "/metrics", "/metrics", [missing; 6]),
        case("GET", "/static/{path:.*}", "/static/app.css", [ok; 6]),
        case("GET", "/login", "/login", [see, see, see, see, ok, ok]),
        case("GET", "/setup", "/setup", [missing; 6]),
        case("POST", "/setup", "/setup", [missing; 6]),
        case("GET", "/data", "/data", signed(ok)),
        case("POST", "/data/refresh", "/data/refresh", signed(see)),
        case("GET", "/data/{table}", "/data/people", signed(ok)),
        case(
            "GET",
            "/data/{table}",
            "/data/secrets",
            [ok, ok, ok, missing, see, see],
        ),
        case(
            "GET",
            "/data/{table}/new",
            "/data/people/new",
            [ok, ok, forbidden, ok, see, see],
        ),
        case("GET", "/data/new-table", "/data/new-table", admin_only(ok)),
        case(
            "GET",
            "/data/{table}/schema",
            "/data/people/schema",
            admin_only(ok),
        ),
        case(
            "GET",
            "/data/{table}/export.csv",
            "/data/people/export.csv",
            signed(ok),
        ),
        case(
            "GET",
            "/data/{table}/export.json",
            "/data/secrets/export.json",
            [ok, ok, ok, missing, see, see],
        ),
        case(
            "GET",
            "/data/{table}/lookup",
            "/data/people/lookup?column=name",
            signed(bad),
        ),
        case("GET", "/data/{table}/{key}", "/data/people/1", signed(ok)),
        case(
            "GET",
            "/data/{table}/{key}",
            "/data/secrets/1",
            [ok, ok, ok, missing, see, see],
        ),
        case(
            "GET",
            "/data/{table}/{key}/delete",
            "/data/people/2/delete",
            [ok, ok, forbidden, forbidden, see, see],
        ),
        case(
            "GET",
            "/data/{table}/chart",
            "/data/people/chart?by=name",
            signed(ok),
        ),
        case(
            "GET",
            "/data/{table}/chart",
            "/data/secrets/chart",
            [ok, ok, ok, missing, see, see],
        ),
        case(
            "GET",
            "/data/{table}/deleted",
            "/data/people/deleted",
            signed(ok),
        ),
        case(
            "GET",
            "/data/{table}/import",
            "/data/people/import",
            [ok, ok, forbidden, ok, see, see],
        ),
        // Uploads belong to the operator who sent them: anyone else's id is not found.
        case(
            "GET",
            "/data/{table}/import/{id}",
            "/data/people/import/nope",
            signed(missing),
        ),
        case(
            "GET",
            "/data/{table}/import/{id}/rejected.csv",
            "/data/people/import/nope/rejected.csv",
            signed(missing),
        ),
        // An entry that does not exist: not found, once the right to update is checked.
        case(
            "GET",
            "/data/{table}/{key}/restore/{entry}",
            "/data/people/1/restore/nope",
            [missing, missing, forbidden, missing, see, see],
        ),
        // The SQL console: administrators hold "run SQL"; these roles do not.
        case("GET", "/sql", "/sql", admin_only(ok)),
        case("GET", "/audit", "/audit", signed(ok)),
        case("GET", "/events", "/events", signed(ok)),
        case("GET", "/audit/export.csv", "/audit/export.csv", signed(ok)),
        case("GET", "/account", "/account", signed(ok)),
        case("GET", "/reset", "/reset?token=nope", [forbidden; 6]),
        case("POST", "/reset", "/reset", [forbidden; 6]),
        case("GET", "/users", "/users", admin_only(ok)),
        case("GET", "/users/new", "/users/new", admin_only(ok)),
        case(
            "GET",
            "/users/{id}",
            &format!("/users/{target}"),
            admin_only(ok),
        ),
        case(
            "GET",
            "/users/{id}/delete",
            &format!("/users/{target}/delete"),
            admin_only(ok),
        ),
        case("GET", "/roles", "/roles", admin_only(ok)),
        case("GET", "/roles/new", "/roles/new", admin_only(ok)),
        case("GET", "/roles/{name}", "/roles/clerk", admin_only(ok)),
        case(
            "GET",
            "/roles/{name}/rules/{table}",
            "/roles/clerk/rules/people",
            admin_only(ok),
        ),
        case("GET", "/login/code", "/login/code", [see; 6]),
        case("GET", "/login/enrol", "/login/enrol", [see; 6]),
        case("GET", "/account/2fa", "/account/2fa", signed(ok)),
        case("GET", "/account/passkeys", "/account/passkeys", signed(ok)),
        case("GET", "/login/passkey", "/login/passkey", [see; 6]),
        case(
            "GET",
            "/login/passkey/enrol",
            "/login/passkey/enrol",
            [see; 6],
        ),
        case("GET", "/integrations", "/integrations", admin_only(see)),
        case(
            "GET",
            "/integrations/tokens",
            "/integrations/tokens",
            admin_only(ok),
        ),
        case(
            "GET",
            "/integrations/webhooks",
            "/integrations/webhooks",
            admin_only(ok),
        ),
        case(
            "GET",
            "/integrations/webhooks/{id}",
            "/integrations/webhooks/nope",
            admin_only(missing),
        ),
        case(
            "GET",
            "/integrations/email",
            "/integrations/email",
            admin_only(ok),
        ),
        case(
            "GET",
            "/integrations/sso",
            "/integrations/sso",
            admin_only(ok),
        ),
        case(
            "GET",
            "/integrations/sso/{id}",
            "/integrations/sso/nope",
            admin_only(missing),
        ),
        // An unknown provider, or a callback without a flow: back to the sign-in page.
        case("GET", "/login/sso/{id}", "/login/sso/nope", [see; 6]),
        case(
            "GET",
            "/login/sso/callback",
            "/login/sso/callback",
            [see; 6],
        ),
        case("GET", "/forgot", "/forgot", [ok; 6]),
        // The API takes bearer tokens only: a signed-in browser session is not enough.
        case("GET", "/api/v1/tables", "/api/v1/tables", [401; 6]),
        case(
            "GET",
            "/api/v1/tables/{table}/rows",
            "/api/v1/tables/people/rows",
            [401; 6],
        ),
        case(
            "GET",
            "/api/v1/tables/{table}/rows/{key}",
            "/api/v1/tables/people/rows/1",
            [401; 6],
        ),
        case("GET", "/api/openapi.json", "/api/openapi.json", [401; 6]),
        case(
            "POST",
            "/api/v1/tables/{table}/import",
            "/api/v1/tables/people/import",
            [401; 6],
        ),
        case(
            "POST",
            "/api/v1/tables/{table}/rows",
            "/api/v1/tables/people/rows",
            [401; 6],
        ),
        case(
            "PATCH",
            "/api/v1/tables/{table}/rows/{key}",
            "/api/v1/tables/people/rows/1",
            [401; 6],
        ),
        case(
            "DELETE",
            "/api/v1/tables/{table}/rows/{key}",
            "/api/v1/tables/people/rows/1",
            [401; 6],
        ),
    ];
    let posts: Vec<PostCase> = vec![
        (
            "/data/new-table",
            "/data/new-table".into(),
            vec![("name", "Bad Name".into())],
            admin_only(unprocessable),
        ),
        (
            "/data/{table}/schema",
            "/data/people/schema".into(),
            vec![("op", "drop_table".into())],
            admin_only(ok),
        ),
        (
            "/data/{table}",
            "/data/people".into(),
            vec![("f.name", "Made".into())],
            [see, see, forbidden, see, see, see],
        ),
        // Not a file upload (multipart): refused once the right to import is checked.
        (
            "/data/{table}/import",
            "/data/people/import".into(),
            vec![("mode", "insert".into())],
            [bad, bad, forbidden, bad, see, see],
        ),
        (
            "/data/{table}/import/{id}",
            "/data/people/import/nope".into(),
            vec![("mode", "insert".into())],
            signed(missing),
        ),
        (
            "/data/{table}/bulk",
            "/data/people/bulk".into(),
            vec![("action", "export".into()), ("key", "3".into())],
            signed(ok),
        ),
        (
            "/data/{table}/views",
            "/data/people/views".into(),
            vec![("name", "Mine".into()), ("query", "sort=-id".into())],
            signed(see),
        ),
        // Sharing with roles takes the "share views" right (the clerk role has it).
        (
            "/data/{table}/views",
            "/data/people/views".into(),
            vec![("name", "Ours".into()), ("role", "viewer".into())],
            [see, forbidden, forbidden, see, see, see],
        ),
        (
            "/data/{table}/views/{id}",
            "/data/people/views/999999".into(),
            vec![("name", "Renamed".into())],
            signed(missing),
        ),
        (
            "/data/{table}/views/{id}/delete",
            "/data/people/views/999999/delete".into(),
            vec![("confirm", "yes".into())],
            signed(missing),
        ),
        (
            "/data/{table}/{key}",
            "/data/people/4".into(),
            vec![("f.name", "Edited".into())],
            [bad, bad, forbidden, bad, see, see],
        ),
        (
            "/data/{table}/{key}/restore/{entry}",
            "/data/people/4/restore/nope".into(),
            vec![],
            [bad, bad, forbidden, bad, see, see],
        ),
        // The clerk may create but not see every column, so may not restore deleted rows.
        (
            "/data/{table}/deleted/{entry}",
            "/data/people/deleted/nope".into(),
            vec![],
            [missing, missing, forbidden, forbidden, see, see],
        ),
        // The administrator deletes the row first: the editor then finds it gone, the viewer
        // is refused before the row is looked up, the clerk cannot see the table at all.
        (
            "/data/{table}/{key}/delete",
            "/data/secrets/1/delete".into(),
            vec![],
            [see, missing, forbidden, missing, see, see],
        ),
        (
            "/data/{table}/chart/pins",
            "/data/people/chart/pins".into(),
            vec![("title", "People".into()), ("query", "by=name".into())],
            signed(see),
        ),
        (
            "/data/{table}/chart/pins",
            "/data/secrets/chart/pins".into(),
            vec![("title", "Codes".into()), ("for", "everyone".into())],
            [see, forbidden, forbidden, missing, see, see],
        ),
        (
            "/dashboard/pins/{id}/delete",
            "/dashboard/pins/nope/delete".into(),
            vec![],
            signed(missing),
        ),
        (
            "/account/password",
            "/account/password".into(),
            vec![("current", "wrong".into())],
            signed(unprocessable),
        ),
        (
            "/account/settings",
            "/account/settings".into(),
            vec![
                ("time_zone", "Nowhere/Else".into()),
                ("theme", "light".into()),
            ],
            signed(see),
        ),
        (
            "/account/sessions/{id}/end",
            "/account/sessions/nope/end".into(),
            vec![],
            signed(missing),
        ),
        (
            "/account/sessions/end-others",
            "/account/sessions/end-others".into(),
            vec![],
            signed(see),
        ),
        (
            "/users",
            "/users".into(),
            vec![("email", "".into())],
            admin_only(unprocessable),
        ),
        (
            "/users/{id}",
            format!("/users/{target}"),
            vec![
                ("email", "target@example.com".into()),
                ("display_name", "Target".into()),
                ("role", "viewer".into()),
            ],
            admin_only(see),
        ),
        (
            "/users/{id}/disable",
            format!("/users/{target}/disable"),
            vec![],
            admin_only(see),
        ),
        (
            "/users/{id}/enable",
            format!("/users/{target}/enable"),
            vec![],
            admin_only(see),
        ),
        (
            "/users/{id}/sign-out",
            format!("/users/{target}/sign-out"),
            vec![],
            admin_only(see),
        ),
        (
            "/users/{id}/sessions/{sid}/end",
            format!("/users/{target}/sessions/nope/end"),
            vec![],
            admin_only(missing),
        ),
        (
            "/users/{id}/reset-2fa",
            format!("/users/{target}/reset-2fa"),
            vec![],
            admin_only(see),
        ),
        (
            "/users/{id}/reset-link",
            format!("/users/{target}/reset-link"),
            vec![],
            admin_only(ok),
        ),
        (
            "/roles",
            "/roles".into(),
            vec![("name", "Bad Name".into())],
            admin_only(unprocessable),
        ),
        (
            "/roles/{name}",
            "/roles/clerk".into(),
            vec![
                ("t.people.r", "on".into()),
                ("t.people.c", "on".into()),
                ("t.people.u", "on".into()),
                ("h.people", "bio".into()),
            ],
            admin_only(see),
        ),
        // An invalid rule: refused, so nothing changes what clerk sees.
        (
            "/roles/{name}/rules/{table}",
            "/roles/clerk/rules/people".into(),
            vec![("read.all", "nope__eq=1".into())],
            admin_only(unprocessable),
        ),
        (
            "/roles/{name}/rules/{table}/preview",
            "/roles/clerk/rules/people/preview".into(),
            vec![("read.all", "name__eq=$me.email".into())],
            admin_only(ok),
        ),
        (
            "/users/{id}/attributes",
            format!("/users/{target}/attributes"),
            vec![("key", "region".into()), ("value", "EU".into())],
            admin_only(see),
        ),
        (
            "/roles/{name}/delete",
            "/roles/viewer/delete".into(),
            vec![],
            admin_only(see),
        ),
        (
            "/users/{id}/delete",
            format!("/users/{target}/delete"),
            vec![],
            admin_only(see),
        ),
        (
            "/login/code",
            "/login/code".into(),
            vec![("code", "000000".into())],
            [see; 6],
        ),
        (
            "/login/enrol",
            "/login/enrol".into(),
            vec![("code", "000000".into())],
            [see; 6],
        ),
        (
            "/account/2fa",
            "/account/2fa".into(),
            vec![("code", "000000".into())],
            signed(unprocessable),
        ),
        (
            "/account/2fa/disable",
            "/account/2fa/disable".into(),
            vec![("password", "wrong".into())],
            signed(unprocessable),
        ),
        (
            "/integrations/tokens",
            "/integrations/tokens".into(),
            vec![("name", "".into())],
            admin_only(unprocessable),
        ),
        (
            "/integrations/tokens/{id}/revoke",
            "/integrations/tokens/nope/revoke".into(),
            vec![],
            admin_only(missing),
        ),
        (
            "/integrations/webhooks/{id}/test",
            "/integrations/webhooks/nope/test".into(),
            vec![],
            admin_only(missing),
        ),
        (
            "/integrations/webhooks/{id}/rotate",
            "/integrations/webhooks/nope/rotate".into(),
            vec![],
            admin_only(missing),
        ),
        (
            "/integrations/webhooks/{id}/reveal",
            "/integrations/webhooks/nope/reveal".into(),
            vec![],
            admin_only(missing),
        ),
        (
            "/integrations/webhooks/{id}/enable",
            "/integrations/webhooks/nope/enable".into(),
            vec![],
            admin_only(missing),
        ),
        (
            "/integrations/webhooks/{id}/disable",
            "/integrations/webhooks/nope/disable".into(),
            vec![],
            admin_only(missing),
        ),
        (
            "/integrations/webhooks/{id}/delete",
            "/integrations/webhooks/nope/delete".into(),
            vec![],
            admin_only(missing),
        ),
        (
            "/integrations/webhooks/{id}/redeliver/{msg}",
            "/integrations/webhooks/nope/redeliver/nope".into(),
            vec![],
            admin_only(missing),
        ),
        (
            "/integrations/webhooks",
            "/integrations/webhooks".into(),
            vec![("url", "".into())],
            admin_only(unprocessable),
        ),
        // Reset requests count against the sign-in throttle: the sixth for one address waits.
        (
            "/forgot",
            "/forgot".into(),
            vec![("email", "nobody@example.com".into())],
            [ok, ok, ok, ok, ok, 429],
        ),
        (
            "/integrations/email",
            "/integrations/email".into(),
            vec![("host", "".into())],
            admin_only(unprocessable),
        ),
        (
            "/integrations/email/test",
            "/integrations/email/test".into(),
            vec![],
            admin_only(unprocessable),
        ),
        (
            "/sql",
            "/sql".into(),
            vec![("sql", "SELECT 1".into())],
            admin_only(ok),
        ),
        (
            "/sql/cancel",
            "/sql/cancel".into(),
            vec![("run", "nope".into())],
            admin_only(see),
        ),
        (
            "/sql/export.csv",
            "/sql/export.csv".into(),
            vec![("sql", "SELECT 1".into())],
            admin_only(ok),
        ),
        (
            "/sql/queries",
            "/sql/queries".into(),
            vec![("query_name", "".into())],
            admin_only(see),
        ),
        (
            "/sql/queries/{id}/delete",
            "/sql/queries/nope/delete".into(),
            vec![],
            admin_only(missing),
        ),
        (
            "/integrations/sso",
            "/integrations/sso".into(),
            vec![("name", "".into())],
            admin_only(unprocessable),
        ),
        (
            "/integrations/sso/roles",
            "/integrations/sso/roles".into(),
            vec![],
            admin_only(see),
        ),
        (
            "/integrations/sso/{id}/delete",
            "/integrations/sso/nope/delete".into(),
            vec![("confirm", "yes".into())],
            admin_only(missing),
        ),
        (
            "/integrations/sso/{id}",
            "/integrations/sso/nope".into(),
            vec![("name", "".into())],
            admin_only(missing),
        ),
        (
            "/integrations/sso/{id}/status",
            "/integrations/sso/nope/status".into(),
            vec![("enabled", "no".into())],
            admin_only(missing),
        ),
        (
            "/account/identities/{id}/remove",
            "/account/identities/nope/remove".into(),
            vec![],
            signed(missing),
        ),
        // Passkeys: this app's public URL (an IP address) can be no relying party, so the
        // ceremonies answer 422 once the caller passes the checks before them.
        (
            "/account/passkeys",
            "/account/passkeys".into(),
            vec![],
            signed(unprocessable),
        ),
        (
            "/account/passkeys/options",
            "/account/passkeys/options".into(),
            vec![],
            signed(unprocessable),
        ),
        (
            "/account/passkeys/{id}/remove",
            "/account/passkeys/nope/remove".into(),
            vec![("confirm", "yes".into())],
            signed(missing),
        ),
        ("/login/passkey", "/login/passkey".into(), vec![], [see; 6]),
        (
            "/login/passkey/code",
            "/login/passkey/code".into(),
            vec![],
            [see; 6],
        ),
        (
            "/login/passkey/options",
            "/login/passkey/options".into(),
            vec![],
            [see; 6],
        ),
        (
            "/login/passkey/enrol",
            "/login/passkey/enrol".into(),
            vec![],
            [see; 6],
        ),
        (
            "/login/passkey/enrol/options",
            "/login/passkey/enrol/options".into(),
            vec![],
            [see; 6],
        ),
        (
            "/login/passkey/direct",
            "/login/passkey/direct".into(),
            vec![],
            [unprocessable; 6],
        ),
        (
            "/login/passkey/direct/options",
            "/login/passkey/direct/options".into(),
            vec![],
            [unprocessable; 6],
        ),
        ("/logout", "/logout".into(), vec![], [see; 6]),
    ];
    for (route, path, form, expect) in posts {
        cases.push(Case {
            method: "POST",
            route,
            path,
            form,
            expect,
        });
    }

    // Every registered route is in the matrix: a new route must be added here.
    let covered: BTreeSet<(String, String)> = cases
        .iter()
        .map(|c| (c.method.to_string(), c.route.to_string()))
        .collect();
    let mut missing_routes: Vec<_> = registered_routes()
        .into_iter()
        .filter(|r| !covered.contains(r))
        .collect();
    missing_routes.retain(|(m, r)| !(m == "POST" && r == "/login"));
    assert!(
        missing_routes.is_empty(),
        "routes missing from the authorization matrix: {missing_routes:?}"
    );

    for c in &cases {
        for (i, client) in clients.iter().enumerate() {
            let res = if c.method == "GET" {
                client.get(app.url(&c.path)).send().await.unwrap()
            } else if c.method == "PATCH" || c.method == "DELETE" {
                let m = reqwest::Method::from_bytes(c.method.as_bytes()).unwrap();
                client
                    .request(m, app.url(&c.path))
                    .json(&serde_json::json!({}))
                    .send()
                    .await
                    .unwrap()
            } else {
                // The token of the sign-in form, or of the home page once signed in.
                let tab = Session::of(&app, client);
                let t = match tab.try_csrf("/login").await {
                    Some(t) => t,
                    None => tab.try_csrf("/").await.unwrap_or_default(),
                };
                let fields: Vec<(&str, &str)> =
                    c.form.iter().map(|(k, v)| (*k, v.as_str())).collect();
                tab.post_with_token(&c.path, &t, &fields).await
            };
            let status = res.status().as_u16();
            // A live-update stream does not end by itself: its status is the answer.
            let stream = res
                .headers()
                .get("content-type")
                .is_some_and(|v| v == "text/event-stream");
            let body = if stream {
                String::new()
            } else {
                res.text().await.unwrap_or_default()
            };
            assert_eq!(
                status, c.expect[i],
                "{} {} as {}",
                c.method, c.path, names[i]
            );
            if names[i] == "clerk" {
                assert!(
                    !body.contains("SECRET-BIO"),
                    "{} {} shows a hidden column to clerk",
                    c.method,
                    c.path
                );
                assert!(
                    !body.contains("TOP-SECRET") && !body.contains("/data/secrets"),
                    "{} {} shows a forbidden table",
                    c.method,
                    c.path
                );
            }
        }
    }
    row_rule_role_over_the_matrix(&app, &cases).await;
}

/// A role with a row rule (`name__ne=Person 1`) over every GET route of the matrix: the row
/// outside its rule is 404 where addressed, and appears nowhere else.
async fn row_rule_role_over_the_matrix(app: &TestApp, cases: &[Case]) {
    let all = ["r", "c", "u", "d"].map(|a| (format!("t.people.{a}"), "on"));
    let fields: Vec<(&str, &str)> = all.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    // The matrix signed the administrator out (POST /logout): in again.
    app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    app.create_role("ruled", &fields).await;
    {
        use gatehouse::identity::row_rules::{self, Action, RowRule};
        let rule = RowRule::parse("name__ne=Person 1", "").unwrap();
        let actor = gatehouse::audit::Actor {
            user_id: None,
            email: "tests@example.com".into(),
            via: "ui".into(),
        };
        let mut conn = app.db_conn();
        for a in Action::ALL {
            row_rules::set_rule(&mut conn, "ruled", "people", a, Some(&rule), false, &actor)
                .unwrap();
        }
    }
    app.caches.rights.forget_all();
    let ruled = app.operator("ruled@example.com", "ruled", PASSWORD).await;
    // "SECRET-BIO-1" not followed by a digit (rows 10 to 19 are visible).
    let shows_row_1 = |body: &str| {
        body.match_indices("SECRET-BIO-1")
            .any(|(i, m)| !body[i + m.len()..].starts_with(|c: char| c.is_ascii_digit()))
    };
    let mut checked = 0;
    for c in cases.iter().filter(|c| c.method == "GET") {
        let res = ruled.get(app.url(&c.path)).send().await.unwrap();
        let status = res.status().as_u16();
        let stream = res
            .headers()
            .get("content-type")
            .is_some_and(|v| v == "text/event-stream");
        let body = if stream {
            String::new()
        } else {
            res.text().await.unwrap_or_default()
        };
        assert_ne!(status, 500, "GET {} as ruled", c.path);
        if c.path == "/data/people/1" || c.path.starts_with("/data/people/1/") {
            assert_eq!(status, 404, "GET {} as ruled: outside the rule", c.path);
        }
        assert!(
            !shows_row_1(&body),
            "GET {} shows the row outside the rule",
            c.path
        );
        checked += 1;
    }
    assert!(checked > 30, "the GET routes of the matrix were asked");
    let list = Session::of(app, &ruled)
        .page("/data/people?per_page=50")
        .await;
    assert!(
        list.contains("SECRET-BIO-2<") || list.contains("SECRET-BIO-2\""),
        "rows inside the rule show"
    );
    let res = Session::of(app, &ruled)
        .post_form("/data/people", "/data/people/1/delete", &[])
        .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}

async fn administrators_manage_operators_with_guards_and_audit(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;

    // A weak password is refused with the estimator's reason.
    let res = app
        .post_form(
            "/users/new",
            "/users",
            &[
                ("email", "v@example.com"),
                ("display_name", "Vic"),
                ("role", "viewer"),
                ("password", "password1234"),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text().await.unwrap().contains("too easy to guess"));
    let res = app
        .post_form(
            "/users/new",
            "/users",
            &[
                ("email", "V@Example.com"),
                ("display_name", "Vic"),
                ("role", "viewer"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let vic = user_id(&app, "v@example.com");
    let dup = app
        .post_form(
            "/users/new",
            "/users",
            &[
                ("email", "v@EXAMPLE.com"),
                ("display_name", "Dup"),
                ("role", "viewer"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert!(
        dup.text().await.unwrap().contains("already exists"),
        "emails are unique whatever their case"
    );

    // The viewer signs in; disabling ends their session at once.
    let client = new_client();
    let viewer = Session::of(&app, &client);
    assert_eq!(
        viewer.sign_in("v@example.com", PASSWORD).await.status(),
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        client.get(app.url("/")).send().await.unwrap().status(),
        StatusCode::OK
    );
    app.post_form(
        &format!("/users/{vic}"),
        &format!("/users/{vic}/disable"),
        &[],
    )
    .await;
    assert_eq!(
        client.get(app.url("/")).send().await.unwrap().status(),
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        viewer.sign_in("v@example.com", PASSWORD).await.status(),
        StatusCode::FORBIDDEN
    );
    app.post_form(
        &format!("/users/{vic}"),
        &format!("/users/{vic}/enable"),
        &[],
    )
    .await;
    assert_eq!(
        viewer.sign_in("v@example.com", PASSWORD).await.status(),
        StatusCode::SEE_OTHER
    );

    // Role change is audited.
    app.post_form(
        &format!("/users/{vic}"),
        &format!("/users/{vic}"),
        &[
            ("email", "v@example.com"),
            ("display_name", "Vic"),
            ("role", "editor"),
        ],
    )
    .await;
    assert_eq!(
        app.scalar(&format!("SELECT role FROM gh_users WHERE id = '{vic}'"))
            .as_deref(),
        Some("editor")
    );

    // Guards: never yourself, never the last administrator.
    let me = user_id(&app, ADMIN_EMAIL);
    let res = app
        .post_form(&format!("/users/{me}"), &format!("/users/{me}/delete"), &[])
        .await;
    assert_eq!(location(&res), format!("/users/{me}"));
    assert!(
        app.get(&format!("/users/{me}"))
            .await
            .text()
            .await
            .unwrap()
            .contains("cannot delete your own account")
    );
    let res = app
        .post_form(
            &format!("/users/{me}"),
            &format!("/users/{me}"),
            &[
                ("email", ADMIN_EMAIL),
                ("display_name", "Ada"),
                ("role", "viewer"),
            ],
        )
        .await;
    assert!(res.text().await.unwrap().contains("last administrator"));
    assert_eq!(
        app.scalar(&format!("SELECT role FROM gh_users WHERE id = '{me}'"))
            .as_deref(),
        Some("admin")
    );
    app.post_form(
        &format!("/users/{me}"),
        &format!("/users/{me}/disable"),
        &[],
    )
    .await;
    assert_eq!(
        app.scalar(&format!(
            "SELECT COUNT(*) FROM gh_users WHERE id = '{me}' AND disabled = FALSE"
        ))
        .as_deref(),
        Some("1")
    );

    // Delete, audited.
    let res = app
        .post_form(
            &format!("/users/{vic}/delete"),
            &format!("/users/{vic}/delete"),
            &[],
        )
        .await;
    assert_eq!(location(&res), "/users");
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM gh_users WHERE email = 'v@example.com'")
            .as_deref(),
        Some("0")
    );
    for action in [
        "user.created",
        "user.disabled",
        "user.enabled",
        "user.role_changed",
        "user.deleted",
    ] {
        assert_eq!(
            app.scalar(&format!("SELECT COUNT(*) FROM gh_audit WHERE action = '{action}' AND user_email = '{ADMIN_EMAIL}'")).as_deref(),
            Some("1"),
            "{action} audited"
        );
    }
}

async fn a_custom_role_sees_only_its_tables_and_columns(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    app.sql(&schema(backend));
    create_clerk_role(&app).await;
    let clerk = app.operator("clerk@example.com", "clerk", PASSWORD).await;
    let get = |path: &str| {
        let c = clerk.clone();
        let url = app.url(path);
        async move {
            let r = c.get(url).send().await.unwrap();
            (r.status(), r.text().await.unwrap())
        }
    };
    let (status, data) = get("/data").await;
    assert_eq!(status, StatusCode::OK);
    assert!(data.contains("/data/people") && !data.contains("/data/secrets"));
    let (_, list) = get("/data/people").await;
    assert!(list.contains("Person 1") && !list.contains("SECRET-BIO"));
    assert!(
        !list.contains("Delete selected"),
        "no delete right, no delete button"
    );
    assert_eq!(
        get("/data/people?q=SECRET")
            .await
            .1
            .matches("Person")
            .count(),
        0,
        "search does not look into hidden columns"
    );
    assert_eq!(
        get("/data/people?bio__contains=SECRET").await.0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        get("/data/people?sort=bio").await.0,
        StatusCode::BAD_REQUEST
    );
    assert!(
        !get("/data/people/export.csv")
            .await
            .1
            .contains("SECRET-BIO")
    );
    assert!(!get("/data/people/export.json").await.1.contains("bio"));
    let (_, record) = get("/data/people/1").await;
    assert!(
        !record.contains("SECRET-BIO")
            && record.contains("Save changes")
            && !record.contains("Delete…")
    );
    assert_eq!(get("/data/secrets").await.0, StatusCode::NOT_FOUND);

    // Editing through the clerk's form leaves the hidden column as it was.
    let res = Session::of(&app, &clerk)
        .edit(
            "/data/people/1",
            &[("f.name", "Renamed"), ("f.bio", "overwritten")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        app.scalar("SELECT name FROM people WHERE id = 1")
            .as_deref(),
        Some("Renamed")
    );
    assert_eq!(
        app.scalar("SELECT bio FROM people WHERE id = 1").as_deref(),
        Some("SECRET-BIO-1")
    );
    // The clerk's own audit view does not show the hidden column either.
    assert!(!get("/audit").await.1.contains("SECRET-BIO"));
    // Administration areas are closed.
    assert_eq!(get("/users").await.0, StatusCode::FORBIDDEN);
    assert!(
        !get("/").await.1.contains("href=\"/users\""),
        "no Users in the navigation"
    );
}

async fn password_changes_and_reset_links_end_other_sessions(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let second = new_client();
    assert_eq!(
        Session::of(&app, &second)
            .sign_in(ADMIN_EMAIL, ADMIN_PASSWORD)
            .await
            .status(),
        StatusCode::SEE_OTHER
    );

    let res = app
        .post_form(
            "/account",
            "/account/password",
            &[
                ("current", "not it"),
                ("new", PASSWORD),
                ("confirm", PASSWORD),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("current password is not correct")
    );
    let res = app
        .post_form(
            "/account",
            "/account/password",
            &[
                ("current", ADMIN_PASSWORD),
                ("new", "aaaaaaaaaaaa"),
                ("confirm", "aaaaaaaaaaaa"),
            ],
        )
        .await;
    assert!(res.text().await.unwrap().contains("too easy to guess"));
    let res = app
        .post_form(
            "/account",
            "/account/password",
            &[
                ("current", ADMIN_PASSWORD),
                ("new", PASSWORD),
                ("confirm", PASSWORD),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        app.get("/account").await.status(),
        StatusCode::OK,
        "this session goes on"
    );
    assert_eq!(
        second.get(app.url("/")).send().await.unwrap().status(),
        StatusCode::SEE_OTHER,
        "the other ended"
    );

    // A reset link made by an administrator works once.
    let other = app
        .operator("forgetful@example.com", "viewer", PASSWORD)
        .await;
    let id = user_id(&app, "forgetful@example.com");
    let page = app
        .post_form(
            &format!("/users/{id}"),
            &format!("/users/{id}/reset-link"),
            &[],
        )
        .await
        .text()
        .await
        .unwrap();
    let start = page.find("/reset?token=").unwrap();
    let link = &page[start..start + page[start..].find('<').unwrap()];
    let anon = new_client();
    let token = link.trim_start_matches("/reset?token=");
    let new_password = "quiet lanterns drift over granite";
    let res = Session::of(&app, &anon)
        .post_form(
            link,
            "/reset",
            &[
                ("token", token),
                ("new", new_password),
                ("confirm", new_password),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        other.get(app.url("/")).send().await.unwrap().status(),
        StatusCode::SEE_OTHER,
        "old sessions ended"
    );
    assert_eq!(
        anon.get(app.url(link)).send().await.unwrap().status(),
        StatusCode::FORBIDDEN,
        "single use"
    );
    assert_eq!(
        Session::new(&app)
            .sign_in("forgetful@example.com", new_password)
            .await
            .status(),
        StatusCode::SEE_OTHER
    );
}

async fn operators_see_and_end_their_sessions(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let phone = new_client();
    let res = Session::of(&app, &phone)
        .sign_in(ADMIN_EMAIL, ADMIN_PASSWORD)
        .await;
    assert!(set_cookie(&res, "gh_session").is_some());
    let page = app.get("/account").await.text().await.unwrap();
    assert_eq!(
        page.matches("/account/sessions/").count(),
        2,
        "one end button for the other session, plus end-others"
    );
    let start = page.find("/account/sessions/").unwrap();
    let action = &page[start..start + page[start..].find('"').unwrap()];
    if action.ends_with("/end") {
        let res = app.post_form("/account", action, &[]).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
    }
    assert_eq!(
        phone.get(app.url("/")).send().await.unwrap().status(),
        StatusCode::SEE_OTHER
    );
    assert_eq!(app.get("/").await.status(), StatusCode::OK);
}
