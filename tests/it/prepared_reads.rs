//! Reads kept prepared on the connection (`engine::prepared`): the same statement text run
//! again binds each request's own values (text, integer, boolean, NULL), and a table changed
//! after its statements were kept is read as it is now.

use reqwest::StatusCode;

use crate::common::{Backend, TestApp};

both_backends!(a_kept_statement_reads_each_requests_own_values);

/// The ids the list at `path` shows, in order, as the app's signed-in operator.
async fn shown(app: &TestApp, path: &str) -> Vec<String> {
    crate::deep_pages::shown(&app.session().client, app, path).await
}

async fn a_kept_statement_reads_each_requests_own_values(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let mut sql = "CREATE TABLE items (id INTEGER PRIMARY KEY, kind TEXT NOT NULL, \
                   active BOOLEAN NOT NULL, size INTEGER);"
        .to_string();
    for i in 1..=12i64 {
        let size = if i % 4 == 0 {
            "NULL".to_string()
        } else {
            (i % 3).to_string()
        };
        let active = if i % 2 == 0 { "TRUE" } else { "FALSE" };
        sql.push_str(&format!(
            "INSERT INTO items (id, kind, active, size) VALUES ({i}, 'k{}', {active}, {size});",
            i % 3
        ));
    }
    app.sql(&sql);
    // Each text is read several times (kept after the first), each time with other values.
    for _ in 0..3 {
        for (query, want) in [
            ("kind__eq=k0", vec!["3", "6", "9", "12"]),
            ("kind__eq=k1", vec!["1", "4", "7", "10"]),
            ("kind__eq=k2", vec!["2", "5", "8", "11"]),
            ("size__eq=1", vec!["1", "7", "10"]),
            ("size__eq=2", vec!["2", "5", "11"]),
            ("active__eq=true", vec!["2", "4", "6", "8", "10", "12"]),
            ("active__eq=false", vec!["1", "3", "5", "7", "9", "11"]),
            ("size__isnull=true", vec!["4", "8", "12"]),
        ] {
            assert_eq!(
                shown(&app, &format!("/data/items?{query}&sort=id")).await,
                want,
                "{query}"
            );
        }
    }
    // The record page's reads too, row after row.
    for id in [3, 5, 3] {
        let res = app
            .session()
            .client
            .get(app.url(&format!("/data/items/{id}")))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let body = res.text().await.unwrap();
        assert!(body.contains(&format!("k{}", id % 3)), "record {id}");
    }
    // Rows written after the statements were kept are read.
    app.sql("INSERT INTO items (id, kind, active, size) VALUES (13, 'k1', TRUE, 1);");
    assert_eq!(
        shown(&app, "/data/items?kind__eq=k1&sort=id").await,
        vec!["1", "4", "7", "10", "13"]
    );
}
