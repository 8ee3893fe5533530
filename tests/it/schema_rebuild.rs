//! Issue 11's leftovers in the schema builder: SQLite's rebuild of a table that declares
//! CHECK constraints (an enum by CHECK, as the demo's `orders.status`), collations, a
//! generated column, named constraints and AUTOINCREMENT, with its data, indexes, foreign
//! keys, its own triggers and other tables' triggers that name it kept (checked by
//! `foreign_key_check` / `integrity_check`); refusals that name what uses a dropped column;
//! saved views following a renamed table and renamed or dropped columns. Both backends.

use reqwest::StatusCode;

use crate::common::{Backend, TestApp};
use crate::schema::{alter, count, refused, sqlite_checks_pass};

both_backends!(
    a_table_with_checks_collations_and_a_generated_column_is_altered_keeping_everything,
    saved_views_follow_renamed_tables_and_columns_and_forget_dropped_ones,
    the_demo_orders_table_with_its_status_enum_is_altered,
);

fn shop(backend: Backend) -> String {
    let mut sql = match backend {
        Backend::Sqlite => "CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL COLLATE NOCASE);
         CREATE TABLE orders (
           id INTEGER PRIMARY KEY AUTOINCREMENT,
           customer_id INTEGER NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
           status TEXT NOT NULL DEFAULT 'new' CHECK (status IN ('new', 'paid', 'shipped')),
           code TEXT COLLATE NOCASE, -- a comment, (with a parenthesis
           total NUMERIC(10,2) CONSTRAINT total_positive CHECK (total >= 0),
           doubled NUMERIC GENERATED ALWAYS AS (total * 2) VIRTUAL,
           note TEXT,
           \"odd \"\"name\"\"\" TEXT DEFAULT 'x,y',
           gift_for INTEGER,
           CONSTRAINT code_once UNIQUE (code),
           CHECK (note IS NULL OR length(note) < 100)
         );
         CREATE TABLE order_log (order_id INTEGER, what TEXT);
         CREATE TRIGGER orders_logged AFTER INSERT ON orders BEGIN INSERT INTO order_log VALUES (NEW.id, 'created'); END;
         CREATE TRIGGER customers_touch AFTER UPDATE ON customers BEGIN UPDATE orders SET note = 'customer renamed' WHERE customer_id = NEW.id; END;
         CREATE VIEW paid_orders AS SELECT id, total FROM orders WHERE status = 'paid';"
            .to_string(),
        Backend::Postgres => "CREATE TABLE customers (id SERIAL PRIMARY KEY, name TEXT NOT NULL);
         CREATE TABLE orders (
           id SERIAL PRIMARY KEY,
           customer_id INTEGER NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
           status TEXT NOT NULL DEFAULT 'new' CHECK (status IN ('new', 'paid', 'shipped')),
           code TEXT COLLATE \"C\",
           total NUMERIC(10,2) CONSTRAINT total_positive CHECK (total >= 0),
           doubled NUMERIC GENERATED ALWAYS AS (total * 2) STORED,
           note TEXT,
           \"odd \"\"name\"\"\" TEXT DEFAULT 'x,y',
           gift_for INTEGER,
           CONSTRAINT code_once UNIQUE (code),
           CHECK (note IS NULL OR length(note) < 100)
         );
         CREATE TABLE order_log (order_id INTEGER, what TEXT);"
            .to_string(),
    };
    sql.push_str(
        "CREATE INDEX orders_status_idx ON orders (status);
         CREATE TABLE refunds (id INTEGER PRIMARY KEY, order_id INTEGER REFERENCES orders (id), amount NUMERIC);
         INSERT INTO customers (name) VALUES ('Ada'), ('Grace');",
    );
    for i in 1..=12 {
        sql.push_str(&format!(
            "INSERT INTO orders (customer_id, status, code, total) VALUES ({}, '{}', 'C{i}', {i}.50);",
            1 + i % 2,
            ["new", "paid", "shipped"][i % 3]
        ));
    }
    sql.push_str("INSERT INTO refunds (id, order_id, amount) VALUES (1, 3, 1.00);");
    sql
}

async fn a_table_with_checks_collations_and_a_generated_column_is_altered_keeping_everything(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    app.sql(&shop(backend));
    let sqlite = backend == Backend::Sqlite;
    // The last key is deleted: AUTOINCREMENT must not hand it out again after the rebuild.
    app.sql("DELETE FROM orders WHERE id = 12");

    // Each of these rebuilds the table on SQLite.
    alter(
        &app,
        "orders",
        &[
            ("op", "set_default"),
            ("column", "status"),
            ("default", "paid"),
        ],
        None,
    )
    .await;
    alter(
        &app,
        "orders",
        &[
            ("op", "set_not_null"),
            ("column", "total"),
            ("not_null", "yes"),
        ],
        None,
    )
    .await;
    alter(
        &app,
        "orders",
        &[("op", "drop_column"), ("column", "code")],
        Some("code"),
    )
    .await;
    alter(
        &app,
        "orders",
        &[
            ("op", "add_foreign_key"),
            ("columns", "gift_for"),
            ("ref", "customers"),
            ("on_delete", "set null"),
        ],
        None,
    )
    .await;

    assert_eq!(count(&app, "SELECT COUNT(*) FROM orders"), 11, "rows kept");
    assert_eq!(
        app.scalar("SELECT CAST(doubled AS TEXT) FROM orders WHERE id = 4")
            .map(|d| d.trim_end_matches('0').trim_end_matches('.').to_string())
            .as_deref(),
        Some("9"),
        "the generated column computes again"
    );
    assert_eq!(
        app.scalar("SELECT \"odd \"\"name\"\"\" FROM orders WHERE id = 1")
            .as_deref(),
        Some("x,y")
    );
    app.sql("INSERT INTO orders (customer_id, total) VALUES (1, 2)");
    assert_eq!(
        app.scalar("SELECT status FROM orders WHERE total = 2")
            .as_deref(),
        Some("paid"),
        "the new default"
    );
    // The enum by CHECK still holds and is still offered as a choice.
    let form = app.session().page("/data/orders/new").await;
    assert!(form.contains("shipped"), "{form}");
    let res = app
        .session()
        .post_form(
            "/data/orders/new",
            "/data/orders",
            &[
                ("f.customer_id", "1"),
                ("f.status", "lost"),
                ("f.total", "1"),
            ],
        )
        .await;
    assert_ne!(res.status(), StatusCode::SEE_OTHER, "CHECK refuses 'lost'");
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM orders WHERE status = 'lost'"),
        0
    );
    sqlite_checks_pass(&app);
    if sqlite {
        let create = app
            .scalar("SELECT sql FROM sqlite_master WHERE name = 'orders'")
            .unwrap();
        for kept in [
            "CHECK (status IN ('new', 'paid', 'shipped'))",
            "CONSTRAINT total_positive CHECK (total >= 0)",
            "GENERATED ALWAYS AS (total * 2) VIRTUAL",
            "AUTOINCREMENT",
            "CHECK (note IS NULL OR length(note) < 100)",
            "DEFAULT 'x,y'",
            "ON DELETE CASCADE",
        ] {
            assert!(create.contains(kept), "{kept} kept in {create}");
        }
        assert!(
            !create.contains("code_once"),
            "the UNIQUE over code went with it"
        );
        assert_eq!(
            app.scalar("SELECT MAX(id) FROM orders").as_deref(),
            Some("13"),
            "AUTOINCREMENT did not hand out 12 again"
        );
        for (name, what) in [
            ("orders_status_idx", "index"),
            ("orders_logged", "trigger"),
            ("customers_touch", "another table's trigger naming it"),
            ("paid_orders", "view"),
        ] {
            assert_eq!(
                count(
                    &app,
                    &format!("SELECT COUNT(*) FROM sqlite_master WHERE name = '{name}'")
                ),
                1,
                "{what} kept"
            );
        }
        assert_eq!(
            count(&app, "SELECT COUNT(*) FROM order_log WHERE order_id = 13"),
            1,
            "its own trigger fires"
        );
        app.sql("UPDATE customers SET name = 'Ada L.' WHERE id = 1");
        assert!(
            count(
                &app,
                "SELECT COUNT(*) FROM orders WHERE note = 'customer renamed'"
            ) > 0,
            "the other table's trigger fires"
        );
        assert_eq!(
            count(
                &app,
                "SELECT COUNT(*) FROM pragma_foreign_key_list('refunds')"
            ),
            1,
            "the foreign key to it kept"
        );
        // A column named by another column's expression or a table CHECK is not dropped.
        let page = "/data/orders/schema";
        let body = refused(
            &app,
            page,
            page,
            &[("op", "drop_column"), ("column", "total")],
        )
        .await;
        assert!(body.contains("column doubled"), "{body}");
        let body = refused(
            &app,
            page,
            page,
            &[("op", "drop_column"), ("column", "note")],
        )
        .await;
        assert!(body.contains("CHECK (note IS NULL"), "{body}");
        assert!(body.contains("the trigger customers_touch"), "{body}");
        // Renaming a column SQLite does in place, CHECK included.
        alter(
            &app,
            "orders",
            &[
                ("op", "rename_column"),
                ("column", "status"),
                ("to", "state"),
            ],
            None,
        )
        .await;
        let create = app
            .scalar("SELECT sql FROM sqlite_master WHERE name = 'orders'")
            .unwrap();
        assert!(
            create.contains("CHECK (\"state\" IN") || create.contains("CHECK (state IN"),
            "{create}"
        );
    }
    sqlite_checks_pass(&app);
}

async fn saved_views_follow_renamed_tables_and_columns_and_forget_dropped_ones(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    app.sql(&shop(backend));
    app.sql(
        "INSERT INTO gh_views (table_name, name, owner_id, query, created_at, updated_at) \
         SELECT 'orders', 'Paid by code', id, 'sort=-code&cols=id%2Ccode%2Cstatus%2Cnote&code__contains=C1&note__isnull=1&status__eq=paid', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP FROM gh_users",
    );
    let query = || app.scalar("SELECT query FROM gh_views").unwrap();
    alter(
        &app,
        "orders",
        &[("op", "rename_column"), ("column", "code"), ("to", "label")],
        None,
    )
    .await;
    assert_eq!(
        query(),
        "sort=-label&cols=id%2Clabel%2Cstatus%2Cnote&label__contains=C1&note__isnull=1&status__eq=paid"
    );
    // Postgres drops the CHECK over note with it; SQLite refuses that (test above), so drop
    // it from a table without one there.
    if backend == Backend::Postgres {
        alter(
            &app,
            "orders",
            &[("op", "drop_column"), ("column", "note")],
            Some("note"),
        )
        .await;
        assert_eq!(
            query(),
            "sort=-label&cols=id%2Clabel%2Cstatus&label__contains=C1&status__eq=paid"
        );
    }
    alter(
        &app,
        "orders",
        &[("op", "drop_column"), ("column", "label")],
        Some("label"),
    )
    .await;
    assert!(!query().contains("label"), "{}", query());
    assert!(query().contains("status__eq=paid"), "{}", query());
    alter(
        &app,
        "refunds",
        &[("op", "rename_table"), ("to", "returns")],
        None,
    )
    .await;
    app.sql(
        "INSERT INTO gh_views (table_name, name, owner_id, query, created_at, updated_at) \
         SELECT 'returns', 'Big', id, 'amount__gte=1', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP FROM gh_users",
    );
    alter(
        &app,
        "returns",
        &[("op", "rename_table"), ("to", "refunds")],
        None,
    )
    .await;
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM gh_views WHERE table_name = 'refunds'"
        ),
        1
    );
    // The view still opens on the renamed table, its filter applied.
    let id = app
        .scalar("SELECT CAST(id AS TEXT) FROM gh_views WHERE table_name = 'refunds'")
        .unwrap();
    let page = app
        .session()
        .page(&format!("/data/refunds?view={id}"))
        .await;
    assert!(page.contains("Big"), "{page}");
    sqlite_checks_pass(&app);
}

/// The demo's `orders` (an enum by CHECK, referenced by `order_items`), changed in the
/// ways that rebuild it on SQLite.
async fn the_demo_orders_table_with_its_status_enum_is_altered(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    app.demo(40);
    let (orders, items) = (
        count(&app, "SELECT COUNT(*) FROM orders"),
        count(&app, "SELECT COUNT(*) FROM order_items"),
    );
    alter(
        &app,
        "orders",
        &[
            ("op", "set_default"),
            ("column", "status"),
            ("default", "paid"),
        ],
        None,
    )
    .await;
    alter(
        &app,
        "orders",
        &[("op", "drop_column"), ("column", "notes")],
        Some("notes"),
    )
    .await;
    assert_eq!(count(&app, "SELECT COUNT(*) FROM orders"), orders);
    assert_eq!(count(&app, "SELECT COUNT(*) FROM order_items"), items);
    let form = app.session().page("/data/orders/new").await;
    assert!(
        form.contains("cancelled"),
        "the enum is still offered: {form}"
    );
    if backend == Backend::Sqlite {
        let create = app
            .scalar("SELECT sql FROM sqlite_master WHERE name = 'orders'")
            .unwrap();
        assert!(
            create.contains("CHECK (status IN ('new', 'paid', 'shipped', 'cancelled'))"),
            "{create}"
        );
        assert!(create.contains("DEFAULT 'paid'"), "{create}");
        assert_eq!(
            count(
                &app,
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND tbl_name = 'orders' AND sql IS NOT NULL"
            ),
            3,
            "its indexes kept"
        );
    }
    sqlite_checks_pass(&app);
}
