//! The dashboard and the chart tab on both backends: cards from the audit log, sessions,
//! deliveries and sign-in failures (the last three for administrators only), table sizes
//! and changes only for tables the operator may read; charts as SVG with a title and a data
//! table, by value and over time, respecting the list's filters, on empty tables and on
//! tables without a date column; a bounded count labelled approximate; pinning per user and
//! for everyone, audited.

use reqwest::StatusCode;

use crate::common::{ADMIN_EMAIL, Backend, Session, TestApp, location, new_client};

both_backends!(
    the_dashboard_shows_cards_for_what_the_operator_may_read,
    the_chart_tab_counts_rows_by_value_and_over_time_with_the_filters,
    pins_are_per_user_or_for_everyone_and_audited,
    a_large_table_is_counted_within_bounds,
);

const PASSWORD: &str = "wobbly giraffe paints violet harbours";

fn schema(backend: Backend) -> String {
    let id = match backend {
        Backend::Sqlite => "INTEGER PRIMARY KEY",
        Backend::Postgres => "SERIAL PRIMARY KEY",
    };
    let mut sql = format!(
        "CREATE TABLE orders (id {id}, status TEXT NOT NULL CHECK (status IN ('new', 'paid', 'shipped')), \
           placed_at TIMESTAMP NOT NULL, total INTEGER);
         CREATE TABLE notes (id {id}, body TEXT);
         CREATE TABLE numbers (id {id}, n INTEGER);
         CREATE TABLE empty_things (id {id}, label TEXT, made DATE);
         CREATE TABLE secrets (id {id}, code TEXT, created DATE);
         INSERT INTO secrets (code, created) VALUES ('TOP-SECRET-CODE', '2026-01-05');
         INSERT INTO notes (body) VALUES ('<script>alert(1)</script>'), ('plain'), ('plain');
         INSERT INTO numbers (n) VALUES (1), (2);"
    );
    // 2 new in January, 3 paid in January and 1 in February, 4 shipped in March.
    let rows = [
        ("new", "2026-01-10 09:00:00"),
        ("new", "2026-01-11 09:00:00"),
        ("paid", "2026-01-12 09:00:00"),
        ("paid", "2026-01-20 09:00:00"),
        ("paid", "2026-01-31 23:00:00"),
        ("paid", "2026-02-01 01:00:00"),
        ("shipped", "2026-03-02 10:00:00"),
        ("shipped", "2026-03-03 10:00:00"),
        ("shipped", "2026-03-04 10:00:00"),
        ("shipped", "2026-03-05 10:00:00"),
    ];
    for (status, at) in rows {
        sql.push_str(&format!(
            "INSERT INTO orders (status, placed_at, total) VALUES ('{status}', '{at}', 10);"
        ));
    }
    sql
}

/// A role that reads orders (without `total`), notes and numbers, and not secrets.
async fn create_clerk_role(app: &TestApp) {
    app.create_role(
        "clerk",
        &[
            ("description", "Front desk"),
            ("t.orders.r", "on"),
            ("t.orders.c", "on"),
            ("t.notes.r", "on"),
            ("t.numbers.r", "on"),
            ("h.orders", "total"),
        ],
    )
    .await;
}

async fn setup(backend: Backend) -> TestApp {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    app.sql(&schema(backend));
    create_clerk_role(&app).await;
    app
}

fn count(app: &TestApp, sql: &str) -> u64 {
    app.scalar(&format!("SELECT CAST(COUNT(*) AS TEXT) FROM {sql}"))
        .unwrap()
        .parse()
        .unwrap()
}

/// The text of the element with `id` (up to its first closing tag).
pub(crate) fn figure<'a>(page: &'a str, id: &str) -> &'a str {
    let start = page
        .find(&format!("id=\"{id}\">"))
        .unwrap_or_else(|| panic!("no #{id} in the page"));
    let rest = &page[start + id.len() + 6..];
    &rest[..rest.find('<').unwrap()]
}

/// The row of the data table whose header cell is `label`: its value cells.
pub(crate) fn data_row(page: &str, label: &str) -> Vec<String> {
    let start = page
        .find(&format!("<th scope=\"row\">{label}</th>"))
        .unwrap_or_else(|| panic!("no data row {label} in:\n{page}"));
    let row = &page[start..];
    let row = &row[..row.find("</tr>").unwrap()];
    row.split("<td class=\"num\">")
        .skip(1)
        .map(|c| c[..c.find('<').unwrap()].to_string())
        .collect()
}

async fn the_dashboard_shows_cards_for_what_the_operator_may_read(backend: Backend) {
    let app = setup(backend).await;
    // Two changes through the UI today: one to orders, one to secrets.
    for (table, fields) in [
        (
            "orders",
            vec![("f.status", "new"), ("f.placed_at", "2026-11-01T10:00")],
        ),
        ("secrets", vec![("f.code", "ANOTHER")]),
    ] {
        let res = app
            .post_form(
                &format!("/data/{table}/new"),
                &format!("/data/{table}"),
                &fields,
            )
            .await;
        assert_eq!(
            res.status(),
            StatusCode::SEE_OTHER,
            "creating a row of {table}"
        );
    }
    // A failed sign-in.
    let stranger = new_client();
    Session::of(&app, &stranger)
        .sign_in("nobody@example.com", "not the password at all")
        .await;

    let page = app.get("/").await.text().await.unwrap();
    assert_eq!(figure(&page, "card-today"), "2", "{page}");
    assert_eq!(figure(&page, "card-operators"), "1");
    assert_eq!(figure(&page, "card-rows"), "18");
    assert_eq!(figure(&page, "card-signins"), "1");
    assert_eq!(figure(&page, "card-deliveries"), "0");
    assert_eq!(figure(&page, "card-mail"), "0");
    assert!(
        page.contains("nobody@example.com"),
        "recent failures list the email"
    );
    assert!(page.contains(">secrets</a>"));
    assert!(page.contains(
        "<svg role=\"img\" class=\"chart\" aria-labelledby=\"changes-title changes-desc\""
    ));
    assert!(page.contains("<title id=\"changes-title\">Changes per day, last 30 days</title>"));
    assert!(page.contains("<caption class=\"visually-hidden\">Webhook deliveries per hour"));

    // The clerk: only the tables they may read, no administrator cards.
    let clerk = app.operator("clerk@example.com", "clerk", PASSWORD).await;
    let page = Session::of(&app, &clerk).page("/").await;
    assert_eq!(
        figure(&page, "card-today"),
        "1",
        "the change to secrets is not counted"
    );
    assert_eq!(figure(&page, "card-rows"), "16");
    assert!(
        !page.contains("secrets"),
        "secrets is not mentioned:\n{page}"
    );
    assert!(!page.contains("card-signins") && !page.contains("nobody@example.com"));
    assert!(!page.contains("card-deliveries"));
    assert_eq!(figure(&page, "card-operators"), "2");
}

async fn the_chart_tab_counts_rows_by_value_and_over_time_with_the_filters(backend: Backend) {
    let app = setup(backend).await;
    let page = app.get("/data/orders").await.text().await.unwrap();
    assert!(
        page.contains("href=\"/data/orders/chart\""),
        "the list links its chart tab"
    );

    // By value: the enum column is the default.
    let page = app.get("/data/orders/chart").await.text().await.unwrap();
    assert!(
        page.contains("<title id=\"chart-title\">orders by status</title>"),
        "{page}"
    );
    assert_eq!(data_row(&page, "shipped"), ["4"]);
    assert_eq!(data_row(&page, "paid"), ["4"]);
    assert_eq!(data_row(&page, "new"), ["2"]);
    // Respecting the filters.
    let page = app
        .get("/data/orders/chart?by=status&status__ne=shipped&placed_at__lt=2026-01-31+00%3A00")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(data_row(&page, "paid"), ["2"]);
    assert_eq!(data_row(&page, "new"), ["2"]);
    assert!(!page.contains("<th scope=\"row\">shipped</th>"));
    assert!(
        page.contains("href=\"/data/orders?status__ne=shipped"),
        "the Rows tab keeps the filters"
    );

    // Over time.
    let page = app
        .get("/data/orders/chart?by=placed_at&every=month")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(data_row(&page, "2026-01"), ["5"]);
    assert_eq!(data_row(&page, "2026-02"), ["1"]);
    assert_eq!(data_row(&page, "2026-03"), ["4"]);
    assert!(page.contains("<svg role=\"img\""));
    let page = app
        .get("/data/orders/chart?by=placed_at&every=week&status__eq=shipped")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(
        data_row(&page, "2026-03-02"),
        ["4"],
        "weeks start on Monday"
    );
    let page = app
        .get("/data/orders/chart?by=placed_at&every=day&status__eq=paid")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(data_row(&page, "2026-01-31"), ["1"]);
    assert_eq!(data_row(&page, "2026-02-01"), ["1"]);

    // Text values are escaped in the SVG and the table.
    let page = app.get("/data/notes/chart").await.text().await.unwrap();
    assert_eq!(data_row(&page, "plain"), ["2"]);
    assert!(
        !page.contains("<script>alert"),
        "stored markup is shown as text"
    );
    // A table without a date column cannot be charted over time by another column.
    let res = app.get("/data/notes/chart?by=id&every=month").await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(res.text().await.unwrap().contains("cannot be charted"));
    let res = app.get("/data/notes/chart?by=nope").await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let res = app
        .get("/data/orders/chart?by=placed_at&every=fortnight")
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    // Nothing to chart by at all.
    let page = app.get("/data/numbers/chart").await.text().await.unwrap();
    assert!(page.contains("has no text, enum, boolean, date or timestamp column"));
    // An empty table.
    let page = app
        .get("/data/empty_things/chart?by=made&every=week")
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("No rows to chart."), "{page}");
    let page = app
        .get("/data/empty_things/chart?by=label")
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("No rows to chart."));

    // Rights: a hidden column cannot be charted, an unreadable table does not exist.
    let clerk = app.operator("clerk@example.com", "clerk", PASSWORD).await;
    let clerk = Session::of(&app, &clerk);
    assert_eq!(
        clerk.get("/data/orders/chart?by=status").await.status(),
        StatusCode::OK
    );
    assert_eq!(
        clerk.get("/data/orders/chart?total__gt=1").await.status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        clerk.get("/data/secrets/chart").await.status(),
        StatusCode::NOT_FOUND
    );
}

async fn pins_are_per_user_or_for_everyone_and_audited(backend: Backend) {
    let app = setup(backend).await;
    let res = app
        .post_form(
            "/data/orders/chart",
            "/data/orders/chart/pins",
            &[
                ("title", "Orders by status"),
                ("query", "by=status&status__ne=new"),
                ("for", "everyone"),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), "/");
    let res = app
        .post_form(
            "/data/secrets/chart",
            "/data/secrets/chart/pins",
            &[
                ("title", "Codes"),
                ("query", "by=code"),
                ("for", "everyone"),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(count(&app, "gh_audit WHERE action = 'pin'"), 2);

    let viewer = app.operator("viewer@example.com", "viewer", PASSWORD).await;
    let viewer = Session::of(&app, &viewer);
    let res = viewer
        .post_form(
            "/data/orders/chart",
            "/data/orders/chart/pins",
            &[
                ("title", "Everyone's?"),
                ("query", "by=status"),
                ("for", "everyone"),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = viewer
        .post_form(
            "/data/orders/chart",
            "/data/orders/chart/pins",
            &[("title", ""), ("query", "by=status")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let res = viewer
        .post_form(
            "/data/orders/chart",
            "/data/orders/chart/pins",
            &[("title", "Bad"), ("query", "by=nope")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        count(&app, "gh_dashboard_pins"),
        2,
        "refused pins store nothing"
    );
    let res = viewer
        .post_form(
            "/data/orders/chart",
            "/data/orders/chart/pins",
            &[
                ("title", "My months"),
                ("query", "by=placed_at&every=month"),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);

    let page = viewer.page("/").await;
    assert!(page.contains("Orders by status"), "{page}");
    assert!(page.contains("My months") && page.contains("Codes"));
    assert_eq!(
        data_row(&page, "2026-01"),
        ["5"],
        "the viewer's pinned chart is drawn"
    );
    assert_eq!(
        data_row(&page, "paid"),
        ["4"],
        "the pinned filter holds (no 'new')"
    );
    assert!(!page.contains("<th scope=\"row\">new</th>"));

    // The clerk sees the pin for everyone on orders, not the one on secrets, not the viewer's.
    let clerk = app.operator("clerk@example.com", "clerk", PASSWORD).await;
    let clerk = Session::of(&app, &clerk);
    let page = clerk.page("/").await;
    assert!(page.contains("Orders by status"));
    assert!(!page.contains("Codes") && !page.contains("My months"));
    assert!(
        !page.contains("Unpin"),
        "a pin for everyone is the administrators' to remove"
    );

    let mine = app
        .scalar("SELECT id FROM gh_dashboard_pins WHERE title = 'My months'")
        .unwrap();
    let everyone = app
        .scalar("SELECT id FROM gh_dashboard_pins WHERE title = 'Orders by status'")
        .unwrap();
    let unpin = |id: &str| format!("/dashboard/pins/{id}/delete");
    let res = viewer.post_form("/", &unpin(&everyone), &[]).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = clerk.post_form("/", &unpin(&mine), &[]).await;
    assert_eq!(
        res.status(),
        StatusCode::NOT_FOUND,
        "another's pin is not theirs to see"
    );
    let res = viewer.post_form("/", &unpin(&mine), &[]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let res = app.post_form("/", &unpin(&everyone), &[]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(count(&app, "gh_dashboard_pins"), 1);
    assert_eq!(count(&app, "gh_audit WHERE action = 'unpin'"), 2);
    assert_eq!(
        count(
            &app,
            &format!("gh_audit WHERE action = 'unpin' AND user_email = '{ADMIN_EMAIL}'")
        ),
        1
    );
    let page = viewer.page("/").await;
    assert!(!page.contains("My months") && !page.contains("Orders by status"));
}

async fn a_large_table_is_counted_within_bounds(backend: Backend) {
    let app = setup(backend).await;
    let fill = match backend {
        Backend::Sqlite => {
            "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 200500) \
             INSERT INTO notes (body) SELECT CASE WHEN x % 2 = 0 THEN 'even' ELSE 'odd' END FROM n"
        }
        Backend::Postgres => {
            "INSERT INTO notes (body) SELECT CASE WHEN x % 2 = 0 THEN 'even' ELSE 'odd' END \
             FROM generate_series(1, 200500) AS x"
        }
    };
    app.sql(fill);
    let page = app
        .get("/data/notes/chart?by=body")
        .await
        .text()
        .await
        .unwrap();
    match backend {
        // SQLite groups the first 200,000 rows only, and says so.
        Backend::Sqlite => {
            assert!(
                page.contains("Approximate: counted over the first 200,000"),
                "{page}"
            );
            let even: u64 = data_row(&page, "even")[0].replace(',', "").parse().unwrap();
            assert!((99_000..=101_000).contains(&even), "{even}");
        }
        // Postgres counts it all well within its statement timeout.
        Backend::Postgres => {
            assert!(!page.contains("Approximate"));
            assert_eq!(data_row(&page, "even"), ["100,250"]);
        }
    }
    let page = app.get("/").await.text().await.unwrap();
    let notes = page
        .split("<a href=\"/data/notes\">notes</a></td><td class=\"num\">")
        .nth(1)
        .unwrap();
    let label = &notes[..notes.find('<').unwrap()];
    assert!(
        label.ends_with('+') || label.starts_with('~'),
        "bounded: {label}"
    );
}
