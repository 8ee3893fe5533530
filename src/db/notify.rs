//! Notifications between the instances that share one database: a change made on one
//! instance tells the others at once (cache invalidation today, live updates later).
//!
//! `Notifier::publish(channel, payload)` reaches every subscriber of `channel` on every
//! instance, this one included. On Postgres it is `pg_notify`, and each instance keeps one
//! dedicated connection that `LISTEN`s to the subscribed channels and dispatches what
//! arrives; `publish_in` sends it inside the writing transaction (delivered at commit,
//! never on rollback). After the listening connection was lost and is back, every
//! subscriber gets `EVERYTHING`, since notifications may have been missed meanwhile. On
//! SQLite (one instance) delivery is in-process and immediate.

use std::collections::HashSet;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, OnceLock, RwLock, Weak};
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::Text;

use crate::db::{DatabaseUrl, DbConn};

/// The payload that means "drop everything you hold": sent to every subscriber after the
/// listening connection came back, since notifications may have been missed.
pub const EVERYTHING: &str = "*";

/// How long the listener waits between looks at its connection for notifications, which
/// bounds the delay between a commit on one instance and its effect on another.
const POLL: Duration = Duration::from_millis(20);
/// How often an idle listening connection is checked (a lost one is reconnected).
const CHECK_EVERY: Duration = Duration::from_secs(5);
/// Wait between attempts to reopen the listening connection.
const RETRY_EVERY: Duration = Duration::from_secs(1);

type Handler = Box<dyn Fn(&str) + Send + Sync>;

/// The subscriptions of this instance and the way out to the others.
pub struct Notifier {
    handlers: RwLock<Vec<(String, Handler)>>,
    /// To the listener thread, which sends on its own connection (Postgres only).
    outgoing: Mutex<Option<Sender<(String, String)>>>,
}

/// A channel name: lower-case letters, digits and `_`, so it needs no escaping anywhere.
fn valid_channel(channel: &str) -> bool {
    !channel.is_empty()
        && channel.len() <= 63
        && channel
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

impl Notifier {
    /// A notifier that delivers in-process only, until `listen` starts the listener.
    pub fn new() -> Arc<Notifier> {
        Arc::new(Notifier {
            handlers: RwLock::new(Vec::new()),
            outgoing: Mutex::new(None),
        })
    }

    /// Call `handler` with the payload of every notification on `channel`.
    pub fn subscribe(&self, channel: &str, handler: impl Fn(&str) + Send + Sync + 'static) {
        assert!(valid_channel(channel), "invalid channel name {channel}");
        if let Ok(mut h) = self.handlers.write() {
            h.push((channel.to_string(), Box::new(handler)));
        }
    }

    /// Tell every instance, after the change is committed: never blocks (on Postgres the
    /// listener thread sends it; in-process it is delivered here at once).
    pub fn publish(&self, channel: &str, payload: &str) {
        debug_assert!(valid_channel(channel));
        let sent = self.outgoing.lock().ok().and_then(|out| {
            out.as_ref()
                .map(|tx| tx.send((channel.to_string(), payload.to_string())).is_ok())
        });
        if sent != Some(true) {
            self.dispatch(channel, payload);
        }
    }

    /// Tell every instance as part of the transaction running on `conn`: on Postgres the
    /// notification leaves at commit and never on rollback; in-process (SQLite, one
    /// instance) it is delivered at once.
    pub fn publish_in(&self, conn: &mut DbConn, channel: &str, payload: &str) -> QueryResult<()> {
        debug_assert!(valid_channel(channel));
        match conn {
            DbConn::Postgres(c) if self.listening() => {
                send(c, channel, payload)?;
            }
            _ => self.dispatch(channel, payload),
        }
        Ok(())
    }

    fn listening(&self) -> bool {
        self.outgoing.lock().map(|o| o.is_some()).unwrap_or(false)
    }

    fn dispatch(&self, channel: &str, payload: &str) {
        if let Ok(handlers) = self.handlers.read() {
            for (c, handler) in handlers.iter() {
                if c == channel {
                    handler(payload);
                }
            }
        }
    }

    fn dispatch_everything(&self) {
        if let Ok(handlers) = self.handlers.read() {
            for (_, handler) in handlers.iter() {
                handler(EVERYTHING);
            }
        }
    }

    fn channels(&self) -> HashSet<String> {
        self.handlers
            .read()
            .map(|h| h.iter().map(|(c, _)| c.clone()).collect())
            .unwrap_or_default()
    }

    /// On Postgres, start the listener thread with its own connection; on SQLite nothing
    /// (delivery stays in-process). The thread ends when the notifier is dropped.
    pub fn listen(self: &Arc<Self>, url: &DatabaseUrl) {
        if !matches!(url, DatabaseUrl::Postgres(_)) {
            return;
        }
        let (tx, rx) = mpsc::channel();
        if let Ok(mut out) = self.outgoing.lock() {
            *out = Some(tx);
        }
        let (me, url) = (Arc::downgrade(self), url.clone());
        let spawned = std::thread::Builder::new()
            .name("gh-notify".into())
            .spawn(move || Listener::new(url, me, rx).run());
        if let Err(error) = spawned {
            tracing::warn!(%error, "cannot start the notification listener; caches expire by time only");
            if let Ok(mut out) = self.outgoing.lock() {
                *out = None;
            }
        }
    }
}

fn send(conn: &mut PgConnection, channel: &str, payload: &str) -> QueryResult<()> {
    diesel::sql_query("SELECT pg_notify($1, $2)::text")
        .bind::<Text, _>(channel)
        .bind::<Text, _>(payload)
        .execute(conn)
        .map(|_| ())
}

/// The listener thread's state: its connection (when open) and the channels it listens to.
struct Listener {
    url: DatabaseUrl,
    me: Weak<Notifier>,
    rx: Receiver<(String, String)>,
    conn: Option<PgConnection>,
    listening: HashSet<String>,
    checked: Instant,
    /// Whether a connection was open before: a reconnection drops every cache.
    was_connected: bool,
    warned: bool,
}

impl Listener {
    fn new(url: DatabaseUrl, me: Weak<Notifier>, rx: Receiver<(String, String)>) -> Listener {
        Listener {
            url,
            me,
            rx,
            conn: None,
            listening: HashSet::new(),
            checked: Instant::now(),
            was_connected: false,
            warned: false,
        }
    }

    fn run(mut self) {
        loop {
            let Some(notifier) = self.me.upgrade() else {
                return;
            };
            if self.conn.is_none() && !self.reconnect(&notifier) {
                drop(notifier);
                // Whatever is published meanwhile is lost (caches expire by time): drain.
                match self.rx.recv_timeout(RETRY_EVERY) {
                    Err(RecvTimeoutError::Disconnected) => return,
                    _ => while self.rx.try_recv().is_ok() {},
                }
                continue;
            }
            if let Err(error) = self.listen_to_new(&notifier) {
                self.lost(&error);
                continue;
            }
            drop(notifier);
            let outgoing = match self.rx.recv_timeout(POLL) {
                Ok(message) => Some(message),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => return,
            };
            if let Err(error) = self.exchange(outgoing) {
                self.lost(&error);
            }
        }
    }

    fn reconnect(&mut self, notifier: &Notifier) -> bool {
        match self.url.connect() {
            Ok(DbConn::Postgres(c)) => {
                self.conn = Some(c);
                self.listening.clear();
                if self.was_connected || self.warned {
                    tracing::info!("notification listener connected again; caches dropped");
                    notifier.dispatch_everything();
                }
                self.was_connected = true;
                self.warned = false;
                true
            }
            Ok(DbConn::Sqlite(_)) => false,
            Err(error) => {
                // The pool warns about an unreachable database; this only says what it costs.
                if !self.warned {
                    tracing::info!(%error, "notification listener cannot connect; retrying every second (caches expire by time meanwhile)");
                    self.warned = true;
                }
                false
            }
        }
    }

    fn lost(&mut self, error: &diesel::result::Error) {
        // Like a pooled connection the server closed: replaced, nothing failed yet.
        tracing::info!(%error, "notification listener lost its connection; reconnecting");
        self.conn = None;
        self.warned = true;
    }

    /// `LISTEN` to channels subscribed since the last look.
    fn listen_to_new(&mut self, notifier: &Notifier) -> QueryResult<()> {
        let Some(conn) = self.conn.as_mut() else {
            return Ok(());
        };
        for channel in notifier.channels() {
            if !self.listening.contains(&channel) {
                // The name is checked by `valid_channel`: only [a-z0-9_].
                conn.batch_execute(&format!("LISTEN \"{channel}\""))?;
                self.listening.insert(channel);
            }
        }
        Ok(())
    }

    /// Send what is queued, then deliver what arrived.
    fn exchange(&mut self, first: Option<(String, String)>) -> QueryResult<()> {
        let Some(conn) = self.conn.as_mut() else {
            return Ok(());
        };
        if let Some((channel, payload)) = first {
            send(conn, &channel, &payload)?;
            while let Ok((channel, payload)) = self.rx.try_recv() {
                send(conn, &channel, &payload)?;
            }
        }
        let mut arrived = Vec::new();
        for n in conn.notifications_iter() {
            arrived.push(n?);
        }
        if self.checked.elapsed() > CHECK_EVERY {
            conn.batch_execute("SELECT 1")?;
            self.checked = Instant::now();
        }
        if let Some(notifier) = self.me.upgrade() {
            for n in arrived {
                notifier.dispatch(&n.channel, &n.payload);
            }
        }
        Ok(())
    }
}

/// A cache's line to the same cache on the other instances: `tell` publishes on the
/// cache's channel once `join` connected it (before that, and in unit use, it does nothing).
#[derive(Default)]
pub struct Peers(OnceLock<(Arc<Notifier>, &'static str)>);

impl Peers {
    pub fn join(&self, notifier: &Arc<Notifier>, channel: &'static str) {
        let _ = self.0.set((notifier.clone(), channel));
    }

    pub fn tell(&self, payload: &str) {
        if let Some((notifier, channel)) = self.0.get() {
            notifier.publish(channel, payload);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_names_are_plain() {
        assert!(valid_channel("gh_sessions"));
        assert!(!valid_channel("gh\"; DROP"));
        assert!(!valid_channel(""));
        assert!(!valid_channel("Upper"));
    }

    #[test]
    fn in_process_delivery_reaches_the_channel_only() {
        let n = Notifier::new();
        let got = Arc::new(Mutex::new(Vec::new()));
        let g = got.clone();
        n.subscribe("a", move |p| g.lock().unwrap().push(p.to_string()));
        n.publish("a", "one");
        n.publish("b", "two");
        assert_eq!(*got.lock().unwrap(), vec!["one".to_string()]);
    }
}
