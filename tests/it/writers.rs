//! Many writers at once: every concurrent record edit is saved and audited, none is refused
//! as busy (on SQLite they queue for the single writer in arrival order, `db::gate`).

use reqwest::StatusCode;

use crate::common::{Backend, TestApp};

both_backends!(concurrent_edits_of_distinct_rows_are_all_saved_and_audited);

async fn concurrent_edits_of_distinct_rows_are_all_saved_and_audited(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    app.demo(40);
    let ids: Vec<String> = (1..=24).map(|i| i.to_string()).collect();
    let notes: Vec<String> = ids.iter().map(|i| format!("queued note {i}")).collect();
    let app = &app;
    let edits = ids.iter().zip(&notes).map(|(id, note)| async move {
        let path = format!("/data/orders/{id}");
        app.edit(&path, &[("f.notes", note.as_str())]).await
    });
    let responses = futures_util::future::join_all(edits).await;
    for (id, res) in ids.iter().zip(&responses) {
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "order {id}");
    }
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM orders WHERE notes LIKE 'queued note %'")
            .as_deref(),
        Some("24"),
        "every edit was saved"
    );
    assert_eq!(
        app.scalar(
            "SELECT COUNT(*) FROM gh_audit WHERE table_name = 'orders' AND action = 'record.updated'"
        )
        .as_deref(),
        Some("24"),
        "every edit was audited"
    );
    assert_eq!(
        app.scalar("SELECT notes FROM orders WHERE id = 17")
            .as_deref(),
        Some("queued note 17")
    );
}
