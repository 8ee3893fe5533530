//! Pages asked for by number (`page=N`): the first time by OFFSET, then from the start the
//! first time remembered (`store::marks`). Every page stays the page OFFSET reads, a write
//! through Gatehouse moves the pages at once, and a role's row rule keeps its own pages.

use gatehouse::audit::Actor;
use gatehouse::identity::row_rules::{self, Action, RowRule};
use reqwest::StatusCode;

use crate::common::{Backend, TestApp};

const PASSWORD: &str = "a long enough password";

both_backends!(
    pages_by_number_asked_again_are_the_pages_offset_reads,
    a_write_through_gatehouse_moves_remembered_pages_at_once,
    a_row_rule_keeps_its_own_pages_by_number,
);

/// `items`: 300 rows, ids scrambled against their ranks, 60 of each `kind`, ties on `rank`.
fn items_sql() -> String {
    let mut sql = "CREATE TABLE items (id INTEGER PRIMARY KEY, rank INTEGER, kind TEXT NOT NULL);"
        .to_string();
    for i in 1..=300i64 {
        let rank = if i % 9 == 0 {
            "NULL".to_string()
        } else {
            (i / 3).to_string()
        };
        sql.push_str(&format!(
            "INSERT INTO items (id, rank, kind) VALUES ({}, {rank}, 'k{}');",
            i * 37 % 307,
            i % 5
        ));
    }
    sql
}

async fn signed_in(backend: Backend) -> TestApp {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    app.sql(&items_sql());
    app
}

/// The ids a list page shows, in order.
fn ids(body: &str) -> Vec<String> {
    let marker = "<td class=\"rowlink\"><a href=\"/data/items/";
    body.match_indices(marker)
        .map(|(i, _)| {
            let rest = &body[i + marker.len()..];
            rest[..rest.find('"').unwrap_or(0)].to_string()
        })
        .collect()
}

pub(crate) async fn shown(client: &reqwest::Client, app: &TestApp, path: &str) -> Vec<String> {
    let res = client.get(app.url(path)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK, "{path}");
    ids(&res.text().await.unwrap())
}

/// The ids in the list's order, read by the test's own SQL (NULL sorts last ascending).
fn expected(app: &TestApp, filter: &str, order: &str) -> Vec<String> {
    let list = app
        .scalar(&format!(
            "SELECT group_concat_ids FROM (SELECT {} AS group_concat_ids FROM \
             (SELECT id FROM items {filter} ORDER BY {order}) AS o) AS g",
            match app.backend() {
                Backend::Sqlite => "group_concat(id, ',')",
                Backend::Postgres => "string_agg(CAST(id AS TEXT), ',')",
            }
        ))
        .unwrap_or_default();
    list.split(',')
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

async fn pages_by_number_asked_again_are_the_pages_offset_reads(backend: Backend) {
    let app = signed_in(backend).await;
    let client = app.session().client.clone();
    for (query, filter, order) in [
        ("sort=rank&per_page=25", "", "rank IS NULL, rank, id"),
        (
            "sort=-rank&per_page=25",
            "",
            "rank IS NULL DESC, rank DESC, id DESC",
        ),
        (
            "kind__eq=k2&sort=-rank&per_page=25",
            "WHERE kind = 'k2'",
            "rank IS NULL DESC, rank DESC, id DESC",
        ),
        ("per_page=25", "", "id"),
    ] {
        let all = expected(&app, filter, order);
        let size: usize = query.rsplit('=').next().unwrap().parse().unwrap();
        let pages = all.len().div_ceil(size);
        // Deepest first (each page read by OFFSET, then again from its mark), then in order
        // (each page from the mark its predecessor left), then beyond the end.
        let numbers: Vec<usize> = (2..=pages)
            .rev()
            .chain(2..=pages)
            .chain([pages + 1])
            .collect();
        for n in numbers {
            let want: Vec<String> = all
                .iter()
                .skip((n - 1) * size)
                .take(size)
                .cloned()
                .collect();
            for round in 0..2 {
                let got = shown(&client, &app, &format!("/data/items?{query}&page={n}")).await;
                assert_eq!(got, want, "{query} page {n}, reading {round}");
            }
        }
    }
}

async fn a_write_through_gatehouse_moves_remembered_pages_at_once(backend: Backend) {
    let app = signed_in(backend).await;
    let client = app.session().client.clone();
    let path = "/data/items?sort=rank&per_page=25&page=4";
    let before = expected(&app, "", "rank IS NULL, rank, id");
    assert_eq!(shown(&client, &app, path).await, before[75..100]);
    assert_eq!(shown(&client, &app, path).await, before[75..100]);
    // Delete the first row of the list: page 4 now starts one row later.
    let first = before[0].clone();
    let res = app
        .post_form(
            &format!("/data/items/{first}/delete"),
            &format!("/data/items/{first}/delete"),
            &[],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "deleted");
    let after = expected(&app, "", "rank IS NULL, rank, id");
    assert_eq!(after.len(), before.len() - 1);
    assert_eq!(shown(&client, &app, path).await, after[75..100]);
    // And a new row sorting first moves it back.
    let res = app
        .post_form(
            "/data/items/new",
            "/data/items",
            &[("f.id", "500"), ("f.rank", "-1"), ("f.kind", "k9")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "created");
    let again = expected(&app, "", "rank IS NULL, rank, id");
    // (SQLite numbers an INTEGER PRIMARY KEY itself.)
    assert_eq!(again.len(), after.len() + 1);
    assert_eq!(again[1..], after[..]);
    assert_eq!(shown(&client, &app, path).await, again[75..100]);
}

async fn a_row_rule_keeps_its_own_pages_by_number(backend: Backend) {
    let app = signed_in(backend).await;
    app.create_role("k2_only", &[("t.items.r", "on")]).await;
    {
        let mut conn = app.db_conn();
        let rule = RowRule::parse("kind__eq=k2", "").unwrap();
        let actor = Actor {
            user_id: None,
            email: "tests@example.com".into(),
            via: "ui".into(),
        };
        row_rules::set_rule(
            &mut conn,
            "k2_only",
            "items",
            Action::Read,
            Some(&rule),
            false,
            &actor,
        )
        .unwrap();
    }
    app.caches.rights.forget_all();
    let operator = app.operator("k2@example.com", "k2_only", PASSWORD).await;
    let admin = app.session().client.clone();
    let path = "/data/items?sort=rank&per_page=25&page=3";
    let everything = expected(&app, "", "rank IS NULL, rank, id");
    let k2 = expected(&app, "WHERE kind = 'k2'", "rank IS NULL, rank, id");
    for _ in 0..2 {
        assert_eq!(shown(&admin, &app, path).await, everything[50..75]);
        assert_eq!(shown(&operator, &app, path).await, k2[50..60]);
    }
}
