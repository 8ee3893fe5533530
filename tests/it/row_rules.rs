//! Row rules on both backends: a role "regional" reads, updates and deletes only the rows of
//! its operator's region (`region__eq=$me.region`) and creates only such rows; a token role
//! "eu_only" has the constant rule `region__eq=EU`. Every path is asked for a US row:
//! lists, counts (exact and estimated), record pages, the API, foreign-key labels, related
//! rows, exports, charts, bulk actions, imports, updates that would move a row out, history
//! and restore, webhook payloads; and a rule on a dropped column fails closed with a notice.

use std::sync::Arc;

use gatehouse::audit::Actor;
use gatehouse::catalog::Table;
use gatehouse::engine::aggregate::{ChartQuery, group_counts};
use gatehouse::engine::query::ListQuery;
use gatehouse::engine::store::{self, Count, Selection};
use gatehouse::engine::value::Value;
use gatehouse::identity::permissions::rights_of;
use gatehouse::identity::row_rules::{self, Action, Me, RowRule, Scopes};
use reqwest::StatusCode;

use crate::common::{Backend, Session, TestApp};
use crate::import::api_import;
use crate::live::Events;

both_backends!(
    a_row_outside_the_rule_never_appears_on_any_path,
    any_groups_and_the_operator_s_id_and_email_bind,
    a_rule_on_a_dropped_column_shows_no_rows_and_tells_administrators,
    change_notices_never_name_a_row_outside_the_rule,
    operators_of_one_role_keep_their_own_rows_and_see_schema_changes,
);

pub(crate) const PASSWORD: &str = "wobbly giraffe paints violet harbours";
pub(crate) const OPERATOR: &str = "eu@example.com";

fn schema(backend: Backend) -> String {
    let id = match backend {
        Backend::Sqlite => "INTEGER PRIMARY KEY",
        Backend::Postgres => "SERIAL PRIMARY KEY",
    };
    format!(
        "CREATE TABLE orders (id {id}, name TEXT NOT NULL, region TEXT NOT NULL, owner TEXT);
         CREATE TABLE lines (id {id}, name TEXT NOT NULL, region TEXT NOT NULL,
                             order_id INTEGER REFERENCES orders (id));
         INSERT INTO orders (name, region, owner) VALUES ('Alpha-EU', 'EU', 'eu@example.com'),
             ('Bravo-US', 'US', NULL), ('Charlie-EU', 'EU', NULL);
         INSERT INTO lines (name, region, order_id) VALUES ('Line-EU-1', 'EU', 1),
             ('Line-US-2', 'US', 1), ('Line-EU-3', 'EU', 2);
         CREATE TABLE misc (id {id}, name TEXT);
         INSERT INTO misc (name) VALUES ('m');"
    )
}

pub(crate) fn admin_actor() -> Actor {
    Actor {
        user_id: None,
        email: "tests@example.com".into(),
        via: "ui".into(),
    }
}

fn rule(all: &str) -> RowRule {
    RowRule::parse(all, "").unwrap()
}

/// Set rules of `role` on `table` for `actions`, then forget cached rights.
pub(crate) fn set_rules(app: &TestApp, role: &str, table: &str, actions: &[Action], all: &str) {
    let mut conn = app.db_conn();
    let table_def = app.caches.catalog.current().table(table).unwrap();
    for a in actions {
        let r = rule(all);
        r.validate(&table_def).unwrap();
        row_rules::set_rule(&mut conn, role, table, *a, Some(&r), false, &admin_actor()).unwrap();
    }
    app.caches.rights.forget_all();
}

pub(crate) fn user_id(app: &TestApp, email: &str) -> String {
    app.scalar(&format!("SELECT id FROM gh_users WHERE email = '{email}'"))
        .unwrap()
}

/// The operator's view of a table, as `Access` would give it to the engine.
fn view_of(app: &TestApp, role: &str, me: Me, table: &str) -> Arc<Table> {
    let mut conn = app.db_conn();
    let rights = Arc::new(rights_of(&mut conn, role).unwrap()).for_operator(me);
    let view = rights.catalog_view(&app.caches.catalog.current());
    view.table(table).unwrap()
}

fn me(app: &TestApp) -> Me {
    Me {
        id: user_id(app, OPERATOR),
        email: OPERATOR.into(),
        attributes: [("region".to_string(), "EU".to_string())].into(),
    }
}

fn exact(c: Count) -> i64 {
    match c {
        Count::Exact(n) => n,
        other => panic!("an exact count, not {other:?}"),
    }
}

pub(crate) async fn regional_setup(backend: Backend) -> (TestApp, reqwest::Client) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    app.sql(&schema(backend));
    let all = [
        ("t.orders.r", "on"),
        ("t.orders.c", "on"),
        ("t.orders.u", "on"),
    ];
    let mut fields = all.to_vec();
    fields.extend([
        ("t.orders.d", "on"),
        ("t.lines.r", "on"),
        ("t.lines.c", "on"),
        ("t.lines.u", "on"),
        ("t.lines.d", "on"),
        ("t.misc.r", "on"),
        ("t.misc.u", "on"),
    ]);
    app.create_role("regional", &fields).await;
    app.create_role("eu_only", &fields).await;
    let mine = "region__eq=$me.region";
    set_rules(&app, "regional", "orders", &Action::ALL, mine);
    set_rules(&app, "regional", "lines", &[Action::Read], mine);
    set_rules(&app, "eu_only", "orders", &Action::ALL, "region__eq=EU");
    let client = app.operator(OPERATOR, "regional", PASSWORD).await;
    {
        let mut conn = app.db_conn();
        let id = user_id(&app, OPERATOR);
        let pairs = [("region".to_string(), "EU".to_string())];
        row_rules::set_attributes(&mut conn, &id, &pairs, &admin_actor()).unwrap();
    }
    app.caches.rights.forget_all();
    (app, client)
}

async fn a_row_outside_the_rule_never_appears_on_any_path(backend: Backend) {
    let (app, client) = regional_setup(backend).await;
    let eu = Session::of(&app, &client);

    // Lists, record pages, related rows, foreign-key labels, exports.
    let list = eu.page("/data/orders").await;
    assert!(
        list.contains("Alpha-EU") && list.contains("Charlie-EU"),
        "{list}"
    );
    assert!(!list.contains("Bravo-US"));
    assert_eq!(
        eu.get("/data/orders/2").await.status(),
        StatusCode::NOT_FOUND
    );
    let record = eu.page("/data/orders/1").await;
    assert!(record.contains("Line-EU-1"));
    assert!(
        !record.contains("Line-US-2"),
        "a related row outside the rule"
    );
    // The administrator's labels of the same rows (remembered for a few seconds) are not
    // the operator's: each reads them through their own rule.
    let all_lines = app.get("/data/lines").await.text().await.unwrap();
    assert!(all_lines.contains("Bravo-US (2)"), "{all_lines}");
    let lines = eu.page("/data/lines").await;
    assert!(lines.contains("Line-EU-3") && !lines.contains("Line-US-2"));
    assert!(
        !lines.contains("Bravo-US"),
        "the label of an order outside the rule"
    );
    let res = eu.get("/data/lines/lookup?column=order_id&q=-").await;
    assert_eq!(res.status(), StatusCode::OK);
    let lookup = res.text().await.unwrap();
    assert!(lookup.contains("Alpha-EU"), "the picker: {lookup}");
    assert!(!lookup.contains("Bravo-US"), "the picker: {lookup}");
    let csv = eu.page("/data/orders/export.csv").await;
    assert!(
        csv.contains("Alpha-EU") && !csv.contains("Bravo-US"),
        "{csv}"
    );
    let json = eu.page("/data/orders/export.json").await;
    assert!(json.contains("Alpha-EU") && !json.contains("Bravo-US"));

    // Counts: exact, and an estimate (which would count every row) becomes a count.
    let orders = view_of(&app, "regional", me(&app), "orders");
    assert!(orders.estimated_rows.is_none());
    {
        let mut conn = app.db_conn();
        let q = ListQuery::default();
        assert_eq!(exact(store::count(&mut conn, &orders, &q).unwrap()), 2);
        let mut estimated = (*orders).clone();
        estimated.estimated_rows = Some(5_000_000);
        assert_eq!(exact(store::count(&mut conn, &estimated, &q).unwrap()), 2);
        // Charts.
        let chart = ChartQuery::parse("by=region", &orders).unwrap();
        let series = group_counts(&mut conn, &orders, &chart).unwrap();
        assert_eq!(series.points, vec![("EU".to_string(), 2)]);
        assert_eq!(series.total, 2);
    }

    // Updates: a row outside the rule is not found; moving a row out is refused by name.
    let res = eu.edit("/data/orders/1", &[("f.region", "US")]).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text().await.unwrap().contains("region must equal EU"));
    assert_eq!(
        app.scalar("SELECT region FROM orders WHERE id = 1")
            .unwrap(),
        "EU"
    );
    let res = eu
        .post_form(
            "/data/orders/new",
            "/data/orders",
            &[("f.name", "Delta-US"), ("f.region", "US")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text().await.unwrap().contains("region must equal EU"));
    assert_eq!(app.scalar("SELECT COUNT(*) FROM orders").unwrap(), "3");
    let res = eu
        .post_form("/data/orders/1", "/data/orders/2/delete", &[])
        .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);

    // History and restore of a row outside the rule: not found.
    let admin = app.session();
    let res = admin
        .edit("/data/orders/2", &[("f.owner", "someone")])
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let entry = app
        .scalar("SELECT id FROM gh_audit WHERE table_name = 'orders' AND row_key = '2'")
        .unwrap();
    let restore = format!("/data/orders/2/restore/{entry}");
    assert_eq!(eu.get(&restore).await.status(), StatusCode::NOT_FOUND);

    // Bulk actions act on the rows inside the rule only.
    {
        let mut conn = app.db_conn();
        let catalog = app.caches.catalog.current();
        let keys = Selection::Keys(vec![vec![Value::Int(2)], vec![Value::Int(3)]]);
        let set = store::bulk_set(
            &mut conn,
            &orders,
            &Selection::Matching(ListQuery::default()),
            3,
            &Value::Text("bulk".into()),
            None,
            &admin_actor(),
        );
        assert_eq!(set.ok(), Some(2));
        let deleted = store::bulk_delete(&mut conn, &catalog, &orders, &keys, None, &admin_actor());
        assert_eq!(deleted.ok(), Some(1));
    }
    assert_eq!(
        app.scalar("SELECT owner FROM orders WHERE id = 2").unwrap(),
        "someone"
    );
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM orders WHERE id IN (2, 3)")
            .unwrap(),
        "1"
    );

    // The API, for a token of the constant rule's role; imports check every row.
    let res = app
        .post_form(
            "/integrations/tokens",
            "/integrations/tokens",
            &[("name", "eu"), ("role", "eu_only"), ("expires_days", "30")],
        )
        .await;
    let page = res.text().await.unwrap();
    let marker = "id=\"new-token\">";
    let start = page.find(marker).unwrap() + marker.len();
    let token = page[start..start + page[start..].find('<').unwrap()].to_string();
    let api = |method: reqwest::Method, path: &str| {
        reqwest::Client::new()
            .request(method, app.url(path))
            .bearer_auth(&token)
    };
    let body: serde_json::Value = api(reqwest::Method::GET, "/api/v1/tables/orders/rows")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["count"]["value"], 1, "{body}");
    assert!(!body.to_string().contains("Bravo-US"));
    for method in [reqwest::Method::GET, reqwest::Method::DELETE] {
        let res = api(method, "/api/v1/tables/orders/rows/2")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
    }
    let res = api(reqwest::Method::PATCH, "/api/v1/tables/orders/rows/2")
        .json(&serde_json::json!({ "name": "Taken" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let res = api(reqwest::Method::POST, "/api/v1/tables/orders/rows")
        .json(&serde_json::json!({ "name": "Echo-US", "region": "US" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let csv = "name,region\nFoxtrot-EU,EU\nGolf-US,US\n";
    let (status, body) = api_import(&app, &token, "orders", "", csv).await;
    assert_ne!(status, StatusCode::OK, "{body}");
    assert!(body.to_string().contains("region must equal EU"), "{body}");
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM orders WHERE name = 'Foxtrot-EU'")
            .unwrap(),
        "0"
    );
    let (status, body) = api_import(&app, &token, "orders", "", "name,region\nHotel-EU,EU\n").await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Webhooks: the endpoint's role's rule decides which rows it hears of.
    app.sql(
        "INSERT INTO gh_webhook_endpoints (id, url, description, events, role, enabled, secret_enc, created_at)
         VALUES ('ep1', 'http://127.0.0.1:9/hook', '', '[\"orders:*\"]', 'eu_only', TRUE, 'x', CURRENT_TIMESTAMP)",
    );
    for key in ["1", "2"] {
        let res = admin
            .edit(&format!("/data/orders/{key}"), &[("f.owner", "hooked")])
            .await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
    }
    let sent = |name: &str| {
        app.scalar(&format!(
            "SELECT COUNT(*) FROM gh_outbox WHERE payload LIKE '%{name}%'"
        ))
        .unwrap()
    };
    assert_eq!(sent("Alpha-EU"), "1");
    assert_eq!(sent("Bravo-US"), "0");
}

async fn any_groups_and_the_operator_s_id_and_email_bind(backend: Backend) {
    let (app, _client) = regional_setup(backend).await;
    let me = me(&app);
    app.sql(&format!(
        "UPDATE orders SET owner = '{}' WHERE id = 3",
        me.id
    ));
    let full = app.caches.catalog.current().table("orders").unwrap();
    let count_under = |rule: RowRule| {
        let mut t = (*full).clone();
        let scope = rule.bind(&t, Some(&me));
        t.scopes = Some(Arc::new(Scopes::new(
            [Some(scope), None, None, None],
            false,
        )));
        let mut conn = app.db_conn();
        exact(store::count(&mut conn, &t, &ListQuery::default()).unwrap())
    };
    let any = RowRule::parse("", "region__eq=$me.region\nname__eq=Bravo-US").unwrap();
    assert_eq!(count_under(any), 3);
    let narrowed = RowRule::parse("region__eq=EU", "name__eq=Bravo-US\nname__eq=Alpha-EU").unwrap();
    assert_eq!(count_under(narrowed), 1);
    assert_eq!(count_under(rule("owner__eq=$me.email")), 1);
    assert_eq!(count_under(rule("owner__eq=$me.id")), 1);
    assert_eq!(
        count_under(rule("owner__eq=$me.missing")),
        0,
        "no value: fail closed"
    );
    assert_eq!(
        count_under(rule("status__eq=open")),
        0,
        "an unknown column: fail closed"
    );
    assert!(
        rule("status__eq=open")
            .validate(&full)
            .unwrap_err()
            .contains("status")
    );
    assert!(rule("id__eq=abc").validate(&full).is_err());
    assert!(row_rules::attribute_refusal("Region", "EU").is_some());
    assert!(row_rules::attribute_refusal("region", &"x".repeat(201)).is_some());
}

async fn a_rule_on_a_dropped_column_shows_no_rows_and_tells_administrators(backend: Backend) {
    let (app, client) = regional_setup(backend).await;
    let eu = Session::of(&app, &client);
    assert!(eu.page("/data/lines").await.contains("Line-EU-1"));
    app.sql("ALTER TABLE lines DROP COLUMN region");
    app.caches.rights.forget_all();
    let page = eu.page("/data/lines").await;
    assert!(
        !page.contains("Line-EU-1") && !page.contains("Line-US-2"),
        "{page}"
    );
    let notice = app.session().page("/").await;
    assert!(
        notice.contains("names region, which the table no longer has"),
        "the administrators' notice"
    );
}

async fn change_notices_never_name_a_row_outside_the_rule(backend: Backend) {
    let (app, client) = regional_setup(backend).await;
    let mut events = Events::open(&client, &app.url("/events"), None).await;
    let admin = app.session();
    let res = admin.edit("/data/orders/2", &[("f.owner", "x")]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    // A change of a table without a rule comes through, and is the first one that does.
    let res = admin.edit("/data/misc/1", &[("f.name", "n")]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let notice = events.change().await;
    assert_eq!(notice["table"], "misc", "{notice}");
}

/// The rights bound for an operator and the catalog view made from them are kept between
/// requests: two operators of one role, asking in turn, each keep their own rows, and a
/// column added to the schema shows at once without the rights being forgotten.
async fn operators_of_one_role_keep_their_own_rows_and_see_schema_changes(backend: Backend) {
    let (app, client) = regional_setup(backend).await;
    let us_client = app.operator("us@example.com", "regional", PASSWORD).await;
    {
        let mut conn = app.db_conn();
        let id = user_id(&app, "us@example.com");
        let pairs = [("region".to_string(), "US".to_string())];
        row_rules::set_attributes(&mut conn, &id, &pairs, &admin_actor()).unwrap();
    }
    app.caches.rights.forget_all();
    let (eu, us) = (Session::of(&app, &client), Session::of(&app, &us_client));
    for _ in 0..3 {
        let page = eu.page("/data/orders").await;
        assert!(
            page.contains("Alpha-EU") && !page.contains("Bravo-US"),
            "{page}"
        );
        let page = us.page("/data/orders").await;
        assert!(
            page.contains("Bravo-US") && !page.contains("Alpha-EU"),
            "{page}"
        );
    }
    app.sql("ALTER TABLE orders ADD COLUMN priority_flag TEXT");
    let page = eu.page("/data/orders").await;
    assert!(page.contains("priority_flag"), "{page}");
    assert!(
        page.contains("Alpha-EU") && !page.contains("Bravo-US"),
        "{page}"
    );
}
