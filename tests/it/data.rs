//! The data pages on both backends: the catalog, list semantics, hostile input, create /
//! edit / delete with validation, stale forms, foreign keys, audit, export.

use reqwest::StatusCode;

use crate::common::{self, Backend, TestApp, location};

both_backends!(
    the_catalog_knows_keys_views_enums_and_foreign_keys,
    lists_sort_filter_search_and_page,
    bad_list_parameters_are_a_400_with_a_message,
    hostile_names_and_values_are_never_sql,
    rows_are_created_edited_and_deleted_with_an_audit_trail,
    invalid_input_is_refused_next_to_the_field_and_nothing_is_written,
    a_stale_form_is_refused_with_409,
    deleting_a_referenced_row_names_the_referencing_table,
    exports_escape_csv_and_type_json,
    composite_keys_address_rows,
    tables_without_keys_and_views_are_read_only,
    lists_show_foreign_key_labels_and_htmx_gets_a_fragment,
    unknown_tables_and_rows_are_404,
    the_audit_page_filters,
    bulk_actions_confirm_then_apply_to_all_or_none,
    sorting_decimals_and_timestamps_is_by_value_not_text,
    decimals_keep_their_declared_scale_as_strings_everywhere,
    a_reused_key_does_not_inherit_the_history_of_the_deleted_row,
    a_viewer_reads_but_cannot_change_anything,
    filtering_for_the_empty_string_is_a_real_filter_not_a_redirect_loop,
    spreadsheet_formulas_in_exported_text_are_neutralised,
    a_bulk_confirmation_for_a_selection_that_changed_meanwhile_changes_nothing,
    keys_holding_slashes_commas_and_dots_survive_the_trip_through_the_url,
);

const PEOPLE: &str = "CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT UNIQUE, \
    age INTEGER, city TEXT, active BOOLEAN NOT NULL DEFAULT TRUE, joined DATE, bio TEXT);";

fn people_sql(backend: Backend) -> String {
    let ddl = match backend {
        Backend::Sqlite => PEOPLE.to_string(),
        Backend::Postgres => PEOPLE.replace("id INTEGER PRIMARY KEY", "id SERIAL PRIMARY KEY"),
    };
    let mut sql = ddl;
    let cities = ["Oslo", "Lima", "Rome"];
    for i in 1..=30 {
        let age = if i % 10 == 0 {
            "NULL".to_string()
        } else {
            (20 + i).to_string()
        };
        sql.push_str(&format!(
            "INSERT INTO people (name, email, age, city, active, joined) VALUES ('Person {i:02}', 'p{i}@example.com', {age}, '{}', {}, '2024-01-{:02}');",
            cities[i % 3],
            if i % 2 == 0 { "TRUE" } else { "FALSE" },
            i
        ));
    }
    sql
}

async fn signed_in(backend: Backend) -> TestApp {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    app
}

/// The ids of the rows a list page shows, in order.
fn ids(body: &str, table: &str) -> Vec<String> {
    let marker = format!("<td class=\"rowlink\"><a href=\"/data/{table}/");
    body.match_indices(&marker)
        .map(|(i, _)| {
            let rest = &body[i + marker.len()..];
            rest[..rest.find('"').unwrap()].to_string()
        })
        .collect()
}

async fn page(app: &TestApp, path: &str) -> (StatusCode, String) {
    let res = app.get(path).await;
    let status = res.status();
    (status, res.text().await.unwrap())
}

async fn the_catalog_knows_keys_views_enums_and_foreign_keys(backend: Backend) {
    let app = signed_in(backend).await;
    app.demo(20);
    app.sql("CREATE VIEW paid_orders AS SELECT id, total FROM orders WHERE status = 'paid';");
    let mut conn = app.db_conn();
    let catalog = app.caches.catalog.get(&mut conn).unwrap();
    let orders = catalog.table("orders").unwrap();
    let status = orders.column("status").unwrap();
    assert_eq!(
        status.enum_values,
        vec!["new", "paid", "shipped", "cancelled"]
    );
    assert!(
        orders.column("id").unwrap().generated,
        "the id is filled in by the database"
    );
    assert!(orders.column("notes").unwrap().nullable);
    let fk = orders.foreign_key_of("customer_id").unwrap();
    assert_eq!(fk.ref_table, "customers");
    assert_eq!(fk.ref_columns, vec!["id"]);
    let customers = catalog.table("customers").unwrap();
    let referrers: Vec<&str> = customers
        .referrers
        .iter()
        .map(|r| r.table.as_str())
        .collect();
    assert_eq!(referrers, vec!["orders"]);
    assert_eq!(
        customers.label_column().unwrap().name,
        "email",
        "unique text column names rows"
    );
    let items = catalog.table("order_items").unwrap();
    assert_eq!(items.key_columns(), vec!["order_id", "product_id"]);
    assert!(catalog.table("paid_orders").unwrap().is_view);
    assert!(
        catalog
            .table("paid_orders")
            .unwrap()
            .read_only_reason()
            .is_some()
    );
    assert!(
        catalog
            .tables
            .keys()
            .all(|t| !t.starts_with("gh_") && !t.starts_with("__diesel"))
    );
    drop(conn);

    let (status, body) = page(&app, "/data").await;
    assert_eq!(status, StatusCode::OK);
    for t in [
        "customers",
        "orders",
        "order_items",
        "products",
        "paid_orders",
    ] {
        assert!(body.contains(&format!("href=\"/data/{t}\"")), "{t} listed");
    }
    assert!(!body.contains("gh_users"));
}

async fn lists_sort_filter_search_and_page(backend: Backend) {
    let app = signed_in(backend).await;
    app.sql(&people_sql(backend));
    let (status, body) = page(&app, "/data/people").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("30 rows"));
    assert_eq!(ids(&body, "people").len(), 30);

    // NULL sorts as the largest value on both backends; ties fall back to the key.
    let (_, body) = page(&app, "/data/people?sort=-age").await;
    assert_eq!(&ids(&body, "people")[..5], &["30", "20", "10", "29", "28"]);
    let (_, body) = page(&app, "/data/people?sort=age").await;
    let order = ids(&body, "people");
    assert_eq!(&order[..2], &["1", "2"]);
    assert_eq!(&order[27..], &["10", "20", "30"]);
    let (_, body) = page(&app, "/data/people?sort=city").await;
    let order = ids(&body, "people");
    // Lima (i % 3 == 1) first; ties broken by id ascending.
    assert_eq!(&order[..3], &["1", "4", "7"]);

    for (query, expected) in [
        ("age__eq=25", vec!["5"]),
        ("age__gt=48", vec!["29"]),
        ("age__gte=48", vec!["28", "29"]),
        ("age__lt=22", vec!["1"]),
        ("age__lte=22", vec!["1", "2"]),
        ("city__in=Lima,Rome&age__lt=25", vec!["1", "2", "4"]),
        (
            "name__startswith=Person%200",
            vec!["1", "2", "3", "4", "5", "6", "7", "8", "9"],
        ),
        ("name__contains=son%2012", vec!["12"]),
        ("age__isnull=true", vec!["10", "20", "30"]),
        ("active__eq=true&age__lt=27", vec!["2", "4", "6"]),
        ("joined__gte=2024-01-29", vec!["29", "30"]),
        ("email__ne=p1@example.com&age__lt=23", vec!["2"]),
    ] {
        let (status, body) = page(&app, &format!("/data/people?{query}")).await;
        assert_eq!(status, StatusCode::OK, "{query}");
        assert_eq!(ids(&body, "people"), expected, "{query}");
    }
    let (_, body) = page(&app, "/data/people?age__isnull=false").await;
    assert_eq!(ids(&body, "people").len(), 27);

    // Search is case-insensitive across text columns.
    let (_, body) = page(&app, "/data/people?q=PERSON%2007").await;
    assert_eq!(ids(&body, "people"), vec!["7"]);
    let (_, body) = page(&app, "/data/people?q=lima").await;
    assert_eq!(ids(&body, "people").len(), 10);
    // A % in the search is a literal, not a wildcard.
    let (_, body) = page(&app, "/data/people?q=%25").await;
    assert!(ids(&body, "people").is_empty());

    // Paging: 25 per page, stable.
    let (_, body) = page(&app, "/data/people?per_page=25&page=2").await;
    assert_eq!(ids(&body, "people"), vec!["26", "27", "28", "29", "30"]);
    assert!(body.contains("rel=\"prev\""));
    let (_, body) = page(&app, "/data/people?per_page=25").await;
    assert_eq!(ids(&body, "people").len(), 25);
    assert!(body.contains("rel=\"next\""));

    // The filter panel submits every field; empty ones filter nothing, and the address
    // is tidied to the filters that apply.
    let res = app
        .get("/data/people?q=&city__contains=Oslo&age__gte=&age__lte=&age__isnull=&active__eq=&joined__gte=")
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), "/data/people?city__contains=Oslo");
    let (_, body) = page(&app, "/data/people?city__contains=Oslo").await;
    assert_eq!(ids(&body, "people").len(), 10);
    assert!(
        body.contains("city contains Oslo"),
        "a chip shows the filter"
    );
    assert!(
        body.contains("value=\"Oslo\""),
        "the panel shows the filter's value"
    );
    let res = app
        .get("/data/people?add_column=city&add_op=eq&add_value=Oslo")
        .await;
    assert_eq!(location(&res), "/data/people?city__eq=Oslo");

    // The column chooser hides columns, and the choice stays in the URL.
    let res = app.get("/data/people?col=id&col=name").await;
    assert_eq!(location(&res), "/data/people?cols=id%2Cname");
    let (_, body) = page(&app, "/data/people?cols=id%2Cname&sort=-id").await;
    assert!(!body.contains("p1@example.com"));
    assert!(body.contains("Person 01"));
    assert!(
        body.contains("cols=id%2Cname"),
        "links keep the column choice"
    );
}

async fn bad_list_parameters_are_a_400_with_a_message(backend: Backend) {
    let app = signed_in(backend).await;
    app.sql(&people_sql(backend));
    for (query, message) in [
        ("sort=nope", "no such column"),
        ("nope__eq=1", "no such column"),
        ("age__like=1", "not a filter"),
        ("age__eq=abc", "whole number"),
        ("joined__gt=yesterday", "YYYY-MM-DD"),
        ("per_page=7", "25, 50, 100 or 500"),
        ("per_page=100000", "25, 50, 100 or 500"),
        ("page=0", "not a page number"),
        ("page=x", "not a page number"),
        ("age__isnull=maybe", "true or false"),
    ] {
        let (status, body) = page(&app, &format!("/data/people?{query}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}");
        assert!(body.contains(message), "{query}: {message}");
    }
    for ok in ["per_page=25", "per_page=100", "per_page=500", "page=999"] {
        assert_eq!(
            page(&app, &format!("/data/people?{ok}")).await.0,
            StatusCode::OK,
            "{ok}"
        );
    }
}

async fn hostile_names_and_values_are_never_sql(backend: Backend) {
    let app = signed_in(backend).await;
    let id = match backend {
        Backend::Sqlite => "INTEGER PRIMARY KEY",
        Backend::Postgres => "SERIAL PRIMARY KEY",
    };
    app.sql(&format!(
        "CREATE TABLE \"we\"\"ird; tbl\" (id {id}, \"na'me\" TEXT NOT NULL);"
    ));
    app.sql(&people_sql(backend));
    let path = "/data/we%22ird%3B%20tbl";
    assert_eq!(page(&app, path).await.0, StatusCode::OK);

    let res = app
        .post_form(
            &format!("{path}/new"),
            path,
            &[("f.na'me", "<script>alert(1)</script>")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "created");
    let (_, body) = page(&app, path).await;
    assert!(
        body.contains("&#60;script&#62;alert(1)&#60;/script&#62;")
            || body.contains("&lt;script&gt;")
    );
    assert!(!body.contains("<script>alert(1)</script>"));

    for query in [
        "q=%27%3B%20DROP%20TABLE%20people%3B%20--",
        "name__eq=%27%20OR%20%271%27%3D%271",
        "name__contains=%25%27%20OR%201%3D1%20--",
    ] {
        let (status, body) = page(&app, &format!("/data/people?{query}")).await;
        assert_eq!(status, StatusCode::OK, "{query}");
        assert!(ids(&body, "people").is_empty(), "{query} matched nothing");
    }
    for query in [
        "sort=id;DROP%20TABLE%20people",
        "sort=-(SELECT%201)",
        "id%3B--__eq=1",
    ] {
        assert_eq!(
            page(&app, &format!("/data/people?{query}")).await.0,
            StatusCode::BAD_REQUEST,
            "{query}"
        );
    }
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM people").as_deref(),
        Some("30")
    );
}

async fn rows_are_created_edited_and_deleted_with_an_audit_trail(backend: Backend) {
    let app = signed_in(backend).await;
    app.sql(&people_sql(backend));
    assert!(page(&app, "/data/people").await.1.contains("30 rows"));
    let res = app
        .post_form(
            "/data/people/new",
            "/data/people",
            &[
                ("f.name", "Zed"),
                ("f.email", "zed@example.com"),
                ("f.age", "41"),
                ("f.city", ""),
                ("null.city", "1"),
                ("f.active", "on"),
                ("f.joined", "2024-05-06"),
                ("f.bio", ""),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), "/data/people/31");
    assert!(
        page(&app, "/data/people").await.1.contains("31 rows"),
        "the count is not stale after a write"
    );
    assert_eq!(
        app.scalar("SELECT name FROM people WHERE id = 31")
            .as_deref(),
        Some("Zed")
    );
    assert_eq!(
        app.scalar("SELECT city FROM people WHERE id = 31"),
        None,
        "NULL chosen explicitly"
    );
    assert_eq!(
        app.scalar("SELECT bio FROM people WHERE id = 31")
            .as_deref(),
        Some(""),
        "empty string kept"
    );
    let created = app
        .scalar("SELECT changes FROM gh_audit WHERE action = 'record.created'")
        .unwrap();
    let created: serde_json::Value = serde_json::from_str(&created).unwrap();
    assert_eq!(created["after"]["name"], "Zed");
    assert_eq!(created["after"]["age"], 41);
    assert_eq!(created["before"], serde_json::Value::Null);

    let (status, body) = page(&app, "/data/people/31").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("value=\"Zed\""));
    assert!(
        body.contains("record.created"),
        "history on the record page"
    );

    let res = app
        .edit(
            "/data/people/31",
            &[
                ("f.name", "Zed Two"),
                ("f.email", "zed@example.com"),
                ("f.age", "42"),
                ("null.city", "1"),
                ("f.active", "on"),
                ("f.joined", "2024-05-06"),
                ("f.bio", ""),
            ],
        )
        .await;
    assert_eq!(
        res.status(),
        StatusCode::SEE_OTHER,
        "{}",
        res.text().await.unwrap_or_default()
    );
    assert_eq!(
        app.scalar("SELECT age FROM people WHERE id = 31")
            .as_deref(),
        Some("42")
    );
    let updated = app
        .scalar("SELECT changes FROM gh_audit WHERE action = 'record.updated'")
        .unwrap();
    let updated: serde_json::Value = serde_json::from_str(&updated).unwrap();
    assert_eq!(
        updated["before"],
        serde_json::json!({"name": "Zed", "age": 41})
    );
    assert_eq!(
        updated["after"],
        serde_json::json!({"name": "Zed Two", "age": 42})
    );
    assert_eq!(
        app.scalar("SELECT user_email FROM gh_audit WHERE action = 'record.updated'")
            .as_deref(),
        Some(common::ADMIN_EMAIL)
    );

    let (status, body) = page(&app, "/data/people/31/delete").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("Delete this row of people?"));
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM people").as_deref(),
        Some("31"),
        "asking deletes nothing"
    );
    let res = app
        .post_form("/data/people/31/delete", "/data/people/31/delete", &[])
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM people").as_deref(),
        Some("30")
    );
    let deleted = app
        .scalar("SELECT changes FROM gh_audit WHERE action = 'record.deleted'")
        .unwrap();
    assert!(deleted.contains("Zed Two"));
    assert_eq!(page(&app, "/data/people/31").await.0, StatusCode::NOT_FOUND);
}

async fn invalid_input_is_refused_next_to_the_field_and_nothing_is_written(backend: Backend) {
    let app = signed_in(backend).await;
    app.sql(&people_sql(backend));
    app.demo(5);
    let base = [
        ("f.email", "new@example.com"),
        ("f.active", "on"),
        ("f.joined", ""),
        ("f.bio", ""),
    ];

    let mut form = base.to_vec();
    form.extend([("f.name", "Typed Name"), ("f.age", "forty")]);
    let res = app
        .post_form("/data/people/new", "/data/people", &form)
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = res.text().await.unwrap();
    assert!(body.contains("Enter a whole number"));
    assert!(
        body.contains("value=\"Typed Name\""),
        "what was typed is kept"
    );
    assert!(body.contains("value=\"forty\""));

    let mut form = base.to_vec();
    form.extend([("f.name", "X"), ("f.age", "9"), ("null.name", "1")]);
    let res = app
        .post_form("/data/people/new", "/data/people", &form)
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text().await.unwrap().contains("cannot be empty"));

    // Unique violation, reported by the database, shown on the field.
    let form = [
        ("f.name", "Dup"),
        ("f.email", "p1@example.com"),
        ("f.active", "on"),
    ];
    let res = app
        .post_form("/data/people/new", "/data/people", &form)
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text().await.unwrap().contains("already has this value"));

    // Foreign key to nowhere.
    let form = [
        ("f.customer_id", "9999"),
        ("f.status", "new"),
        ("f.total", "1.00"),
        ("f.created_at", "2024-01-01T10:00"),
    ];
    let res = app
        .post_form("/data/orders/new", "/data/orders", &form)
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("No row of customers has id = 9999")
    );

    // An enumeration value that is not allowed.
    let form = [
        ("f.customer_id", "1"),
        ("f.status", "lost"),
        ("f.total", "1.00"),
        ("f.created_at", "2024-01-01T10:00"),
    ];
    let res = app
        .post_form("/data/orders/new", "/data/orders", &form)
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("Choose one of: new, paid, shipped, cancelled")
    );

    // A CHECK constraint the form cannot know about.
    let form = [
        ("f.sku", "SKU-NEG"),
        ("f.name", "Negative"),
        ("f.price", "-1"),
        ("f.in_stock", "on"),
        ("f.created_at", "2024-01-01T10:00"),
    ];
    let res = app
        .post_form("/data/products/new", "/data/products", &form)
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("The database refused these values")
    );

    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM people").as_deref(),
        Some("30")
    );
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM orders").as_deref(),
        Some("5")
    );
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM products WHERE sku = 'SKU-NEG'")
            .as_deref(),
        Some("0")
    );
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM gh_audit").as_deref(),
        Some("0"),
        "no audit for nothing"
    );
}

async fn a_stale_form_is_refused_with_409(backend: Backend) {
    let app = signed_in(backend).await;
    app.sql(&people_sql(backend));
    let body = app.get("/data/people/3").await.text().await.unwrap();
    let start =
        body.find("name=\"_version\" value=\"").unwrap() + "name=\"_version\" value=\"".len();
    let version = body[start..start + 24].to_string();
    app.sql("UPDATE people SET name = 'Changed Elsewhere' WHERE id = 3;");
    let res = app
        .post_form(
            "/data/people/3",
            "/data/people/3",
            &[
                ("_version", &version),
                ("f.name", "My Edit"),
                ("f.email", "p3@example.com"),
                ("f.age", "23"),
                ("f.city", "Rome"),
                ("f.joined", "2024-01-03"),
                ("f.bio", ""),
            ],
        )
        .await;
    // post_form adds the csrf token first; the stale _version is ours.
    assert_eq!(res.status(), StatusCode::CONFLICT);
    let body = res.text().await.unwrap();
    assert!(body.contains("changed while you were editing"));
    assert!(body.contains("Changed Elsewhere"));
    assert!(body.contains("My Edit"));
    assert_eq!(
        app.scalar("SELECT name FROM people WHERE id = 3")
            .as_deref(),
        Some("Changed Elsewhere")
    );
}

async fn deleting_a_referenced_row_names_the_referencing_table(backend: Backend) {
    let app = signed_in(backend).await;
    app.demo(30);
    let customer = app
        .scalar("SELECT customer_id FROM orders ORDER BY id LIMIT 1")
        .unwrap();
    let path = format!("/data/customers/{customer}/delete");
    let res = app.post_form(&path, &path, &[]).await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    let body = res.text().await.unwrap();
    assert!(body.contains("still refer to it"), "{body}");
    assert!(body.contains("orders"));
    assert_eq!(
        app.scalar(&format!(
            "SELECT COUNT(*) FROM customers WHERE id = {customer}"
        ))
        .as_deref(),
        Some("1")
    );
}

async fn exports_escape_csv_and_type_json(backend: Backend) {
    let app = signed_in(backend).await;
    app.sql(&people_sql(backend));
    app.sql("UPDATE people SET bio = 'has, comma' WHERE id = 1; UPDATE people SET bio = 'say \"hi\"' WHERE id = 2; \
             UPDATE people SET bio = 'two\nlines' WHERE id = 3; UPDATE people SET bio = '' WHERE id = 4;");
    let res = app
        .get("/data/people/export.csv?id__lte=5&col=id&col=name&col=age&col=bio")
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.headers()
            .get("content-type")
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    assert!(
        res.headers()
            .get("content-disposition")
            .unwrap()
            .to_str()
            .unwrap()
            .contains("people.csv")
    );
    let csv = res.text().await.unwrap();
    assert_eq!(
        csv,
        "id,name,age,bio\r\n1,Person 01,21,\"has, comma\"\r\n2,Person 02,22,\"say \"\"hi\"\"\"\r\n\
         3,Person 03,23,\"two\nlines\"\r\n4,Person 04,24,\"\"\r\n5,Person 05,25,\r\n"
    );
    let res = app
        .get("/data/people/export.json?age__isnull=true&sort=-id")
        .await;
    let rows: serde_json::Value = res.json().await.unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0]["id"], 30);
    assert_eq!(rows[0]["age"], serde_json::Value::Null);
    assert_eq!(rows[0]["name"], "Person 30");
    assert_eq!(rows[0]["active"], true);
    assert_eq!(rows[1]["active"], true);
    assert_eq!(
        app.get("/data/people/export.csv?nope__eq=1").await.status(),
        StatusCode::BAD_REQUEST
    );
}

async fn composite_keys_address_rows(backend: Backend) {
    let app = signed_in(backend).await;
    app.demo(5);
    let (order, product) = (
        app.scalar("SELECT order_id FROM order_items ORDER BY order_id, product_id LIMIT 1")
            .unwrap(),
        app.scalar("SELECT product_id FROM order_items ORDER BY order_id, product_id LIMIT 1")
            .unwrap(),
    );
    let path = format!("/data/order_items/{order},{product}");
    let (status, body) = page(&app, &path).await;
    assert_eq!(status, StatusCode::OK);
    let (_, list) = page(&app, "/data/order_items").await;
    assert!(list.contains(&format!("href=\"{path}\"")));
    let res = app
        .edit(
            &path,
            &[
                ("f.order_id", &order),
                ("f.product_id", &product),
                ("f.quantity", "9"),
                ("f.unit_price", "1.50"),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "{body}");
    assert_eq!(
        app.scalar(&format!(
            "SELECT quantity FROM order_items WHERE order_id = {order} AND product_id = {product}"
        ))
        .as_deref(),
        Some("9")
    );
    assert_eq!(
        page(&app, &format!("/data/order_items/{order}")).await.0,
        StatusCode::NOT_FOUND,
        "half a key"
    );
}

async fn tables_without_keys_and_views_are_read_only(backend: Backend) {
    let app = signed_in(backend).await;
    app.sql("CREATE TABLE log_lines (line TEXT, at TEXT); INSERT INTO log_lines VALUES ('boot', 'now');");
    app.sql("CREATE VIEW log_view AS SELECT line FROM log_lines;");
    let (status, body) = page(&app, "/data/log_view").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("This is a view"));
    assert!(!body.contains("New row"));
    assert_eq!(
        app.post_form("/data/log_view", "/data/log_view", &[("f.line", "x")])
            .await
            .status(),
        StatusCode::FORBIDDEN
    );

    let (status, body) = page(&app, "/data/log_lines").await;
    assert_eq!(status, StatusCode::OK);
    match backend {
        // SQLite addresses rows without a primary key by their rowid.
        Backend::Sqlite => {
            assert!(body.contains("href=\"/data/log_lines/1\""));
            let res = app
                .edit(
                    "/data/log_lines/1",
                    &[("f.line", "restart"), ("f.at", "later")],
                )
                .await;
            assert_eq!(res.status(), StatusCode::SEE_OTHER);
            assert_eq!(
                app.scalar("SELECT line FROM log_lines").as_deref(),
                Some("restart")
            );
        }
        Backend::Postgres => {
            assert!(body.contains("no primary key"));
            assert_eq!(
                app.post_form("/data/log_lines", "/data/log_lines", &[("f.line", "x")])
                    .await
                    .status(),
                StatusCode::FORBIDDEN
            );
        }
    }
}

async fn lists_show_foreign_key_labels_and_htmx_gets_a_fragment(backend: Backend) {
    let app = signed_in(backend).await;
    app.demo(10);
    let (_, body) = page(&app, "/data/orders").await;
    assert!(body.contains("@example.com ("), "customer labels shown");
    assert!(body.contains("href=\"/data/customers/"));
    // The page's labels are remembered briefly; a change to the customer made through
    // Gatehouse shows on the very next load.
    let first = app
        .scalar("SELECT customer_id FROM orders ORDER BY id DESC LIMIT 1")
        .unwrap();
    let res = app
        .edit(
            &format!("/data/customers/{first}"),
            &[("f.email", "renamed.just.now@example.com")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let (_, body) = page(&app, "/data/orders").await;
    assert!(
        body.contains(&format!("renamed.just.now@example.com ({first})")),
        "the new label at once"
    );
    let res = app
        .get_with("/data/orders?status__eq=paid", &[("hx-request", "true")])
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let fragment = res.text().await.unwrap();
    assert!(fragment.starts_with("<div id=\"rows\""));
    assert!(!fragment.contains("<html"));
    let customer = app
        .scalar("SELECT customer_id FROM orders ORDER BY id LIMIT 1")
        .unwrap();
    let record = app
        .get(&format!("/data/customers/{customer}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(record.contains("Related rows"));
    assert!(record.contains(&format!("customer_id__eq={customer}")));
    let options = app
        .get("/data/orders/lookup?column=customer_id&q=ada")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        options.contains("<option value=\"1\">ada.lovelace0@example.com</option>"),
        "{options}"
    );
}

async fn unknown_tables_and_rows_are_404(backend: Backend) {
    let app = signed_in(backend).await;
    app.demo(3);
    for path in [
        "/data/nope",
        "/data/gh_users",
        "/data/orders/999999",
        "/data/orders/abc",
        "/data/nope/1/delete",
        "/data/nope/export.csv",
    ] {
        assert_eq!(page(&app, path).await.0, StatusCode::NOT_FOUND, "{path}");
    }
    // Signed out, the data pages ask for a sign-in.
    let anon = common::new_client();
    let res = anon.get(app.url("/data/orders")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
}

async fn the_audit_page_filters(backend: Backend) {
    let app = signed_in(backend).await;
    app.sql(&people_sql(backend));
    app.demo(3);
    app.post_form("/data/people/1/delete", "/data/people/1/delete", &[])
        .await;
    app.post_form("/data/orders/1/delete", "/data/orders/1/delete", &[])
        .await;
    let (status, body) = page(&app, "/audit").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("record.deleted"));
    let (_, body) = page(&app, "/audit?table=people").await;
    assert!(body.contains("Person 01"));
    assert!(!body.contains("<td>orders</td>"));
    let (_, body) = page(
        &app,
        &format!("/audit?user={}&action=record.deleted", common::ADMIN_EMAIL),
    )
    .await;
    assert!(body.contains("Person 01"));
    let (_, body) = page(&app, "/audit?user=someone@else.example").await;
    assert!(body.contains("No changes recorded that match"));
    assert_eq!(
        page(&app, "/audit?since=not-a-date").await.0,
        StatusCode::BAD_REQUEST
    );
}

#[actix_web::test]
async fn postgres_types_round_trip_through_the_form() {
    let app = signed_in(Backend::Postgres).await;
    app.sql(
        "CREATE TYPE mood AS ENUM ('happy', 'sad');
         CREATE TABLE everything (id SERIAL PRIMARY KEY, i2 SMALLINT, i4 INTEGER, i8 BIGINT, num NUMERIC(8, 2),
           r REAL, d DOUBLE PRECISION, t TEXT, vc VARCHAR(20), c CHAR(3), b BOOLEAN, dt DATE, tm TIME,
           ts TIMESTAMP, tz TIMESTAMPTZ, u UUID, j JSON, jb JSONB, by BYTEA, arr INTEGER[], m mood);
         INSERT INTO everything (by) VALUES ('\\x0102');",
    );
    let form = [
        ("f.i2", "-7"),
        ("f.i4", "123456"),
        ("f.i8", "9007199254740993"),
        ("f.num", "1234.50"),
        ("f.r", "1.5"),
        ("f.d", "2.25"),
        ("f.t", "text ✓"),
        ("f.vc", "short"),
        ("f.c", "abc"),
        ("f.b", "on"),
        ("f.dt", "2024-02-29"),
        ("f.tm", "13:45:10"),
        ("f.ts", "2024-03-01T12:30:05"),
        ("f.tz", "2024-03-01T12:30:05"),
        ("f.u", "0190b5a2-7c1e-7d2a-9f3b-5c8d2e1f4a6b"),
        ("f.j", "{\"a\": [1, 2]}"),
        ("f.jb", "{\"b\": true}"),
        ("f.arr", "{1,2,3}"),
        ("f.m", "sad"),
    ];
    let res = app
        .post_form("/data/everything/new", "/data/everything", &form)
        .await;
    assert_eq!(
        res.status(),
        StatusCode::SEE_OTHER,
        "{}",
        res.text().await.unwrap_or_default()
    );
    let id = location(&res).rsplit('/').next().unwrap().to_string();
    let check = |col: &str| {
        app.scalar(&format!(
            "SELECT CAST({col} AS TEXT) FROM everything WHERE id = {id}"
        ))
    };
    assert_eq!(check("i8").as_deref(), Some("9007199254740993"));
    assert_eq!(check("num").as_deref(), Some("1234.50"));
    assert_eq!(check("b").as_deref(), Some("true"));
    assert_eq!(check("ts").as_deref(), Some("2024-03-01 12:30:05"));
    assert_eq!(check("tz").as_deref(), Some("2024-03-01 12:30:05+00"));
    assert_eq!(
        check("u").as_deref(),
        Some("0190b5a2-7c1e-7d2a-9f3b-5c8d2e1f4a6b")
    );
    assert_eq!(check("jb").as_deref(), Some("{\"b\": true}"));
    assert_eq!(check("arr").as_deref(), Some("{1,2,3}"));
    assert_eq!(check("m").as_deref(), Some("sad"));

    // The record page shows every value back, ready to save again unchanged.
    let body = app
        .get(&format!("/data/everything/{id}"))
        .await
        .text()
        .await
        .unwrap();
    for shown in [
        "value=\"9007199254740993\"",
        "value=\"1234.50\"",
        "value=\"2024-03-01T12:30:05\"",
        "value=\"13:45:10\"",
        "<option selected>sad</option>",
        "text ✓",
    ] {
        assert!(body.contains(shown), "{shown}");
    }
    let res = app.edit(&format!("/data/everything/{id}"), &form).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM gh_audit WHERE action = 'record.updated'")
            .as_deref(),
        Some("0"),
        "nothing changed"
    );

    // Wrong types are refused with a message.
    let bad = [("f.u", "not-a-uuid"), ("f.j", "{oops"), ("f.arr", "{1,x}")];
    let res = app
        .post_form("/data/everything/new", "/data/everything", &bad)
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = res.text().await.unwrap();
    assert!(body.contains("Enter a UUID"));
    assert!(body.contains("not valid JSON"));
    let res = app
        .post_form(
            "/data/everything/new",
            "/data/everything",
            &[("f.arr", "{1,x}")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text().await.unwrap().contains("could not use a value"));
    // The bytea row lists without breaking, shown by size.
    let (_, list) = page(&app, "/data/everything").await;
    assert!(list.contains("2 bytes"));
}

async fn bulk_actions_confirm_then_apply_to_all_or_none(backend: Backend) {
    let app = signed_in(backend).await;
    app.sql(&people_sql(backend));
    app.demo(20);

    // Ticked rows: a confirmation that counts them, then the delete.
    let ask = app
        .post_form(
            "/data/people",
            "/data/people/bulk",
            &[("action", "delete"), ("key", "1"), ("key", "2")],
        )
        .await;
    assert_eq!(ask.status(), StatusCode::OK);
    assert!(
        ask.text()
            .await
            .unwrap()
            .contains("Delete 2 rows of people?")
    );
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM people").as_deref(),
        Some("30"),
        "asking changes nothing"
    );
    let done = app
        .post_form(
            "/data/people",
            "/data/people/bulk",
            &[
                ("action", "delete"),
                ("key", "1"),
                ("key", "2"),
                ("confirm", "1"),
            ],
        )
        .await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM people").as_deref(),
        Some("28")
    );
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM gh_audit WHERE action = 'record.deleted'")
            .as_deref(),
        Some("2")
    );

    // Every row matching a filter: set one column.
    let form = [
        ("action", "set"),
        ("all", "1"),
        ("query", "city__eq=Oslo"),
        ("column", "active"),
        ("value", "false"),
    ];
    let ask = app
        .post_form("/data/people", "/data/people/bulk", &form)
        .await;
    assert!(
        ask.text()
            .await
            .unwrap()
            .contains("Set a column on 10 rows of people")
    );
    let mut confirmed = form.to_vec();
    confirmed.push(("confirm", "1"));
    let done = app
        .post_form("/data/people", "/data/people/bulk", &confirmed)
        .await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&done), "/data/people?city__eq=Oslo");
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM people WHERE city = 'Oslo' AND active = TRUE")
            .as_deref(),
        Some("0")
    );
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM people WHERE city <> 'Oslo' AND active = FALSE")
            .as_deref(),
        Some("9"),
        "others untouched"
    );

    // A wrong value is refused before anything is written.
    let bad = [
        ("action", "set"),
        ("all", "1"),
        ("query", ""),
        ("column", "age"),
        ("value", "old"),
        ("confirm", "1"),
    ];
    let res = app
        .post_form("/data/people", "/data/people/bulk", &bad)
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text().await.unwrap().contains("whole number"));

    // All or nothing: one referenced customer among the selection stops the whole delete.
    let referenced = app
        .scalar("SELECT customer_id FROM orders ORDER BY id LIMIT 1")
        .unwrap();
    let unreferenced = app.scalar("SELECT id FROM customers WHERE id NOT IN (SELECT customer_id FROM orders) ORDER BY id LIMIT 1").unwrap();
    let before = app.scalar("SELECT COUNT(*) FROM customers").unwrap();
    let res = app
        .post_form(
            "/data/customers",
            "/data/customers/bulk",
            &[
                ("action", "delete"),
                ("key", &unreferenced),
                ("key", &referenced),
                ("confirm", "1"),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = res.text().await.unwrap();
    assert!(body.contains("Nothing was deleted"), "{body}");
    assert!(body.contains("orders"));
    assert_eq!(app.scalar("SELECT COUNT(*) FROM customers"), Some(before));

    // Export of the ticked rows.
    let res = app
        .post_form(
            "/data/people",
            "/data/people/bulk",
            &[("action", "export"), ("key", "3"), ("key", "4")],
        )
        .await;
    let csv = res.text().await.unwrap();
    assert!(csv.starts_with("id,name,email"));
    assert_eq!(csv.lines().count(), 3);

    // Nothing selected is a clear 400.
    let res = app
        .post_form("/data/people", "/data/people/bulk", &[("action", "delete")])
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
}

async fn sorting_decimals_and_timestamps_is_by_value_not_text(backend: Backend) {
    let app = signed_in(backend).await;
    app.sql(
        "CREATE TABLE amounts (id INTEGER PRIMARY KEY, amount NUMERIC(10, 2) NOT NULL, at TIMESTAMP NOT NULL);
         INSERT INTO amounts VALUES (1, 100, '2024-01-01 09:00:00'), (2, 9.5, '2024-01-01 10:00:00'), (3, 10.25, '2023-12-31 23:00:00');",
    );
    let (_, body) = page(&app, "/data/amounts?sort=amount").await;
    assert_eq!(ids(&body, "amounts"), vec!["2", "3", "1"]);
    let (_, body) = page(&app, "/data/amounts?sort=-at").await;
    assert_eq!(ids(&body, "amounts"), vec!["2", "1", "3"]);
    let (_, body) = page(&app, "/data/amounts?amount__gt=9.75").await;
    assert_eq!(ids(&body, "amounts"), vec!["1", "3"]);
}

/// Issue 9.2: SQLite stores NUMERIC(p,s) values as INTEGER or REAL; they are shown and
/// sent exactly as Postgres sends them, as strings with the declared scale.
async fn decimals_keep_their_declared_scale_as_strings_everywhere(backend: Backend) {
    let app = signed_in(backend).await;
    app.sql(
        "CREATE TABLE amounts (id INTEGER PRIMARY KEY, amount NUMERIC(10, 2) NOT NULL, rate DECIMAL(6, 3), plain NUMERIC);
         INSERT INTO amounts VALUES (1, 178.5, 0.1, 7), (2, 5, NULL, 2.5), (3, 0.1 + 0.2, 1.25, 1000), (4, 1000, 0, 0.5);",
    );
    // The list: the scale shown, the order by value (text order would put 1000.00 first).
    let (_, body) = page(&app, "/data/amounts?sort=amount").await;
    assert_eq!(ids(&body, "amounts"), vec!["3", "2", "1", "4"]);
    for shown in [
        ">178.50<",
        ">5.00<",
        ">0.30<",
        ">1000.00<",
        ">0.100<",
        ">1.250<",
        ">2.5<",
    ] {
        assert!(body.contains(shown), "{shown} in the list");
    }
    assert!(!body.contains("0.30000000000000004") && !body.contains(">178.5<"));
    let (_, record) = page(&app, "/data/amounts/1").await;
    assert!(
        record.contains("value=\"178.50\""),
        "the record form keeps the scale"
    );

    let csv = app
        .get("/data/amounts/export.csv?sort=id")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(
        csv,
        "id,amount,rate,plain\r\n1,178.50,0.100,7\r\n2,5.00,,2.5\r\n3,0.30,1.250,1000\r\n4,1000.00,0.000,0.5\r\n"
    );
    let rows: serde_json::Value = app
        .get("/data/amounts/export.json?sort=id")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(rows[0]["amount"], "178.50");
    assert_eq!(rows[1]["amount"], "5.00");
    assert_eq!(rows[2]["amount"], "0.30");
    assert_eq!(rows[0]["rate"], "0.100");
    assert_eq!(rows[1]["plain"], "2.5");
    assert_eq!(rows[0]["id"], 1);

    // The API, with a token made as an administrator makes one.
    let res = app
        .post_form(
            "/integrations/tokens",
            "/integrations/tokens",
            &[("name", "t"), ("role", "admin"), ("expires_days", "30")],
        )
        .await;
    let tokens_page = res.text().await.unwrap();
    let marker = "id=\"new-token\">";
    let start = tokens_page.find(marker).expect("the new token is shown") + marker.len();
    let token = &tokens_page[start..start + tokens_page[start..].find('<').unwrap()];
    let row: serde_json::Value = reqwest::Client::new()
        .get(app.url("/api/v1/tables/amounts/rows/1"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let row = row.get("row").unwrap_or(&row);
    assert_eq!(row["amount"], "178.50", "{row}");
    assert_eq!(row["rate"], "0.100");
    let list: serde_json::Value = reqwest::Client::new()
        .get(app.url("/api/v1/tables/amounts/rows?sort=-amount"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let amounts: Vec<&str> = list["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| r["amount"].as_str().expect("a string"))
        .collect();
    assert_eq!(amounts, vec!["1000.00", "178.50", "5.00", "0.30"]);

    // An edit is rounded to the scale as Postgres rounds it, and audited as strings.
    let res = app.edit("/data/amounts/2", &[("f.amount", "12.345")]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert!(
        page(&app, "/data/amounts/2")
            .await
            .1
            .contains("value=\"12.35\"")
    );
    let changes = app
        .scalar("SELECT changes FROM gh_audit WHERE action = 'record.updated' AND table_name = 'amounts'")
        .unwrap();
    let changes: serde_json::Value = serde_json::from_str(&changes).unwrap();
    assert_eq!(changes["before"]["amount"], "5.00");
    assert_eq!(changes["after"]["amount"], "12.35");
}

/// Issue 9.6: on SQLite a table without AUTOINCREMENT gives a deleted row's id to the next
/// row; on Postgres anyone may insert the old key again. The new row's history starts at
/// its creation; the old row's entries are set apart as a previous row's.
async fn a_reused_key_does_not_inherit_the_history_of_the_deleted_row(backend: Backend) {
    let app = signed_in(backend).await;
    app.sql("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL);");
    // SQLite picks the rowid itself; on Postgres the key is typed.
    let new_note = |body: &'static str| {
        let mut form = vec![("f.body", body)];
        if backend == Backend::Postgres {
            form.push(("f.id", "1"));
        }
        form
    };
    let res = app
        .post_form("/data/notes/new", "/data/notes", &new_note("first life"))
        .await;
    assert_eq!(location(&res), "/data/notes/1");
    let res = app
        .edit("/data/notes/1", &[("f.body", "first life, edited")])
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let res = app
        .post_form("/data/notes/1/delete", "/data/notes/1/delete", &[])
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let res = app
        .post_form("/data/notes/new", "/data/notes", &new_note("second life"))
        .await;
    assert_eq!(location(&res), "/data/notes/1", "the key is used again");

    let (_, record) = page(&app, "/data/notes/1").await;
    let history = &record[record.find("<h2>History</h2>").expect("a history")..];
    let (current, previous) = history
        .split_once("Earlier rows with this key")
        .expect("the earlier row's entries are set apart");
    assert_eq!(current.matches("record.created").count(), 1, "{current}");
    assert!(current.contains("second life"));
    assert!(
        !current.contains("first life")
            && !current.contains("record.deleted")
            && !current.contains("record.updated"),
        "{current}"
    );
    for entry in ["record.created", "record.updated", "record.deleted"] {
        assert!(
            previous.contains(&format!("<strong>{entry}</strong> (previous row)")),
            "{entry} marked as a previous row's: {previous}"
        );
    }
    assert!(previous.contains("first life, edited"));

    // A row whose key was never reused shows no such section.
    let res = app
        .post_form(
            "/data/notes/new",
            "/data/notes",
            &[("f.body", "only life"), ("f.id", "2")],
        )
        .await;
    assert_eq!(location(&res), "/data/notes/2");
    assert!(
        !page(&app, "/data/notes/2")
            .await
            .1
            .contains("Earlier rows with this key")
    );
}

async fn a_viewer_reads_but_cannot_change_anything(backend: Backend) {
    let app = signed_in(backend).await;
    app.sql(&people_sql(backend));
    {
        let mut conn = app.db_conn();
        let hash = gatehouse::identity::password::hash("viewer password 123").unwrap();
        let new = gatehouse::identity::users::NewUser {
            email: "viewer@example.com",
            display_name: "Vera Viewer",
            password_hash: &hash,
            role: "viewer",
        };
        gatehouse::identity::users::insert(&mut conn, new, gatehouse::db::now()).unwrap();
    }
    app.logout().await;
    assert_eq!(
        app.login("viewer@example.com", "viewer password 123")
            .await
            .status(),
        StatusCode::SEE_OTHER
    );

    let (status, list) = page(&app, "/data/people").await;
    assert_eq!(status, StatusCode::OK);
    assert!(list.contains("Person 01"));
    assert!(!list.contains("New row"), "no create button for a reader");
    assert!(!list.contains("Delete selected"));
    let (_, record) = page(&app, "/data/people/1").await;
    assert!(record.contains("Your role lets you read this table"));
    assert!(!record.contains("Save changes"));
    assert!(!record.contains("Delete…"));

    assert_eq!(
        page(&app, "/data/people/new").await.0,
        StatusCode::FORBIDDEN
    );
    let res = app
        .post_form("/data/people", "/data/people", &[("f.name", "Sneaky")])
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = app
        .post_form(
            "/data/people/1",
            "/data/people/1",
            &[("_version", "x"), ("f.name", "Sneaky")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = app
        .post_form("/data/people/1", "/data/people/1/delete", &[])
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = app
        .post_form(
            "/data/people",
            "/data/people/bulk",
            &[("action", "delete"), ("all", "1"), ("confirm", "1")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM people").as_deref(),
        Some("30")
    );
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM people WHERE name = 'Sneaky'")
            .as_deref(),
        Some("0")
    );
    // Reading out is allowed.
    assert_eq!(
        app.get("/data/people/export.csv").await.status(),
        StatusCode::OK
    );
    let res = app
        .post_form(
            "/data/people",
            "/data/people/bulk",
            &[("action", "export"), ("key", "1")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
}

// Edge cases found in review, one test each.

/// The people table, with a spreadsheet formula in the bio of row 1 and an empty bio in row 2.
async fn people_with_odd_bios(backend: Backend) -> TestApp {
    let app = signed_in(backend).await;
    app.sql(&people_sql(backend));
    app.sql("UPDATE people SET bio = '=HYPERLINK(\"http://evil.example\")' WHERE id = 1; UPDATE people SET bio = '' WHERE id = 2;");
    app
}

async fn filtering_for_the_empty_string_is_a_real_filter_not_a_redirect_loop(backend: Backend) {
    let app = people_with_odd_bios(backend).await;
    let res = app.get("/data/people?bio__eq=").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(ids(&res.text().await.unwrap(), "people"), vec!["2"]);
}

async fn spreadsheet_formulas_in_exported_text_are_neutralised(backend: Backend) {
    let app = people_with_odd_bios(backend).await;
    let csv = app
        .get("/data/people/export.csv?id__eq=1&cols=id%2Cbio")
        .await
        .text()
        .await
        .unwrap();
    assert!(csv.contains("'=HYPERLINK"), "{csv}");
}

async fn a_bulk_confirmation_for_a_selection_that_changed_meanwhile_changes_nothing(
    backend: Backend,
) {
    let app = people_with_odd_bios(backend).await;
    let form = [
        ("action", "delete"),
        ("all", "1"),
        ("query", "city__eq=Oslo"),
        ("expected", "3"),
        ("confirm", "1"),
    ];
    let res = app
        .post_form("/data/people", "/data/people/bulk", &form)
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("The selection changed since you confirmed it")
    );
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM people").as_deref(),
        Some("30")
    );
}

async fn keys_holding_slashes_commas_and_dots_survive_the_trip_through_the_url(backend: Backend) {
    let app = signed_in(backend).await;
    app.sql("CREATE TABLE codes (code TEXT PRIMARY KEY, label TEXT); INSERT INTO codes VALUES ('v1.2', 'dots'), ('a/b,c', 'odd');");
    let (_, list) = page(&app, "/data/codes").await;
    assert!(list.contains("href=\"/data/codes/a%2Fb%2Cc\""));
    assert_eq!(page(&app, "/data/codes/v1.2").await.0, StatusCode::OK);
    assert_eq!(page(&app, "/data/codes/a%2Fb%2Cc").await.0, StatusCode::OK);
}

both_backends!(
    following_next_and_previous_visits_every_row_once_in_order,
    keyset_pages_work_for_composite_keys_and_keyless_tables,
    a_bad_page_cursor_is_a_400_and_never_sql,
);

/// A row of `scores`: id, score, name.
type ScoreRow = (i64, Option<i64>, String);

/// 130 rows with duplicate and NULL scores, names marked even / odd.
fn scores_sql() -> String {
    let mut sql =
        "CREATE TABLE scores (id INTEGER PRIMARY KEY, score INTEGER, name TEXT NOT NULL);"
            .to_string();
    for (id, score, name) in scores_rows() {
        let score = score.map_or("NULL".to_string(), |s| s.to_string());
        sql.push_str(&format!(
            "INSERT INTO scores (id, score, name) VALUES ({id}, {score}, '{name}');"
        ));
    }
    sql
}

fn scores_rows() -> Vec<ScoreRow> {
    // Ids inserted out of order, so the key order is not the insertion order.
    (1..=130)
        .map(|i| (i * 37 % 131, i))
        .map(|(id, i)| {
            let score = (i % 5 != 0).then_some(i % 7);
            let parity = if id % 2 == 0 { "even" } else { "odd" };
            (id, score, format!("row {id:03} {parity}"))
        })
        .collect()
}

/// The href of the pager link `rel` ("next" or "prev"), unescaped.
fn pager_href(body: &str, rel: &str) -> Option<String> {
    let marker = format!("\" rel=\"{rel}\"");
    let end = body.find(&marker)?;
    let start = body[..end].rfind("href=\"")? + "href=\"".len();
    Some(body[start..end].replace("&#38;", "&").replace("&amp;", "&"))
}

/// Every page from `first` on by following "Next": the ids on each, and each page's URL.
async fn walk_next(app: &TestApp, first: &str, table: &str) -> Vec<(String, Vec<String>)> {
    let mut pages = Vec::new();
    let mut url = Some(first.to_string());
    while let Some(u) = url {
        let (status, body) = page(app, &u).await;
        assert_eq!(status, StatusCode::OK, "{u}");
        let shown = ids(&body, table);
        url = pager_href(&body, "next");
        if let Some(n) = &url {
            assert!(!shown.is_empty(), "a next link from an empty page: {u}");
            if app.backend() == Backend::Sqlite || table != "loose" {
                assert!(n.contains("after="), "next pages by cursor: {n}");
            }
        }
        pages.push((u, shown));
        assert!(pages.len() < 50, "paging does not end: {:?}", &pages[..3]);
    }
    pages
}

/// Walking back with "Previous" from the last page gives the same pages, mirrored.
async fn walk_back(app: &TestApp, pages: &[(String, Vec<String>)], table: &str) {
    let mut url = pages.last().map(|(u, _)| u.clone());
    for (i, (_, expected)) in pages.iter().enumerate().rev() {
        let u = url.take().expect("a previous link");
        let (status, body) = page(app, &u).await;
        assert_eq!(status, StatusCode::OK, "{u}");
        assert_eq!(
            &ids(&body, table),
            expected,
            "page {} walking back: {u}",
            i + 1
        );
        url = pager_href(&body, "prev");
        if i == 1 {
            let p = url.as_deref().unwrap_or_default();
            assert!(!p.contains("before="), "page 1 is its plain address: {p}");
        }
    }
    assert!(url.is_none(), "the first page has no previous link");
}

async fn following_next_and_previous_visits_every_row_once_in_order(backend: Backend) {
    let app = signed_in(backend).await;
    app.sql(&scores_sql());
    let rows = scores_rows();
    // NULL sorts as the largest value; ties fall back to the key in the same direction.
    let order = |desc: bool, keep: &dyn Fn(&ScoreRow) -> bool| {
        let mut r: Vec<_> = rows.iter().filter(|r| keep(r)).cloned().collect();
        r.sort_by_key(|(id, s, _)| (s.is_none(), *s, *id));
        if desc {
            r.reverse();
        }
        r.into_iter()
            .map(|(id, _, _)| id.to_string())
            .collect::<Vec<_>>()
    };
    let all = |_: &ScoreRow| true;
    let even_from_20 = |r: &ScoreRow| r.0 > 20 && r.2.ends_with("even");
    let mut by_key: Vec<String> = {
        let mut ids: Vec<i64> = rows.iter().map(|r| r.0).collect();
        ids.sort();
        ids.iter().map(i64::to_string).collect()
    };
    for (query, expected) in [
        ("sort=score&per_page=25", order(false, &all)),
        ("sort=-score&per_page=25", order(true, &all)),
        (
            "q=even&id__gt=20&sort=-score&per_page=25",
            order(true, &even_from_20),
        ),
        (
            "q=even&id__gt=20&sort=score&per_page=25",
            order(false, &even_from_20),
        ),
        ("per_page=25", std::mem::take(&mut by_key)),
        ("sort=-id&per_page=25", {
            let mut ids: Vec<i64> = rows.iter().map(|r| r.0).collect();
            ids.sort_by(|a, b| b.cmp(a));
            ids.iter().map(i64::to_string).collect()
        }),
    ] {
        let pages = walk_next(&app, &format!("/data/scores?{query}"), "scores").await;
        assert!(pages.len() >= 2, "{query}: more than one page");
        let seen: Vec<String> = pages.iter().flat_map(|(_, p)| p.clone()).collect();
        assert_eq!(seen, expected, "{query}: every row once, in order");
        // A direct page number reaches the same page by OFFSET.
        for (n, (_, shown)) in pages.iter().enumerate() {
            let (_, body) = page(&app, &format!("/data/scores?{query}&page={}", n + 1)).await;
            assert_eq!(&ids(&body, "scores"), shown, "{query} page {}", n + 1);
        }
        walk_back(&app, &pages, "scores").await;
    }
}

async fn keyset_pages_work_for_composite_keys_and_keyless_tables(backend: Backend) {
    let app = signed_in(backend).await;
    let mut sql = "CREATE TABLE pairs (a INTEGER NOT NULL, b TEXT NOT NULL, v INTEGER, \
        PRIMARY KEY (a, b)); CREATE TABLE loose (name TEXT, n INTEGER);"
        .to_string();
    for i in 0..80 {
        let v = if i % 9 == 0 {
            "NULL".to_string()
        } else {
            (i % 4).to_string()
        };
        sql.push_str(&format!(
            "INSERT INTO pairs VALUES ({}, 'k{:02}', {v}); INSERT INTO loose VALUES ('LZ{i:03}', {});",
            i % 3,
            i,
            i % 5
        ));
    }
    app.sql(&sql);
    for query in ["sort=-v&per_page=25", "sort=b&per_page=25", "per_page=25"] {
        let pages = walk_next(&app, &format!("/data/pairs?{query}"), "pairs").await;
        let seen: Vec<String> = pages.iter().flat_map(|(_, p)| p.clone()).collect();
        let mut unique = seen.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(
            (seen.len(), unique.len()),
            (80, 80),
            "{query}: each row once"
        );
        let mut by_offset = Vec::new();
        for n in 1..=4 {
            let (_, body) = page(&app, &format!("/data/pairs?{query}&page={n}")).await;
            by_offset.extend(ids(&body, "pairs"));
        }
        assert_eq!(seen, by_offset, "{query}: the same order as by page number");
        walk_back(&app, &pages, "pairs").await;
    }
    // Without a key to page by (a Postgres table without a primary key), pages go by
    // number; SQLite pages by rowid.
    let mut names = Vec::new();
    let mut url = Some("/data/loose?sort=n&per_page=25".to_string());
    while let Some(u) = url {
        let (status, body) = page(&app, &u).await;
        assert_eq!(status, StatusCode::OK);
        names.extend(
            body.match_indices("LZ")
                .map(|(i, _)| body[i..i + 5].to_string()),
        );
        url = pager_href(&body, "next");
        if let Some(n) = &url {
            let by_cursor = n.contains("after=");
            assert_eq!(by_cursor, backend == Backend::Sqlite, "{n}");
            assert_eq!(
                by_cursor,
                !n.contains("page=") || n.contains("after="),
                "{n}"
            );
        }
    }
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 80, "every keyless row once");
}

async fn a_bad_page_cursor_is_a_400_and_never_sql(backend: Backend) {
    use base64::Engine;
    let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    let app = signed_in(backend).await;
    app.sql(&scores_sql());
    let (_, body) = page(&app, "/data/scores?sort=name&per_page=25").await;
    let next = pager_href(&body, "next").expect("a next link");
    assert!(next.contains("after="));
    let hostile = b64(r#"{"o":"name","v":[["t","a'); DROP TABLE scores; --"],["i","5"]]}"#);
    let (status, body) = page(
        &app,
        &format!("/data/scores?sort=name&per_page=25&after={hostile}"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "a hostile value is only a value");
    assert!(body.contains("row 0"), "rows after the value are listed");
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM scores").as_deref(),
        Some("130")
    );
    for (cursor, why) in [
        ("not*base64".to_string(), "not base64url"),
        (b64("not json"), "not JSON"),
        (
            b64(r#"{"o":"-score","v":[["t","a"],["i","1"]]}"#),
            "another sort order",
        ),
        (
            b64(r#"{"o":"name","v":[["t","a"]]}"#),
            "wrong number of values",
        ),
        (
            b64(r#"{"o":"name","v":[["t","a"],["i","one"]]}"#),
            "unknown type",
        ),
        (
            b64(r#"{"o":"name","v":[["q","a"],["i","1"]]}"#),
            "unknown type",
        ),
        (b64(r#"{"o":"name"}"#), "no values"),
        ("A".repeat(5000), "too long"),
    ] {
        for param in ["after", "before"] {
            let (status, body) =
                page(&app, &format!("/data/scores?sort=name&{param}={cursor}")).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{param}={cursor}");
            assert!(body.contains(why), "{why}: {body}");
        }
    }
    let (status, body) = page(
        &app,
        &format!("/data/scores?sort=name&after={0}&before={0}", b64("x")),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("not both"));
}
