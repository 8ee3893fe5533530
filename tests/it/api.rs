//! API tokens and the REST API on both backends: tokens shown once and stored hashed,
//! expiry, revocation and role ceilings; rows read and written through the same
//! permissions, hidden columns and audit as the UI; problem+json errors; the rate limit;
//! the OpenAPI document against the API's real responses.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::{self, Backend, TestApp};

both_backends!(
    tokens_are_shown_once_stored_hashed_and_can_be_revoked,
    rows_are_read_and_written_through_the_api_with_audit,
    a_token_obeys_its_role_and_hidden_columns,
    the_openapi_document_describes_the_real_api,
    nul_characters_are_refused_the_same_way_through_every_input,
    the_api_takes_exactly_what_its_document_declares,
);

fn schema(backend: Backend) -> String {
    let id = match backend {
        Backend::Sqlite => "INTEGER PRIMARY KEY",
        Backend::Postgres => "SERIAL PRIMARY KEY",
    };
    let mut sql = format!(
        "CREATE TABLE people (id {id}, name TEXT NOT NULL, age INTEGER, active BOOLEAN NOT NULL DEFAULT TRUE, bio TEXT);
         CREATE TABLE secrets (id {id}, code TEXT); INSERT INTO secrets (code) VALUES ('TOP-SECRET');"
    );
    for i in 1..=12 {
        sql.push_str(&format!(
            "INSERT INTO people (name, age, bio) VALUES ('Person {i}', {}, 'SECRET-BIO-{i}');",
            20 + i
        ));
    }
    sql
}

/// Create a token through the page, as an administrator does; returns its value.
async fn token(app: &TestApp, name: &str, role: &str, expires: &str) -> String {
    let res = app
        .post_form(
            "/integrations/tokens",
            "/integrations/tokens",
            &[("name", name), ("role", role), ("expires_days", expires)],
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let page = res.text().await.unwrap();
    let marker = "id=\"new-token\">";
    let start = page.find(marker).expect("the new token is shown") + marker.len();
    page[start..start + page[start..].find('<').unwrap()].to_string()
}

fn api(app: &TestApp, method: &str, path: &str, token: &str) -> reqwest::RequestBuilder {
    reqwest::Client::new()
        .request(
            reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
            app.url(path),
        )
        .bearer_auth(token)
}

async fn tokens_are_shown_once_stored_hashed_and_can_be_revoked(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    app.sql(&schema(backend));
    let value = token(&app, "reporting", "viewer", "90").await;
    assert!(value.starts_with("ghp_") && value.len() > 40);
    let listing = app.get("/integrations/tokens").await.text().await.unwrap();
    assert!(!listing.contains(&value), "the value is never shown again");
    assert!(listing.contains(&value[..12]), "the prefix identifies it");
    let stored = app.scalar("SELECT token_hash FROM gh_api_tokens").unwrap();
    assert_ne!(stored, value);
    assert!(!stored.contains(&value[4..20]));

    assert_eq!(
        api(&app, "GET", "/api/v1/tables", &value)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    let none = reqwest::Client::new()
        .get(app.url("/api/v1/tables"))
        .send()
        .await
        .unwrap();
    assert_eq!(none.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        none.headers().get("content-type").unwrap(),
        "application/problem+json"
    );
    assert_eq!(
        api(&app, "GET", "/api/v1/tables", "ghp_notatoken")
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::UNAUTHORIZED
    );

    // Expired.
    app.sql("UPDATE gh_api_tokens SET expires_at = '2020-01-01 00:00:00'");
    // (A token seen in the last two seconds is served from a short cache; a natural expiry
    // is checked on the cached copy too, an edit in the database shows within two seconds.)
    actix_web::rt::time::sleep(std::time::Duration::from_millis(2100)).await;
    assert_eq!(
        api(&app, "GET", "/api/v1/tables", &value)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::UNAUTHORIZED
    );
    app.sql("UPDATE gh_api_tokens SET expires_at = NULL");
    actix_web::rt::time::sleep(std::time::Duration::from_millis(2100)).await;
    assert_eq!(
        api(&app, "GET", "/api/v1/tables", &value)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );

    // Role ceiling: an operator who may manage integrations but is not an administrator can
    // give a token only their own role.
    app.post_form(
        "/roles/new",
        "/roles",
        &[("name", "ops"), ("admin_areas", "on"), ("t.people.r", "on")],
    )
    .await;
    {
        let mut conn = app.db_conn();
        let hash =
            gatehouse::identity::password::hash("wobbly giraffe paints violet harbours").unwrap();
        let new = gatehouse::identity::users::NewUser {
            email: "ops@example.com",
            display_name: "Ops",
            password_hash: &hash,
            role: "ops",
        };
        gatehouse::identity::users::insert(&mut conn, new, gatehouse::db::now()).unwrap();
    }
    let ops = TestApp {
        client: common::new_client(),
        ..app
    };
    assert_eq!(
        ops.login("ops@example.com", "wobbly giraffe paints violet harbours")
            .await
            .status(),
        StatusCode::SEE_OTHER
    );
    let res = ops
        .post_form(
            "/integrations/tokens",
            "/integrations/tokens",
            &[("name", "more"), ("role", "editor"), ("expires_days", "30")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("only give a token your own role")
    );
    let own = token(&ops, "same", "ops", "30").await;
    assert_eq!(
        api(&ops, "POST", "/api/v1/tables/people/rows", &own)
            .json(&json!({ "name": "x" }))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::FORBIDDEN
    );
    let app = ops;
    app.logout().await;
    assert_eq!(
        app.login(common::ADMIN_EMAIL, common::ADMIN_PASSWORD)
            .await
            .status(),
        StatusCode::SEE_OTHER
    );

    // Revoked: at once.
    let id = app.scalar("SELECT id FROM gh_api_tokens").unwrap();
    let res = app
        .post_form(
            "/integrations/tokens",
            &format!("/integrations/tokens/{id}/revoke"),
            &[],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        api(&app, "GET", "/api/v1/tables", &value)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::UNAUTHORIZED
    );
    assert!(
        app.get("/integrations/tokens")
            .await
            .text()
            .await
            .unwrap()
            .contains("revoked")
    );
}

async fn rows_are_read_and_written_through_the_api_with_audit(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    app.sql(&schema(backend));
    let t = token(&app, "sync job", "editor", "30").await;

    let res = api(
        &app,
        "GET",
        "/api/v1/tables/people/rows?age__gte=30&sort=-age&per_page=25",
        &t,
    )
    .send()
    .await
    .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    let rows = body["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0]["name"], "Person 12");
    assert_eq!(rows[0]["age"], 32);
    assert_eq!(rows[0]["active"], true);
    assert_eq!(body["count"]["value"], 3);

    let res = api(&app, "GET", "/api/v1/tables/people/rows?age__like=3", &t)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        res.headers().get("content-type").unwrap(),
        "application/problem+json"
    );

    // Create: 201 with the stored row; a wrong type is 422 and writes nothing.
    let res = api(&app, "POST", "/api/v1/tables/people/rows", &t)
        .json(&json!({ "name": "Api Person", "age": 40, "bio": null }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let location = res
        .headers()
        .get("location")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(location, "/api/v1/tables/people/rows/13");
    let created: Value = res.json().await.unwrap();
    assert_eq!(created["name"], "Api Person");
    assert_eq!(created["bio"], Value::Null);
    let bad = api(&app, "POST", "/api/v1/tables/people/rows", &t)
        .json(&json!({ "name": "X", "age": "forty" }))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let problem: Value = bad.json().await.unwrap();
    assert!(
        problem["errors"]["age"]
            .as_str()
            .unwrap()
            .contains("whole number")
    );
    let bad = api(&app, "POST", "/api/v1/tables/people/rows", &t)
        .json(&json!({ "age": 3 }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        bad.status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "name is required"
    );
    let bad = api(&app, "POST", "/api/v1/tables/people/rows", &t)
        .json(&json!({ "name": "X", "nope": 1 }))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let bad = api(&app, "POST", "/api/v1/tables/people/rows", &t)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM people").as_deref(),
        Some("13")
    );

    // Read, change with If-Match, a stale If-Match is refused.
    let res = api(&app, "GET", &location, &t).send().await.unwrap();
    let etag = res
        .headers()
        .get("etag")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let res = api(&app, "PATCH", &location, &t)
        .header("if-match", &etag)
        .json(&json!({ "age": 41 }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.json::<Value>().await.unwrap()["age"], 41);
    let stale = api(&app, "PATCH", &location, &t)
        .header("if-match", &etag)
        .json(&json!({ "age": 42 }))
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), StatusCode::PRECONDITION_FAILED);
    assert_eq!(
        app.scalar("SELECT age FROM people WHERE id = 13")
            .as_deref(),
        Some("41")
    );

    // Delete; a missing row is 404.
    assert_eq!(
        api(&app, "DELETE", &location, &t)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        api(&app, "GET", &location, &t)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        api(&app, "GET", "/api/v1/tables/nope/rows", &t)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );

    // Audited, with the token as the actor.
    for action in ["record.created", "record.updated", "record.deleted"] {
        let who = app
            .scalar(&format!(
                "SELECT user_email FROM gh_audit WHERE action = '{action}'"
            ))
            .unwrap();
        assert!(
            who.starts_with("token ghp_") && who.contains("sync job"),
            "{action}: {who}"
        );
    }
}

async fn a_token_obeys_its_role_and_hidden_columns(backend: Backend) {
    let app = TestApp::spawn_with(backend, &["--api-rate-limit", "30"]).await;
    app.setup_admin().await;
    app.sql(&schema(backend));
    let res = app
        .post_form(
            "/roles/new",
            "/roles",
            &[
                ("name", "clerk"),
                ("t.people.r", "on"),
                ("t.people.u", "on"),
                ("h.people", "bio"),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let viewer = token(&app, "read only", "viewer", "30").await;
    let clerk = token(&app, "front desk", "clerk", "30").await;

    let res = api(&app, "POST", "/api/v1/tables/people/rows", &viewer)
        .json(&json!({ "name": "No" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        api(&app, "DELETE", "/api/v1/tables/people/rows/1", &viewer)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        api(&app, "GET", "/api/v1/tables/secrets/rows", &viewer)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );

    let all = api(&app, "GET", "/api/v1/tables/people/rows", &clerk)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        !all.contains("SECRET-BIO") && !all.contains("\"bio\""),
        "hidden column absent"
    );
    assert_eq!(
        api(&app, "GET", "/api/v1/tables/secrets/rows", &clerk)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::FORBIDDEN
    );
    let tables = api(&app, "GET", "/api/v1/tables", &clerk)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!tables.contains("secrets"));
    let res = api(&app, "PATCH", "/api/v1/tables/people/rows/1", &clerk)
        .json(&json!({ "bio": "x" }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "a hidden column cannot be written"
    );
    assert_eq!(
        api(
            &app,
            "GET",
            "/api/v1/tables/people/rows?bio__contains=SECRET",
            &clerk
        )
        .send()
        .await
        .unwrap()
        .status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        api(&app, "DELETE", "/api/v1/tables/people/rows/1", &clerk)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::FORBIDDEN
    );

    // The rate limit: 30 a minute for this app, in wall-clock minutes: 70 requests cross
    // at most one boundary, so one side of it holds more than 30.
    let mut limited = None;
    for _ in 0..70 {
        let res = api(&app, "GET", "/api/v1/tables", &viewer)
            .send()
            .await
            .unwrap();
        if res.status() == StatusCode::TOO_MANY_REQUESTS {
            limited = Some(res);
            break;
        }
    }
    let res = limited.expect("the rate limit applies");
    let wait: u64 = res
        .headers()
        .get("retry-after")
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&wait));
}

async fn the_openapi_document_describes_the_real_api(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    app.sql(&schema(backend));
    let t = token(&app, "client generator", "viewer", "30").await;
    let doc: Value = api(&app, "GET", "/api/openapi.json", &t)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    // Validated by an independent OpenAPI 3.1 validator (PyPI openapi-spec-validator,
    // installed by .ci/run).
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), doc.to_string()).unwrap();
    let out = std::process::Command::new("python3")
        .args(["-m", "openapi_spec_validator", "--schema", "3.1"])
        .arg(file.path())
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "the OpenAPI document must validate (pip install openapi-spec-validator if it is missing): {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(doc["info"]["title"].is_string() && doc["info"]["version"].is_string());
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.contains_key("/api/v1/tables/people/rows"));
    assert!(paths.contains_key("/api/v1/tables/people/rows/{key}"));
    assert!(
        paths["/api/v1/tables/people/rows"].get("post").is_none(),
        "a viewer's document offers no writes"
    );
    // Every operation has responses and a unique id; every $ref resolves.
    let mut ids = std::collections::BTreeSet::new();
    let text = doc.to_string();
    for (_, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            assert!(["get", "post", "patch", "delete"].contains(&method.as_str()));
            assert!(op["responses"].as_object().is_some_and(|r| !r.is_empty()));
            assert!(ids.insert(op["operationId"].as_str().unwrap().to_string()));
        }
    }
    for (i, _) in text.match_indices("\"$ref\":\"#/components/schemas/") {
        let rest = &text[i + 29..];
        let name = &rest[..rest.find('"').unwrap()];
        assert!(
            doc["components"]["schemas"].get(name).is_some(),
            "{name} resolves"
        );
    }
    // The people schema matches a real row.
    let list_schema = &paths["/api/v1/tables/people/rows"]["get"]["responses"]["200"]["content"]["application/json"]
        ["schema"];
    let reference = list_schema["properties"]["rows"]["items"]["$ref"]
        .as_str()
        .unwrap();
    let schema = &doc["components"]["schemas"][reference.rsplit('/').next().unwrap()];
    let row: Value = api(&app, "GET", "/api/v1/tables/people/rows/1", &t)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let props = schema["properties"].as_object().unwrap();
    assert_eq!(props.len(), row.as_object().unwrap().len());
    for (name, value) in row.as_object().unwrap() {
        let ty = &props[name]["type"];
        let types: Vec<&str> = match ty {
            Value::String(s) => vec![s.as_str()],
            Value::Array(a) => a.iter().filter_map(|v| v.as_str()).collect(),
            _ => vec![],
        };
        let actual = match value {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Number(n) if n.is_i64() => "integer",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            _ => "object",
        };
        assert!(types.contains(&actual), "{name}: {actual} not in {types:?}");
    }
    // A session is not a token.
    assert_eq!(
        app.get("/api/openapi.json").await.status(),
        StatusCode::UNAUTHORIZED
    );
}

/// A NUL (`\0`) is refused alike on both backends wherever text arrives: 400 in the address
/// (search, every filter op, exports, the API's list), 422 naming the field in a form or an
/// API body; nothing is stored and nothing answers 500.
async fn nul_characters_are_refused_the_same_way_through_every_input(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    app.sql(&schema(backend));
    let t = token(&app, "nul", "admin", "30").await;
    let mut addresses = vec![
        "/data/people?q=a%00b".to_string(),
        "/data/people/export.csv?q=a%00".to_string(),
        "/data/people/export.json?q=%00".to_string(),
        "/data/people/lookup?q=%00".to_string(),
        "/users?q=%00".to_string(),
        "/audit?user=%00".to_string(),
    ];
    for op in [
        "eq",
        "ne",
        "lt",
        "lte",
        "gt",
        "gte",
        "contains",
        "startswith",
        "in",
        "isnull",
    ] {
        addresses.push(format!("/data/people?name__{op}=x%00y"));
    }
    for path in &addresses {
        let res = app.get(path).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{path}");
        assert!(res.text().await.unwrap().contains("NUL"), "{path}");
    }
    let res = api(&app, "GET", "/api/v1/tables/people/rows?q=a%00b", &t)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(res.text().await.unwrap().contains("NUL"));

    // A record form field: 422 naming the field; the row keeps its name.
    let res = app
        .edit("/data/people/1", &[("f.name", "Gadget\0Mini")])
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = res.text().await.unwrap();
    assert!(page.contains("NUL") && page.contains("name"), "{page}");
    assert_eq!(
        app.scalar("SELECT name FROM people WHERE id = 1")
            .as_deref(),
        Some("Person 1")
    );
    // Any other form too (an operator's name).
    let res = app
        .post_form(
            "/users/new",
            "/users",
            &[
                ("email", "nul@example.com"),
                ("display_name", "N\0L"),
                ("role", "viewer"),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text().await.unwrap().contains("display_name"));

    // An API body: 422 naming the field; nothing stored.
    let before = app.scalar("SELECT COUNT(*) FROM people");
    let res = api(&app, "POST", "/api/v1/tables/people/rows", &t)
        .json(&json!({ "name": "nul\u{0}test" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = res.json().await.unwrap();
    assert!(
        body["errors"]["name"].as_str().unwrap().contains("NUL"),
        "{body}"
    );
    assert_eq!(app.scalar("SELECT COUNT(*) FROM people"), before);
}

/// What the OpenAPI document declares is what the list and the bodies take: typed filters
/// refuse other values (an empty `isnull`, `1` for a boolean, a date for a date-time),
/// date-times are RFC 3339 both ways, decimals are strings with their scale, a value that
/// clashes with other rows is 409, another method on a known path is 405 with Allow, and
/// the document links a listed or created row to its operations.
async fn the_api_takes_exactly_what_its_document_declares(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    app.sql(&schema(backend));
    let id = match backend {
        Backend::Sqlite => "INTEGER PRIMARY KEY",
        Backend::Postgres => "SERIAL PRIMARY KEY",
    };
    app.sql(&format!(
        "CREATE TABLE invoices (id {id}, person_id INTEGER REFERENCES people(id),
             total NUMERIC(10,2) NOT NULL, status TEXT NOT NULL CHECK (status IN ('open', 'paid')),
             due TIMESTAMP, code TEXT UNIQUE);
         INSERT INTO invoices (person_id, total, status, due, code)
             VALUES (1, 178.5, 'open', '2026-01-31 09:30:00', 'A');"
    ));
    let t = token(&app, "strict", "admin", "30").await;
    let rows = "/api/v1/tables/invoices/rows";
    for refused in [
        "id__isnull=",
        "id__isnull=1",
        "id__eq=",
        "id__gt=4.5",
        "id__in=",
        "person_id__eq=%205",
        "status__eq=void",
        "status__in=open,void",
        "due__gte=2026-01-31",
        "due__gte=2026-01-31%2009:30:00",
        "total__lt=1.234",
        "total__lt=123456789",
        "sort=",
        "per_page=%2B25",
        "cols=code",
        "count=all",
    ] {
        let res = api(&app, "GET", &format!("{rows}?{refused}"), &t)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{refused}");
        assert_eq!(
            res.headers()["content-type"],
            "application/problem+json",
            "{refused}"
        );
    }
    for (query, count) in [
        ("id__isnull=false&count=exact", 1),
        ("id__eq=1.0", 1),
        ("status__in=open,paid", 1),
        ("code__eq=", 0),
        ("total__gte=178.50", 1),
        ("due__gte=2026-01-31T09:30:00Z", 1),
        ("due__lte=2026-01-31T11:30:00%2B02:00", 1),
        ("due__lt=2026-01-31T11:30:00%2B02:00", 0),
    ] {
        let res = api(&app, "GET", &format!("{rows}?{query}"), &t)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{query}");
        let page: Value = res.json().await.unwrap();
        assert_eq!(page["rows"].as_array().unwrap().len(), count, "{query}");
    }
    let row: Value = api(&app, "GET", &format!("{rows}/1"), &t)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(row["total"], "178.50");
    assert_eq!(row["due"], "2026-01-31T09:30:00Z");

    // Bodies: RFC 3339 in (stored as UTC), decimals as strings; a number for a decimal and
    // a zone-less time are refused, and nothing is written.
    let res = api(&app, "POST", rows, &t)
        .json(&json!({ "person_id": 2, "total": "12.5", "status": "paid", "due": "2026-02-01T12:00:00+01:00", "code": "B" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let created: Value = res.json().await.unwrap();
    assert_eq!(created["due"], "2026-02-01T11:00:00Z");
    for bad in [
        json!({ "total": 12.5, "status": "paid" }),
        json!({ "total": "1.234", "status": "paid" }),
        json!({ "total": "1", "status": "paid", "due": "2026-02-01 12:00:00" }),
        json!({ "total": "1", "status": "paid", "person_id": "2" }),
    ] {
        let res = api(&app, "POST", rows, &t).json(&bad).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    }
    // Values that clash with other rows: 409, naming the field.
    for clash in [
        json!({ "total": "1", "status": "paid", "code": "A" }),
        json!({ "total": "1", "status": "paid", "person_id": 999 }),
    ] {
        let res = api(&app, "POST", rows, &t)
            .json(&clash)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::CONFLICT, "{clash}");
        let problem: Value = res.json().await.unwrap();
        assert!(
            problem["errors"].as_object().unwrap().len() == 1,
            "{problem}"
        );
    }
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM invoices").as_deref(),
        Some("2")
    );

    // Another method on a known path: 405 naming the allowed ones.
    let res = api(&app, "TRACE", rows, &t).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(res.headers()["allow"], "GET, POST");

    // The document: the statuses the server gives, typed filters, links to the row.
    let doc: Value = api(&app, "GET", "/api/openapi.json", &t)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let tables = &doc["paths"]["/api/v1/tables"]["get"]["responses"];
    for status in ["200", "401", "429"] {
        assert!(tables.get(status).is_some(), "/api/v1/tables {status}");
    }
    let list = &doc["paths"][rows]["get"];
    let param = |name: &str| {
        list["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("{name}"))["schema"]
            .clone()
    };
    assert_eq!(param("id__isnull")["type"], "boolean");
    assert_eq!(param("id__gt")["type"], "integer");
    assert_eq!(param("due__gte")["format"], "date-time");
    assert_eq!(param("status__eq")["enum"], json!(["open", "paid"]));
    assert_eq!(
        param("status__in")["items"]["enum"],
        json!(["open", "paid"])
    );
    assert_eq!(
        param("total__lt")["pattern"],
        "^-?[0-9]{1,8}(\\.[0-9]{1,2})?$"
    );
    let links = &list["responses"]["200"]["links"];
    assert_eq!(
        links["GetRow"]["parameters"]["key"],
        "$response.body#/rows/0/id"
    );
    let create = &doc["paths"][rows]["post"]["responses"];
    assert_eq!(
        create["201"]["links"]["UpdateRow"]["parameters"]["key"],
        "$response.body#/id"
    );
    for status in ["400", "401", "403", "404", "409", "422", "429"] {
        assert!(create.get(status).is_some(), "create {status}");
    }
    let update = &doc["paths"][format!("{rows}/{{key}}")]["patch"]["responses"];
    assert!(update.get("412").is_some() && update.get("409").is_some());
}
