//! The notification core on its own: delivered at commit, never after a rollback.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::{Backend, TestDb};

/// `publish_in` travels with the writing transaction: delivered to every listener (this
/// instance's too) after commit, never after a rollback; on SQLite in-process at once.
async fn notifications_leave_at_commit_only(backend: Backend) {
    use gatehouse::db::notify::Notifier;
    let db = TestDb::create(backend);
    let url = gatehouse::db::DatabaseUrl::parse(db.url()).unwrap();
    let (sender, receiver) = (Notifier::new(), Notifier::new());
    let got: Arc<Mutex<Vec<String>>> = Arc::default();
    let g = got.clone();
    receiver.subscribe("gh_test", move |p| g.lock().unwrap().push(p.to_string()));
    sender.listen(&url);
    receiver.listen(&url);
    // Let the listener connect and LISTEN before anything is sent.
    actix_web::rt::time::sleep(Duration::from_millis(300)).await;
    let mut conn = url.connect().unwrap();
    let rolled_back = diesel::Connection::transaction(&mut conn, |c| {
        sender.publish_in(c, "gh_test", "rolled back")?;
        Err::<(), _>(diesel::result::Error::RollbackTransaction)
    });
    assert!(rolled_back.is_err());
    diesel::Connection::transaction(&mut conn, |c| sender.publish_in(c, "gh_test", "committed"))
        .unwrap();
    sender.publish("gh_test", "after commit");
    match backend {
        // In-process: each notifier reaches its own subscribers only, at once.
        Backend::Sqlite => {
            assert!(
                got.lock().unwrap().is_empty(),
                "no other instance on SQLite"
            );
            receiver.publish("gh_test", "here");
            assert_eq!(*got.lock().unwrap(), vec!["here".to_string()]);
        }
        Backend::Postgres => {
            let start = Instant::now();
            while got.lock().unwrap().len() < 2 && start.elapsed() < Duration::from_secs(2) {
                actix_web::rt::time::sleep(Duration::from_millis(10)).await;
            }
            actix_web::rt::time::sleep(Duration::from_millis(100)).await;
            assert_eq!(
                *got.lock().unwrap(),
                vec!["committed".to_string(), "after commit".to_string()]
            );
        }
    }
}

both_backends!(notifications_leave_at_commit_only);
