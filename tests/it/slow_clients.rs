//! Slow and idle clients (README, "When things go wrong"): a thousand idle keep-alive
//! connections and a hundred slowloris clients do not stop the server answering others,
//! and a client that trickles its request head is cut off after the header timeout.
//!
//! Against the in-process `TestApp`: it starts exactly what production starts (`start`, the
//! same `HttpServer` with its workers and timeouts on their own threads), with the flags
//! parsed as the binary parses them, and it signs in an operator cheaply. The clients are
//! plain std sockets on blocking threads, so they never share a thread with the server.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use reqwest::StatusCode;

use crate::common::{ADMIN_NAME, Backend, TestApp, new_client};

const IDLE: usize = 1000;
const SLOW: usize = 100;
const HEADER_TIMEOUT: Duration = Duration::from_secs(3);
/// A liveness bound, not a benchmark.
const ANSWER_WITHIN: Duration = Duration::from_secs(2);
/// How late after the header timeout a slowloris connection may still be open.
const CLOSE_MARGIN: Duration = Duration::from_secs(3);

/// Read one response with a Content-Length body; returns its head.
fn read_response(stream: &mut TcpStream) -> String {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = stream.read(&mut chunk).expect("read a response");
        assert!(n > 0, "the server closed before answering");
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_string();
            let length: usize = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse().ok())?
                })
                .expect("a Content-Length");
            while buf.len() < end + 4 + length {
                let n = stream.read(&mut chunk).expect("read the body");
                assert!(n > 0, "the server closed inside the body");
                buf.extend_from_slice(&chunk[..n]);
            }
            return head;
        }
    }
}

fn keep_alive_request(stream: &mut TcpStream) -> String {
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: gatehouse\r\n\r\n")
        .expect("send a request");
    read_response(stream)
}

/// Open `IDLE` connections, each answered once and then left idle.
fn open_idle(addr: SocketAddr) -> Vec<TcpStream> {
    (0..IDLE)
        .map(|i| {
            let mut s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {i}: {e}"));
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let head = keep_alive_request(&mut s);
            assert!(head.starts_with("HTTP/1.1 200"), "idle #{i}: {head}");
            s
        })
        .collect()
}

/// What became of one slowloris connection: when it closed (from its connect) and what
/// the server sent before closing.
struct Slow {
    closed_after: Option<Duration>,
    closed_at: Option<Instant>,
    received: Vec<u8>,
}

/// Open `SLOW` connections and trickle a request head into them a byte per 100 ms, never
/// finishing it, until the server closes each (or timeout + margin passes). `ready` is sent
/// once all are connected.
fn slowloris(addr: SocketAddr, ready: tokio::sync::oneshot::Sender<()>) -> Vec<Slow> {
    let head: Vec<u8> = b"GET /healthz HTTP/1.1\r\nHost: gatehouse\r\nX-Slow: "
        .iter()
        .copied()
        .chain(std::iter::repeat(b'a'))
        .take(10_000)
        .collect();
    let mut conns: Vec<(TcpStream, Instant, Slow)> = (0..SLOW)
        .map(|i| {
            let s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("slow connect {i}: {e}"));
            s.set_nonblocking(true).unwrap();
            let slow = Slow {
                closed_after: None,
                closed_at: None,
                received: Vec::new(),
            };
            (s, Instant::now(), slow)
        })
        .collect();
    let _ = ready.send(());
    let deadline = Instant::now() + HEADER_TIMEOUT + CLOSE_MARGIN;
    let mut byte = 0;
    while Instant::now() < deadline && conns.iter().any(|(_, _, c)| c.closed_at.is_none()) {
        for (stream, opened, slow) in conns.iter_mut().filter(|(_, _, c)| c.closed_at.is_none()) {
            let mut closed = stream.write(&head[byte..=byte]).is_err();
            let mut chunk = [0u8; 1024];
            loop {
                match stream.read(&mut chunk) {
                    Ok(0) => closed = true,
                    Ok(n) => {
                        slow.received.extend_from_slice(&chunk[..n]);
                        continue;
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                    Err(_) => closed = true,
                }
                break;
            }
            if closed {
                slow.closed_at = Some(Instant::now());
                slow.closed_after = Some(opened.elapsed());
            }
        }
        byte += 1;
        std::thread::sleep(Duration::from_millis(100));
    }
    conns.into_iter().map(|(_, _, slow)| slow).collect()
}

#[actix_web::test]
async fn idle_and_slowloris_clients_do_not_stop_the_server_answering_others() {
    let started = Instant::now();
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        &[
            "--request-header-timeout",
            "3s",
            "--keep-alive-timeout",
            "60s",
        ],
    )
    .await;
    app.setup_admin().await;
    let addr: SocketAddr = app.base.trim_start_matches("http://").parse().unwrap();

    let idle = actix_web::web::block(move || open_idle(addr))
        .await
        .expect("idle clients");
    assert_eq!(idle.len(), IDLE);

    let (ready, connected) = tokio::sync::oneshot::channel();
    let slow = actix_web::rt::task::spawn_blocking(move || slowloris(addr, ready));
    connected.await.expect("slowloris clients connected");

    // Meanwhile: a new client's /healthz and the signed-in operator's dashboard.
    let fresh = new_client();
    for round in 0..3 {
        let t = Instant::now();
        let res = fresh
            .get(app.url("/healthz"))
            .timeout(ANSWER_WITHIN)
            .send()
            .await
            .unwrap_or_else(|e| panic!("round {round}: /healthz did not answer: {e}"));
        assert_eq!(res.status(), StatusCode::OK);
        assert!(
            t.elapsed() < ANSWER_WITHIN,
            "/healthz took {:?}",
            t.elapsed()
        );

        let t = Instant::now();
        let res = app
            .client
            .get(app.url("/"))
            .timeout(ANSWER_WITHIN)
            .send()
            .await
            .unwrap_or_else(|e| panic!("round {round}: / did not answer: {e}"));
        assert_eq!(
            res.status(),
            StatusCode::OK,
            "the operator is still signed in"
        );
        let body = res.text().await.unwrap();
        assert!(t.elapsed() < ANSWER_WITHIN, "/ took {:?}", t.elapsed());
        assert!(body.contains(ADMIN_NAME), "the signed-in page");
    }
    let answered = Instant::now();

    let slow = slow.await.expect("slowloris thread");
    for (i, s) in slow.iter().enumerate() {
        let after = s.closed_after.unwrap_or_else(|| {
            panic!(
                "slowloris #{i} still open {HEADER_TIMEOUT:?} + {CLOSE_MARGIN:?} after connecting"
            )
        });
        assert!(
            after <= HEADER_TIMEOUT + CLOSE_MARGIN,
            "slowloris #{i} closed after {after:?}"
        );
        assert!(
            s.closed_at.unwrap() > answered,
            "slowloris #{i} was closed ({after:?}) before the other clients had been answered"
        );
        let got = String::from_utf8_lossy(&s.received);
        assert!(
            got.is_empty() || got.starts_with("HTTP/1.1 408"),
            "slowloris #{i} got {got:?}"
        );
    }

    // The idle connections were kept all along, and still serve a request.
    let idle = actix_web::web::block(move || {
        for (i, s) in idle.iter().enumerate() {
            s.set_nonblocking(true).unwrap();
            let mut b = [0u8; 1];
            match (&*s).read(&mut b) {
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                other => panic!("idle #{i} is no longer open: {other:?}"),
            }
            s.set_nonblocking(false).unwrap();
        }
        let mut first = idle.into_iter().next().unwrap();
        keep_alive_request(&mut first)
    })
    .await
    .expect("idle check");
    assert!(idle.starts_with("HTTP/1.1 200"), "{idle}");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
}
