//! CSV import in a real Chromium (issue 10): choose a file on the import page, map a
//! column whose header differs from the table's, import, and see the rows in the list.

use fantoccini::Locator;

use crate::common::browser::{click, open, signed_in, text_of, wait_heading, wait_js};
use crate::common::{Backend, TestApp};

#[actix_web::test]
async fn an_operator_imports_a_csv_with_a_renamed_column_in_a_real_browser() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    app.setup_admin().await;
    app.sql("CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT);");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("people.csv");
    // "full_name" names no column: it is mapped onto name by hand.
    std::fs::write(
        &file,
        "full_name,email\nZoe Imported,zoe@example.com\n\"Yann, the second\",yann@example.com\n",
    )
    .unwrap();
    let (_driver, c) = signed_in(&app).await;

    open(&c, &app, "/data/people/import", "Data / people / import").await;
    // WebDriver puts a local path into a file input as the user's choice.
    c.find(Locator::Id("import-file"))
        .await
        .unwrap()
        .send_keys(file.to_str().unwrap())
        .await
        .unwrap();
    click(&c, Locator::Css("form.record-form button.primary")).await;
    wait_heading(&c, "Data / people / import people.csv").await;

    // email matched by name; name is skipped until the renamed column is chosen for it.
    let name = c
        .find(Locator::Css("select[name='map.name']"))
        .await
        .unwrap();
    assert_eq!(
        name.prop("value").await.unwrap().as_deref(),
        Some("skip"),
        "name has no header of its own"
    );
    name.select_by_label("file column: full_name")
        .await
        .unwrap();
    let email = c
        .find(Locator::Css("select[name='map.email']"))
        .await
        .unwrap();
    assert_eq!(email.prop("value").await.unwrap().as_deref(), Some("h1"));
    click(&c, Locator::Css("form.import-map button.primary")).await;

    // Back on the list, with the counts and the rows.
    wait_heading(&c, "Data / people").await;
    wait_js(
        &c,
        "document.body.textContent.includes('Imported 2 rows from people.csv: 2 inserted, 0 updated.')",
    )
    .await;
    let table = text_of(&c, Locator::Css("main table")).await;
    assert!(table.contains("Zoe Imported"), "{table}");
    assert!(table.contains("Yann, the second"), "{table}");
    assert!(table.contains("yann@example.com"), "{table}");
    assert_eq!(
        app.scalar("SELECT name FROM people WHERE email = 'zoe@example.com'")
            .as_deref(),
        Some("Zoe Imported")
    );
    c.close().await.unwrap();
}
