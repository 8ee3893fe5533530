//! Email on both backends, through a real SMTP conversation with a small server in this
//! test (not a mock transport): settings with the password encrypted, a test email, a
//! password reset by email, an invitation, and a mail server that is down.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mail_parser::{MessageParser, MimeHeaders};
use reqwest::StatusCode;

use crate::common::{ADMIN_EMAIL, Backend, Session, TestApp, location, new_client};

both_backends!(
    email_settings_and_a_test_email_go_through_smtp,
    a_forgotten_password_is_reset_by_an_emailed_link,
    an_invitation_lets_a_new_operator_choose_a_password,
);

#[derive(Debug, Clone)]
struct Mail {
    from: String,
    to: String,
    data: String,
}

/// A minimal SMTP server (RFC 5321 happy path) on a random port.
fn smtp_server() -> (u16, Arc<Mutex<Vec<Mail>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let mails: Arc<Mutex<Vec<Mail>>> = Arc::default();
    let store = mails.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let store = store.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let _ = stream.write_all(b"220 localhost ESMTP test\r\n");
                let (mut from, mut to) = (String::new(), String::new());
                let mut line = String::new();
                while reader.read_line(&mut line).unwrap_or(0) > 0 {
                    let cmd = line.trim_end().to_string();
                    line.clear();
                    let upper = cmd.to_uppercase();
                    let reply: &[u8] = if upper.starts_with("EHLO") || upper.starts_with("HELO") {
                        b"250-localhost\r\n250-AUTH PLAIN LOGIN\r\n250 OK\r\n"
                    } else if upper.starts_with("MAIL FROM") {
                        from = cmd.clone();
                        b"250 OK\r\n"
                    } else if upper.starts_with("RCPT TO") {
                        to = cmd.clone();
                        b"250 OK\r\n"
                    } else if upper == "DATA" {
                        let _ = stream.write_all(b"354 go ahead\r\n");
                        let mut data = String::new();
                        loop {
                            let mut l = String::new();
                            if reader.read_line(&mut l).unwrap_or(0) == 0 || l == ".\r\n" {
                                break;
                            }
                            // Undo SMTP dot-stuffing (RFC 5321 4.5.2).
                            if l.starts_with("..") {
                                l.remove(0);
                            }
                            data.push_str(&l);
                        }
                        store.lock().unwrap().push(Mail {
                            from: from.clone(),
                            to: to.clone(),
                            data,
                        });
                        b"250 OK queued\r\n"
                    } else if upper.starts_with("AUTH PLAIN") {
                        b"235 2.7.0 Authentication successful\r\n"
                    } else if upper == "QUIT" {
                        let _ = stream.write_all(b"221 bye\r\n");
                        break;
                    } else {
                        b"250 OK\r\n"
                    };
                    let _ = stream.write_all(reply);
                }
            });
        }
    });
    (port, mails)
}

async fn wait_mail(mails: &Arc<Mutex<Vec<Mail>>>, n: usize) -> Vec<Mail> {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(15) {
        let all = mails.lock().unwrap().clone();
        if all.len() >= n {
            return all;
        }
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("expected {n} mails, got {}", mails.lock().unwrap().len());
}

async fn configure(app: &TestApp, port: u16) {
    let res = app
        .post_form(
            "/integrations/email",
            "/integrations/email",
            &[
                ("host", "127.0.0.1"),
                ("port", &port.to_string()),
                ("tls", "none"),
                ("username", "mailer"),
                ("password", "smtp-secret-pw"),
                ("sender", "Gatehouse <gatehouse@example.com>"),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
}

/// The link in a mail, checked the strict way: the message parses as MIME with its
/// headers (MIME-Version, Date, a Message-ID in the sender's domain), holds a text part
/// and an HTML alternative, and the link is read from the RAW text part as sent, whole on
/// one line (no quoted-printable soft break inside it). Returns the link's path and query.
fn link_in(mail: &Mail) -> String {
    let raw = mail.data.as_str();
    let msg = MessageParser::default()
        .parse(raw.as_bytes())
        .expect("a MIME message");
    assert_eq!(
        msg.header_raw("MIME-Version").map(str::trim),
        Some("1.0"),
        "{raw}"
    );
    assert!(msg.date().is_some(), "a Date header");
    let id = msg.message_id().expect("a Message-ID");
    assert!(id.ends_with("@example.com"), "{id}");
    assert!(msg.is_content_type("multipart", "alternative"), "{raw}");
    assert_eq!(msg.text_body_count(), 1);
    assert_eq!(msg.html_body_count(), 1);
    assert!(!raw.to_ascii_lowercase().contains("quoted-printable"));

    let text_part = msg.text_bodies().next().expect("a text part");
    assert!(text_part.is_content_type("text", "plain"));
    assert_eq!(text_part.content_transfer_encoding(), Some("7bit"));
    let raw_text = &raw[text_part.offset_body as usize..text_part.offset_end as usize];
    let start = raw_text.find("http").expect("a link in the raw text part");
    let rest = &raw_text[start..];
    let url = &rest[..rest.find(char::is_whitespace).unwrap_or(rest.len())];
    assert!(url.contains("/reset?token="), "{url}");
    let decoded = msg.body_text(0).expect("the text");
    assert!(decoded.contains(url), "the parser reads the same link");
    let html = msg.body_html(0).expect("the HTML alternative");
    assert!(html.contains(&format!("<a href=\"{url}\">")), "{html}");
    url[url.find("/reset?token=").unwrap()..].to_string()
}

async fn set_password_via(app: &TestApp, link: &str, password: &str) -> reqwest::Response {
    let value = link.trim_start_matches("/reset?token=");
    Session::new(app)
        .post_form(
            link,
            "/reset",
            &[("token", value), ("new", password), ("confirm", password)],
        )
        .await
}

async fn email_settings_and_a_test_email_go_through_smtp(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    // Nothing configured: the test email says so.
    let res = app
        .post_form("/integrations/email", "/integrations/email/test", &[])
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);

    let (port, mails) = smtp_server();
    configure(&app, port).await;
    let stored = app
        .scalar("SELECT value FROM gh_settings WHERE key = 'smtp'")
        .unwrap();
    assert!(
        !stored.contains("smtp-secret-pw"),
        "the SMTP password is encrypted at rest"
    );
    let page = app.get("/integrations/email").await.text().await.unwrap();
    assert!(!page.contains("smtp-secret-pw") && page.contains("********"));

    let res = app
        .post_form("/integrations/email", "/integrations/email/test", &[])
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let got = wait_mail(&mails, 1).await;
    assert!(got[0].to.contains(ADMIN_EMAIL));
    assert!(got[0].from.contains("gatehouse@example.com"));
    assert!(got[0].data.contains("Subject: Gatehouse test email"));
    let start = Instant::now();
    while app.scalar("SELECT status FROM gh_mail_queue").as_deref() != Some("sent") {
        assert!(start.elapsed() < Duration::from_secs(10));
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }

    // A mail server that is down: the page does not wait, the queue records the error.
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    configure(&app, dead).await;
    let started = Instant::now();
    app.post_form("/integrations/email", "/integrations/email/test", &[])
        .await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "queued, not sent inline"
    );
    let start = Instant::now();
    while app.scalar("SELECT COUNT(*) FROM gh_mail_queue WHERE last_error IS NOT NULL AND status = 'pending'").as_deref() != Some("1") {
        assert!(start.elapsed() < Duration::from_secs(15), "the failure is recorded and retried later");
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn a_forgotten_password_is_reset_by_an_emailed_link(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let (port, mails) = smtp_server();
    configure(&app, port).await;
    app.logout().await;

    // The sign-in page offers it; unknown addresses get the same answer and no mail.
    assert!(
        app.get("/login")
            .await
            .text()
            .await
            .unwrap()
            .contains("href=\"/forgot\"")
    );
    let res = app
        .post_form("/forgot", "/forgot", &[("email", "nobody@example.com")])
        .await;
    let unknown = res.text().await.unwrap();
    let res = app
        .post_form("/forgot", "/forgot", &[("email", ADMIN_EMAIL)])
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let known = res.text().await.unwrap();
    assert!(
        known.contains("a link to set a new password is on its way")
            && unknown.contains("a link to set a new password is on its way")
    );
    let got = wait_mail(&mails, 1).await;
    actix_web::rt::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        mails.lock().unwrap().len(),
        1,
        "no mail for an unknown address"
    );
    assert!(got[0].to.contains(ADMIN_EMAIL));

    let link = link_in(&got[0]);
    let new_password = "quiet lanterns drift over granite";
    let res = set_password_via(&app, &link, new_password).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), "/login");
    assert_eq!(
        app.login(ADMIN_EMAIL, new_password).await.status(),
        StatusCode::SEE_OTHER
    );
    // Single use.
    assert_eq!(
        new_client()
            .get(app.url(&link))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::FORBIDDEN
    );
}

async fn an_invitation_lets_a_new_operator_choose_a_password(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let (port, mails) = smtp_server();
    configure(&app, port).await;
    let res = app
        .post_form(
            "/users/new",
            "/users",
            &[
                ("email", "newbie@example.com"),
                ("display_name", "Newbie"),
                ("role", "viewer"),
                ("invite", "1"),
                ("password", ""),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let got = wait_mail(&mails, 1).await;
    assert!(got[0].to.contains("newbie@example.com"));
    assert!(got[0].data.contains("invited you to Gatehouse"));
    let password = "wobbly giraffe paints violet harbours";
    let res = set_password_via(&app, &link_in(&got[0]), password).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let res = Session::new(&app)
        .sign_in("newbie@example.com", password)
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), "/");
}
