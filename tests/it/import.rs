//! CSV import (issue 10): the page's upload → mapping → preview → import, the API's
//! `text/csv` import and the `gatehouse import` command, on both backends — every column
//! kind, each way a file is refused (nothing written, row and column named), upsert and
//! update, permissions and hidden columns, the size limit, NUL bytes, 100,000 rows.

use std::process::Command;

use reqwest::StatusCode;

use crate::common::{Backend, Session, TestApp, location, new_client};

const BOUNDARY: &str = "----gatehouse-test-boundary";

/// A multipart/form-data body holding `csv` as the field `file`.
fn multipart(name: &str, csv: &[u8]) -> Vec<u8> {
    let mut body = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\nContent-Type: text/csv\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(csv);
    body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    body
}

/// Upload `csv` through the page as `client`; the response of the upload.
async fn upload(
    app: &TestApp,
    client: &reqwest::Client,
    table: &str,
    csv: &[u8],
) -> reqwest::Response {
    let session = Session::of(app, client);
    let token = session.csrf(&format!("/data/{table}/import")).await;
    client
        .post(app.url(&format!("/data/{table}/import?csrf_token={token}")))
        .header(
            "content-type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(multipart("people.csv", csv))
        .send()
        .await
        .unwrap()
}

/// Create an API token for `role` through the page; returns its value.
pub(crate) async fn token(app: &TestApp, role: &str) -> String {
    let res = app
        .post_form(
            "/integrations/tokens",
            "/integrations/tokens",
            &[("name", "importer"), ("role", role), ("expires_days", "30")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let page = res.text().await.unwrap();
    let marker = "id=\"new-token\">";
    let start = page.find(marker).expect("the new token is shown") + marker.len();
    page[start..start + page[start..].find('<').unwrap()].to_string()
}

pub(crate) async fn api_import(
    app: &TestApp,
    token: &str,
    table: &str,
    query: &str,
    csv: &str,
) -> (StatusCode, serde_json::Value) {
    let res = reqwest::Client::new()
        .post(app.url(&format!("/api/v1/tables/{table}/import{query}")))
        .bearer_auth(token)
        .header("content-type", "text/csv")
        .body(csv.to_string())
        .send()
        .await
        .unwrap();
    let status = res.status();
    let text = res.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
    )
}

fn count(app: &TestApp, table: &str) -> i64 {
    app.scalar(&format!("SELECT COUNT(*) FROM {table}"))
        .unwrap()
        .parse()
        .unwrap()
}

/// Every kind the catalog knows that can take a value (Postgres adds zoned timestamps and
/// arrays); bytes and unknown types are read-only everywhere.
fn kinds_table(backend: Backend) -> (String, &'static str, &'static str) {
    match backend {
        Backend::Sqlite => (
            "CREATE TABLE kinds (id INTEGER PRIMARY KEY, i INTEGER NOT NULL, f REAL, d NUMERIC(10,2), t TEXT, b BOOLEAN, dt DATE, tm TIME, ts TIMESTAMP, u UUID, j JSON, e TEXT CHECK (e IN ('red', 'green')))".into(),
            "I,f,d,t,b,dt,tm,ts,u,j,e\n",
            "42,3.5,12.345,\"hello, world\",yes,2024-02-29,13:45,2024-01-02 03:04,0190b5a2-7c1e-7d2a-9f3b-5c8d2e1f4a6b,\"{\"\"a\"\": 1}\",red\n",
        ),
        Backend::Postgres => (
            "CREATE TABLE kinds (id SERIAL PRIMARY KEY, i INTEGER NOT NULL, f DOUBLE PRECISION, d NUMERIC(10,2), t TEXT, b BOOLEAN, dt DATE, tm TIME, ts TIMESTAMP, tz TIMESTAMPTZ, u UUID, j JSONB, a TEXT[], e TEXT CHECK (e IN ('red', 'green')))".into(),
            "I,f,d,t,b,dt,tm,ts,tz,u,j,a,e\n",
            "42,3.5,12.345,\"hello, world\",yes,2024-02-29,13:45,2024-01-02 03:04,2024-01-02 03:04,0190b5a2-7c1e-7d2a-9f3b-5c8d2e1f4a6b,\"{\"\"a\"\": 1}\",\"{x,y}\",red\n",
        ),
    }
}

both_backends!(
    every_column_kind_imports_through_the_page,
    each_refusal_leaves_the_table_unchanged_and_names_row_and_column,
    upsert_and_update_modes,
    permissions_and_hidden_columns,
    oversized_files_get_413_naming_the_limit,
    a_hundred_thousand_rows_through_the_cli,
);

async fn every_column_kind_imports_through_the_page(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let (ddl, header, row) = kinds_table(backend);
    app.sql(&ddl);
    // A BOM and a renamed column ("amount" mapped onto f by hand).
    let csv = format!("\u{feff}{}{row}", header.replacen(",f,", ",amount,", 1));
    let res = upload(&app, &app.client, "kinds", csv.as_bytes()).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let mapping = location(&res);
    assert!(mapping.starts_with("/data/kinds/import/"), "{mapping}");
    let page = app.session().page(&mapping).await;
    assert!(
        page.contains("file column: amount"),
        "the header is offered"
    );
    assert!(
        page.contains("12.35"),
        "the preview shows the decimal as it will be stored"
    );
    assert!(
        page.contains("2024-01-02 03:04:00"),
        "the preview types the timestamp"
    );
    let res = app
        .post_form(
            &mapping,
            &mapping,
            &[("mode", "insert"), ("key", ""), ("map.f", "h1")],
        )
        .await;
    assert_eq!(
        res.status(),
        StatusCode::SEE_OTHER,
        "{}",
        res.text().await.unwrap()
    );
    assert_eq!(location(&res), "/data/kinds");
    assert_eq!(count(&app, "kinds"), 1);
    let stored = |c: &str| {
        app.scalar(&format!("SELECT CAST({c} AS TEXT) FROM kinds"))
            .unwrap_or_default()
    };
    assert_eq!(stored("i"), "42");
    assert_eq!(stored("f"), "3.5");
    assert_eq!(stored("d"), "12.35");
    assert_eq!(stored("t"), "hello, world");
    assert!(
        matches!(stored("b").as_str(), "1" | "true"),
        "{}",
        stored("b")
    );
    assert_eq!(stored("dt"), "2024-02-29");
    assert_eq!(stored("tm"), "13:45:00");
    assert_eq!(stored("ts"), "2024-01-02 03:04:00");
    assert_eq!(stored("u"), "0190b5a2-7c1e-7d2a-9f3b-5c8d2e1f4a6b");
    assert!(stored("j").contains("\"a\""));
    assert_eq!(stored("e"), "red");
    if backend == Backend::Postgres {
        assert_eq!(stored("tz"), "2024-01-02 03:04:00+00");
        assert_eq!(stored("a"), "{x,y}");
    }
    let audit = app
        .scalar(
            "SELECT changes FROM gh_audit WHERE action = 'table.imported' AND table_name = 'kinds'",
        )
        .expect("one audit entry for the import");
    assert!(
        audit.contains("\"rows\":1") && audit.contains("\"mode\":\"insert\""),
        "{audit}"
    );
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM gh_audit WHERE action = 'table.imported'")
            .as_deref(),
        Some("1")
    );
    // A semicolon file through the API imports too.
    let token = token(&app, "admin").await;
    let semi = format!(
        "{}{}",
        header.replace(',', ";"),
        row.replace(",\"hello, world\",", ",plain,")
            .replace(',', ";")
    );
    let (status, body) = api_import(
        &app,
        &token,
        "kinds",
        "",
        &semi.replace("\"{\"\"a\"\"; 1}\"", "\"{\"\"a\"\": 1}\""),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["inserted"], 1);
    assert_eq!(count(&app, "kinds"), 2);
}

fn shop(backend: Backend) -> String {
    let id = match backend {
        Backend::Sqlite => "INTEGER PRIMARY KEY",
        Backend::Postgres => "SERIAL PRIMARY KEY",
    };
    format!(
        "CREATE TABLE customers (id {id}, email TEXT NOT NULL UNIQUE, name TEXT NOT NULL, note TEXT);
         CREATE TABLE orders (id {id}, customer_id INTEGER NOT NULL REFERENCES customers(id),
             status TEXT NOT NULL DEFAULT 'new' CHECK (status IN ('new', 'paid')), total NUMERIC(10,2) NOT NULL);
         INSERT INTO customers (email, name) VALUES ('ann@example.com', 'Ann'), ('bob@example.com', 'Bob');
         INSERT INTO orders (customer_id, status, total) VALUES (1, 'paid', 10);"
    )
}

async fn each_refusal_leaves_the_table_unchanged_and_names_row_and_column(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    app.sql(&shop(backend));
    let token = token(&app, "admin").await;
    let cases: &[(&str, &str, &str, &str)] = &[
        (
            "orders",
            "customer_id,total\n1,5\n1,abc\n",
            "row 2, column total",
            "Enter a decimal number",
        ),
        (
            "orders",
            "customer_id,total\n1,5\n,7\n",
            "row 2, column customer_id",
            "required",
        ),
        (
            "orders",
            "customer_id,status,total\n1,paid,5\n2,lost,7\n",
            "row 2, column status",
            "Choose one of: new, paid",
        ),
        (
            "orders",
            "customer_id,total\n1,5\n99,7\n",
            "row 2, column customer_id",
            "No row of customers has id = 99",
        ),
        (
            "customers",
            "email,name\nnew@example.com,N\nnew@example.com,M\n",
            "row 2, column email",
            "unique",
        ),
        (
            "customers",
            "email,name\nann@example.com,Ann again\n",
            "row 1, column email",
            "unique",
        ),
        (
            "customers",
            "email,name\nnul@example.com,N\0ul\n",
            "row 1, column name",
            "NUL",
        ),
        (
            "customers",
            "email,name\nshort@example.com\n",
            "row 1",
            "has 1 fields; the header has 2",
        ),
    ];
    for (table, csv, at, message) in cases {
        let before = count(&app, table);
        let (status, body) = api_import(&app, &token, table, "", csv).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{csv:?}: {body}");
        let errors = body["errors"].to_string();
        assert!(
            errors.contains(at) && errors.contains(message),
            "{csv:?}: expected {at}: {message} in {errors}"
        );
        assert_eq!(
            count(&app, table),
            before,
            "{csv:?} left the table unchanged"
        );
    }
    // The page: the problems listed, the rejected rows downloadable with an error column.
    let res = upload(
        &app,
        &app.client,
        "orders",
        b"customer_id,total\n1,5\n99,x\n1,6\n",
    )
    .await;
    let mapping = location(&res);
    let res = app
        .post_form(&mapping, &mapping, &[("mode", "insert")])
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = res.text().await.unwrap();
    assert!(
        page.contains("row 2, column total: Enter a decimal number"),
        "{page}"
    );
    assert!(page.contains("Nothing was imported"));
    let rejected = app.session().get(&format!("{mapping}/rejected.csv")).await;
    assert_eq!(rejected.status(), StatusCode::OK);
    let csv = rejected.text().await.unwrap();
    assert!(csv.starts_with("customer_id,total,error\r\n"), "{csv}");
    assert!(
        csv.contains("99,x,\"total: Enter a decimal number"),
        "{csv}"
    );
    assert_eq!(count(&app, "orders"), 1);
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM gh_audit WHERE action = 'table.imported'")
            .as_deref(),
        Some("0")
    );
}

async fn upsert_and_update_modes(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    app.sql(&shop(backend));
    let token = token(&app, "admin").await;
    // Upsert on a unique column: Ann's name changes, Cy is new.
    let (status, body) = api_import(
        &app,
        &token,
        "customers",
        "?mode=upsert&key=email",
        "email,name\nann@example.com,Ann B\ncy@example.com,Cy\n",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (body["inserted"].as_i64(), body["updated"].as_i64()),
        (Some(1), Some(1))
    );
    assert_eq!(
        app.scalar("SELECT name FROM customers WHERE email = 'ann@example.com'")
            .as_deref(),
        Some("Ann B")
    );
    assert_eq!(count(&app, "customers"), 3);
    // Upsert by primary key.
    let (status, body) = api_import(
        &app,
        &token,
        "customers",
        "?mode=upsert",
        "id,email,name\n2,bob@example.com,Robert\n10,dee@example.com,Dee\n",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        app.scalar("SELECT name FROM customers WHERE id = 2")
            .as_deref(),
        Some("Robert")
    );
    assert_eq!(
        app.scalar("SELECT name FROM customers WHERE id = 10")
            .as_deref(),
        Some("Dee")
    );
    // Update only: every row must exist; one missing key refuses the whole file.
    let (status, body) = api_import(
        &app,
        &token,
        "customers",
        "?mode=update",
        "id,note\n1,vip\n77,ghost\n",
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body["errors"].to_string().contains("row 2, column id"),
        "{body}"
    );
    assert_eq!(app.scalar("SELECT note FROM customers WHERE id = 1"), None);
    let (status, body) = api_import(
        &app,
        &token,
        "customers",
        "?mode=update",
        "id,note\n1,vip\n2,regular\n",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["updated"], 2);
    assert_eq!(
        app.scalar("SELECT note FROM customers WHERE id = 2")
            .as_deref(),
        Some("regular")
    );
    assert_eq!(count(&app, "customers"), 4);
    let (status, _) = api_import(&app, &token, "customers", "?mode=bogus", "id\n1\n").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

async fn operator(app: &TestApp, email: &str, role: &str) -> reqwest::Client {
    {
        let mut conn = app.db_conn();
        let hash = gatehouse::identity::password::hash(crate::common::ADMIN_PASSWORD).unwrap();
        let new = gatehouse::identity::users::NewUser {
            email,
            display_name: email,
            password_hash: &hash,
            role,
        };
        gatehouse::identity::users::insert(&mut conn, new, gatehouse::db::now()).unwrap();
    }
    let client = new_client();
    Session::of(app, &client)
        .sign_in(email, crate::common::ADMIN_PASSWORD)
        .await;
    client
}

async fn permissions_and_hidden_columns(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    app.sql(&shop(backend));
    // clerk: customers read/create/update with `note` hidden; reader: read only.
    for (name, fields) in [
        (
            "clerk",
            vec![
                ("t.customers.r", "on"),
                ("t.customers.c", "on"),
                ("t.customers.u", "on"),
                ("h.customers", "note"),
            ],
        ),
        ("reader", vec![("t.customers.r", "on")]),
    ] {
        let mut form = vec![("name", name), ("description", "test")];
        form.extend(fields);
        let res = app.post_form("/roles/new", "/roles", &form).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
    }
    let reader = operator(&app, "reader@example.com", "reader").await;
    let res = Session::of(&app, &reader)
        .get("/data/customers/import")
        .await;
    assert_eq!(
        res.status(),
        StatusCode::FORBIDDEN,
        "a role without create may not import"
    );
    let reader_token = token(&app, "reader").await;
    let (status, _) = api_import(
        &app,
        &reader_token,
        "customers",
        "",
        "email,name\nr@example.com,R\n",
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let clerk = operator(&app, "clerk@example.com", "clerk").await;
    let res = upload(
        &app,
        &clerk,
        "customers",
        b"email,name,note\nc@example.com,C,secret\n",
    )
    .await;
    let mapping = location(&res);
    let page = Session::of(&app, &clerk).page(&mapping).await;
    assert!(
        !page.contains("name=\"map.note\""),
        "a hidden column is not offered"
    );
    let res = Session::of(&app, &clerk)
        .post_form(
            &mapping,
            &mapping,
            &[("mode", "insert"), ("map.note", "h2")],
        )
        .await;
    assert_eq!(
        res.status(),
        StatusCode::SEE_OTHER,
        "the hidden column's field is simply not imported"
    );
    assert_eq!(
        app.scalar("SELECT note FROM customers WHERE email = 'c@example.com'"),
        None
    );
    let clerk_token = token(&app, "clerk").await;
    let (status, body) = api_import(
        &app,
        &clerk_token,
        "customers",
        "",
        "email,name,note\nd@example.com,D,secret\n",
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body["detail"].as_str().unwrap_or_default().contains("note"),
        "{body}"
    );
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM customers WHERE email = 'd@example.com'")
            .as_deref(),
        Some("0")
    );
    // Update needs the update right.
    let (status, _) = api_import(
        &app,
        &reader_token,
        "customers",
        "?mode=update",
        "id,name\n1,X\n",
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

async fn oversized_files_get_413_naming_the_limit(backend: Backend) {
    let app = TestApp::spawn_with(backend, &["--import-max-bytes", "2048"]).await;
    app.setup_admin().await;
    app.sql(&shop(backend));
    let token = token(&app, "admin").await;
    let mut csv = String::from("email,name\n");
    for i in 0..200 {
        csv.push_str(&format!("person{i}@example.com,Person {i}\n"));
    }
    let (status, body) = api_import(&app, &token, "customers", "", &csv).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(body.to_string().contains("2 KiB"), "{body}");
    let res = upload(&app, &app.client, "customers", csv.as_bytes()).await;
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(res.text().await.unwrap().contains("--import-max-bytes"));
    assert_eq!(count(&app, "customers"), 2);
}

async fn a_hundred_thousand_rows_through_the_cli(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.sql(&shop(backend));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("orders.csv");
    let mut csv = String::from("customer_id,status,total\n");
    for i in 0..100_000 {
        csv.push_str(&format!(
            "{},{},{}.25\n",
            1 + i % 2,
            if i % 3 == 0 { "new" } else { "paid" },
            i % 1000
        ));
    }
    std::fs::write(&file, csv).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args([
            "--database-url",
            app.db.url(),
            "--data-dir",
            app.data_dir.path().to_str().unwrap(),
        ])
        .args([
            "--secret-key",
            "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef-key",
        ])
        .args([
            "import",
            "--table",
            "orders",
            "--file",
            file.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("imported 100000 rows into orders"),
        "{stdout}"
    );
    assert_eq!(count(&app, "orders"), 100_001);
    // A bad row anywhere: nothing, and the rejected rows beside the file.
    std::fs::write(&file, "customer_id,total\n1,1\n5,2\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args([
            "--database-url",
            app.db.url(),
            "--data-dir",
            app.data_dir.path().to_str().unwrap(),
        ])
        .args([
            "--secret-key",
            "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef-key",
        ])
        .args([
            "import",
            "--table",
            "orders",
            "--file",
            file.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("row 2, column customer_id: No row of customers has id = 5"),
        "{stderr}"
    );
    assert!(dir.path().join("orders.rejected.csv").exists());
    assert_eq!(count(&app, "orders"), 100_001);
}
