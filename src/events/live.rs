//! Live updates: the change notices of every instance (`db::changes`) fan out to the open
//! `/events` streams of this one. The hub keeps the notices of the last five minutes in a
//! bounded ring, in the order they arrived (commit order: Postgres delivers notifications
//! so, and SQLite commits one at a time), so a client that reconnects with `Last-Event-ID`
//! gets what it missed. The ids are audit entry ids, the same on every instance, so the
//! resume works on another instance too. Each stream has a bounded buffer: a client that
//! falls behind is dropped (`try_send`), so a slow reader never slows a writer.
//!
//! A writer (or the listener) only puts the notice in the ring and wakes the hub's task;
//! that task fans notices out in batches, in ring order, after asking the database, for
//! the streams that read a table through a row rule, which notices they may be told
//! (`events::sight`: one statement per table and batch, whatever the number of streams).

use std::collections::{HashMap, VecDeque};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use actix_web::rt::time::{Interval, Sleep, interval_at, sleep};
use actix_web::web::Bytes;
use futures_util::Stream;
use tokio::sync::mpsc::{self, error::TrySendError};

use tokio::sync::Notify;

use crate::db::changes::{CHANNEL, Notice};
use crate::db::notify::{EVERYTHING, Notifier};
use crate::events::sight::{Check, Pending, Plan, Verdicts, Viewer};
use crate::metrics;

/// How far back a reconnecting client is caught up.
pub const RESUME_WINDOW: Duration = Duration::from_secs(5 * 60);
/// The ring's bound in notices, whatever their age. Each costs about 500 bytes resident
/// (the entry, its id and the SSE frame): 20,000 held 10 MiB after a burst of writes on a
/// server otherwise using 25 (bench/RESULTS.md, branch `cpu`). A client further behind
/// gets the reset and rereads, as after five minutes.
const RING_MAX: usize = 4_000;
/// A comment line this often keeps proxies and idle connections open.
pub const HEARTBEAT: Duration = Duration::from_secs(15);
/// A stream ends after this long and the browser reconnects at once (with `Last-Event-ID`,
/// nothing lost): the session and the rights are then checked again.
pub const LIFETIME: Duration = Duration::from_secs(5 * 60);
/// What a stream starts with: the browser's reconnection delay.
const PREAMBLE: &[u8] = b"retry: 2000\n: live\n\n";
const PING: &[u8] = b": ping\n\n";

/// At most this many notices are fanned out (and checked) at once.
const BATCH: usize = 500;

pub struct Entry {
    /// Position in this hub's ring (1, 2, …): the fan-out task's progress.
    seq: u64,
    id: String,
    table: String,
    key: String,
    action: String,
    at: Instant,
    frame: Bytes,
}

impl Entry {
    fn pending(&self) -> Pending<'_> {
        Pending {
            seq: self.seq,
            table: &self.table,
            key: &self.key,
            action: &self.action,
            audit_id: &self.id,
        }
    }
}

struct Client {
    tx: mpsc::Sender<Bytes>,
    viewer: Arc<Viewer>,
    /// Notices up to this sequence number reached the stream as its catch-up, if at all.
    live_from: u64,
}

#[derive(Default)]
struct Inner {
    ring: VecDeque<Arc<Entry>>,
    clients: HashMap<u64, Client>,
    /// The last sequence number given to a notice, and the last one the task took.
    last_seq: u64,
    taken: u64,
}

/// The open streams of this instance and the recent notices.
pub struct Hub {
    inner: Mutex<Inner>,
    max_clients: usize,
    buffer: usize,
    next: AtomicU64,
    wake: Arc<Notify>,
    /// How notices under row rules are checked (set when the task starts).
    check: std::sync::OnceLock<Check>,
}

/// The instance already serves `--sse-max-clients` streams.
#[derive(Debug)]
pub struct Full;

/// One notice as an SSE event.
fn frame(notice: &Notice) -> Bytes {
    let data = serde_json::to_string(notice).unwrap_or_default();
    Bytes::from(format!(
        "id: {}\nevent: change\ndata: {data}\n\n",
        notice.id
    ))
}

/// "Notices may have been missed: read everything again", naming the newest notice held
/// (or none) so the next reconnection resumes from there.
fn reset(newest: Option<&str>) -> Bytes {
    Bytes::from(format!(
        "id: {}\nevent: reset\ndata: {{}}\n\n",
        newest.unwrap_or("")
    ))
}

impl Hub {
    pub fn new(max_clients: usize, buffer: usize) -> Hub {
        Hub {
            inner: Mutex::new(Inner::default()),
            max_clients,
            buffer: buffer.max(1),
            next: AtomicU64::new(1),
            wake: Arc::new(Notify::new()),
            check: std::sync::OnceLock::new(),
        }
    }

    /// The verdicts on `plan` (none allowed before the task started).
    async fn verdicts(&self, plan: Plan) -> Verdicts {
        match self.check.get() {
            Some(check) if !plan.is_empty() => check(plan).await,
            _ => Verdicts::default(),
        }
    }

    /// Start the task that fans notices out (on the running actix system); it ends with
    /// the hub.
    pub fn spawn(self: &Arc<Self>, check: Check) {
        let _ = self.check.set(check);
        let (hub, wake) = (Arc::downgrade(self), self.wake.clone());
        actix_web::rt::spawn(async move {
            loop {
                let _ = actix_web::rt::time::timeout(Duration::from_secs(1), wake.notified()).await;
                let Some(strong) = hub.upgrade() else {
                    return;
                };
                while strong.fan_out().await {}
            }
        });
    }

    /// Fan out one batch of the notices not taken yet; whether there was one.
    async fn fan_out(&self) -> bool {
        let (batch, plan) = {
            let Ok(mut inner) = self.inner.lock() else {
                return false;
            };
            let batch = take(&mut inner, self);
            if batch.is_empty() {
                return false;
            }
            let mut plan = Plan::default();
            for c in inner.clients.values() {
                for e in batch.iter().filter(|e| e.seq > c.live_from) {
                    plan.add(&e.pending(), &c.viewer.sight(&e.table));
                }
            }
            (batch, plan)
        };
        let verdicts = self.verdicts(plan).await;
        let Ok(mut inner) = self.inner.lock() else {
            return false;
        };
        for e in &batch {
            let ids: Vec<u64> = inner
                .clients
                .iter()
                .filter(|(_, c)| e.seq > c.live_from)
                .filter(|(_, c)| verdicts.allows(&e.pending(), &c.viewer.sight(&e.table)))
                .map(|(id, _)| *id)
                .collect();
            self.send_to(&mut inner, &ids, &e.frame);
        }
        true
    }

    /// Receive the change notices of every instance from `notifier`.
    pub fn listen(self: &Arc<Self>, notifier: &Notifier) {
        let hub = Arc::downgrade(self);
        notifier.subscribe(CHANNEL, move |payload| {
            if let Some(hub) = hub.upgrade() {
                hub.receive(payload);
            }
        });
    }

    /// How many streams are open.
    pub fn clients(&self) -> usize {
        self.inner.lock().map(|i| i.clients.len()).unwrap_or(0)
    }

    fn receive(&self, payload: &str) {
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        if payload == EVERYTHING {
            // The listening connection was lost: notices may be missing, so no resume
            // across this point, and every open page reads again.
            inner.ring.clear();
            inner.taken = inner.last_seq;
            let frame = reset(None);
            let ids: Vec<u64> = inner.clients.keys().copied().collect();
            self.send_to(&mut inner, &ids, &frame);
            return;
        }
        let Ok(notice) = serde_json::from_str::<Notice>(payload) else {
            tracing::warn!("unreadable change notice ignored");
            return;
        };
        inner.last_seq += 1;
        let entry = Arc::new(Entry {
            seq: inner.last_seq,
            frame: frame(&notice),
            id: notice.id,
            table: notice.table,
            key: notice.key,
            action: notice.action,
            at: Instant::now(),
        });
        prune(&mut inner.ring);
        inner.ring.push_back(entry);
        drop(inner);
        // The writer's part ends here: the hub's task fans it out.
        self.wake.notify_one();
    }

    /// Offer `frame` to the clients `ids`, dropping those whose buffer is full or gone.
    fn send_to(&self, inner: &mut Inner, ids: &[u64], frame: &Bytes) {
        for id in ids {
            let outcome = match inner.clients.get(id) {
                Some(c) => c.tx.try_send(frame.clone()),
                None => continue,
            };
            match outcome {
                Ok(()) => {}
                Err(TrySendError::Full(_)) => {
                    tracing::info!(client = id, "live stream dropped: the client fell behind");
                    metrics::global().sse_dropped.inc();
                    remove(inner, *id);
                }
                Err(TrySendError::Closed(_)) => remove(inner, *id),
            }
        }
    }

    /// Open a stream for an operator who sees what `viewer` allows, caught up from
    /// `last_event_id` when given: the notices it missed are checked like live ones
    /// before the stream starts.
    pub async fn subscribe(
        self: &Arc<Self>,
        last_event_id: Option<&str>,
        viewer: Viewer,
    ) -> Result<Subscription, Full> {
        let viewer = Arc::new(viewer);
        let (mut sub, missed) = self.open(last_event_id, viewer.clone())?;
        let mut plan = Plan::default();
        for e in &missed {
            plan.add(&e.pending(), &viewer.sight(&e.table));
        }
        let verdicts = self.verdicts(plan).await;
        sub.backlog.extend(
            missed
                .iter()
                .filter(|e| verdicts.allows(&e.pending(), &viewer.sight(&e.table)))
                .map(|e| e.frame.clone()),
        );
        if let Some(reset) = sub.reset.take() {
            sub.backlog.push_back(reset);
        }
        Ok(sub)
    }

    /// Register the stream and say which held notices it missed: those after
    /// `last_event_id` that the task has taken (the later ones reach it live).
    fn open(
        self: &Arc<Self>,
        last_event_id: Option<&str>,
        viewer: Arc<Viewer>,
    ) -> Result<(Subscription, Vec<Arc<Entry>>), Full> {
        let mut inner = self.inner.lock().map_err(|_| Full)?;
        if inner.clients.len() >= self.max_clients {
            return Err(Full);
        }
        prune(&mut inner.ring);
        let taken = inner.taken;
        let mut missed = Vec::new();
        let mut reset_frame = None;
        if let Some(last) = last_event_id.filter(|l| !l.is_empty()) {
            match inner.ring.iter().position(|e| e.id == last) {
                Some(at) => missed.extend(
                    inner
                        .ring
                        .iter()
                        .skip(at + 1)
                        .filter(|e| e.seq <= taken)
                        .cloned(),
                ),
                None => {
                    let newest = inner.ring.iter().rev().find(|e| e.seq <= taken);
                    reset_frame = Some(reset(newest.map(|e| e.id.as_str())));
                }
            }
        }
        let (tx, rx) = mpsc::channel(self.buffer);
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        inner.clients.insert(
            id,
            Client {
                tx,
                viewer,
                live_from: taken,
            },
        );
        metrics::global().sse_clients.inc();
        let start = actix_web::rt::time::Instant::now();
        let sub = Subscription {
            hub: self.clone(),
            id,
            backlog: VecDeque::from([Bytes::from_static(PREAMBLE)]),
            reset: reset_frame,
            rx,
            heartbeat: interval_at(start + HEARTBEAT, HEARTBEAT),
            ends: Box::pin(sleep(LIFETIME)),
        };
        Ok((sub, missed))
    }

    fn unsubscribe(&self, id: u64) {
        if let Ok(mut inner) = self.inner.lock() {
            remove(&mut inner, id);
        }
    }
}

fn remove(inner: &mut Inner, id: u64) {
    if inner.clients.remove(&id).is_some() {
        metrics::global().sse_clients.dec();
    }
}

/// The next batch of notices the task has not taken. When the ring dropped some before
/// the task took them (it fell a whole ring behind), every stream is told to read again.
fn take(inner: &mut Inner, hub: &Hub) -> Vec<Arc<Entry>> {
    let taken = inner.taken;
    if inner.ring.front().is_some_and(|e| e.seq > taken + 1) {
        let frame = reset(None);
        let ids: Vec<u64> = inner.clients.keys().copied().collect();
        hub.send_to(inner, &ids, &frame);
    }
    // The ring's numbers are consecutive: the first one not taken is found by subtraction.
    let skip = inner
        .ring
        .front()
        .map_or(0, |e| (taken + 1).saturating_sub(e.seq) as usize);
    let batch: Vec<Arc<Entry>> = inner.ring.iter().skip(skip).take(BATCH).cloned().collect();
    inner.taken = batch.last().map_or(inner.last_seq, |e| e.seq);
    batch
}

fn prune(ring: &mut VecDeque<Arc<Entry>>) {
    while ring
        .front()
        .is_some_and(|e| e.at.elapsed() > RESUME_WINDOW || ring.len() >= RING_MAX)
    {
        ring.pop_front();
    }
}

/// One open stream: what it missed first, then notices as they come, a heartbeat comment
/// every 15 s, until the hub drops it, the client goes, or its lifetime ends.
pub struct Subscription {
    hub: Arc<Hub>,
    id: u64,
    backlog: VecDeque<Bytes>,
    /// "Read everything again", sent after the catch-up when the resume point is gone.
    reset: Option<Bytes>,
    rx: mpsc::Receiver<Bytes>,
    heartbeat: Interval,
    ends: Pin<Box<Sleep>>,
}

impl Stream for Subscription {
    type Item = Result<Bytes, std::convert::Infallible>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if let Some(first) = this.backlog.pop_front() {
            return Poll::Ready(Some(Ok(first)));
        }
        match this.rx.poll_recv(cx) {
            Poll::Ready(Some(frame)) => return Poll::Ready(Some(Ok(frame))),
            Poll::Ready(None) => return Poll::Ready(None),
            Poll::Pending => {}
        }
        if this.ends.as_mut().poll(cx).is_ready() {
            return Poll::Ready(None);
        }
        match this.heartbeat.poll_tick(cx) {
            Poll::Ready(_) => Poll::Ready(Some(Ok(Bytes::from_static(PING)))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.hub.unsubscribe(self.id);
    }
}
