//! Open connections: what each one is doing, a limit on how many, shedding
//! the ones a client loses nothing by, and the write timeout.
//!
//! Every connection has a [`Slot`] whose [`Phase`] says whether it is fresh
//! (accepted, not a byte received yet), busy (a request is being read or
//! answered), idle (its last response written, no byte of the next request
//! yet), parked (idle for a sweeper tick) or closing. At the connection
//! limit, or when accept runs out of descriptors, the oldest fresh, idle and
//! parked connections are closed to make room, the way nginx reuses
//! keep-alive connections: no request is lost, a real client just reconnects,
//! and a flood of connections that send nothing cannot lock honest clients out.
//!
//! Fresh connections wait outside hyper (see `server::serve`), and so do idle
//! ones once the sweeper finds them idle for a tick: they hold none of its
//! buffers. At shutdown the busy ones are asked to finish their request and
//! close; the waiting ones get a last call: a request they send within it is
//! their last (answered with `Connection: close`), and those still waiting
//! when it ends are closed.

use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{
    AtomicBool, AtomicU8, AtomicU64, AtomicUsize,
    Ordering::{Relaxed, SeqCst},
    fence,
};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use hyper::body::Bytes;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio::time::{Instant, Sleep};

use crate::config::Config;
use crate::log;
use crate::metrics::Shed;
use crate::state::State;

/// What a connection is doing. Any thread may move it from one state to
/// another; only its own task moves it out of [`Closing`](Phase::Closing)
/// (by dropping it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Phase {
    /// Accepted; not a byte received yet.
    Fresh,
    /// Reading a request or writing a response.
    Busy,
    /// Response written; waiting for the next request.
    Idle,
    /// Idle for a sweeper tick: its task puts hyper and its buffers aside.
    Parked,
    /// Told to close; its task drops it at its next wake-up.
    Closing,
}

impl Phase {
    /// Every phase, in `as u8` order.
    const ALL: [Phase; 5] = [
        Phase::Fresh,
        Phase::Busy,
        Phase::Idle,
        Phase::Parked,
        Phase::Closing,
    ];

    /// No request in flight: shedding or shutdown closes it at once.
    fn is_waiting(self) -> bool {
        matches!(self, Phase::Fresh | Phase::Idle | Phase::Parked)
    }
}

/// A [`Phase`] shared between threads.
struct AtomicPhase(AtomicU8);

impl AtomicPhase {
    fn new(phase: Phase) -> Self {
        Self(AtomicU8::new(phase as u8))
    }

    fn load(&self) -> Phase {
        Phase::ALL[usize::from(self.0.load(Relaxed))]
    }

    /// Moves from `from` to `to`; false if it was not in `from`.
    fn change(&self, from: Phase, to: Phase) -> bool {
        self.0
            .compare_exchange(from as u8, to as u8, Relaxed, Relaxed)
            .is_ok()
    }
}

/// Connections shed at once, at most; nginx frees up to 32 at a time too.
const MAX_SHED_BATCH: usize = 32;
/// Shedding is logged at most this often, with the counts since the last line.
const SHED_LOG_INTERVAL: Duration = Duration::from_secs(1);

/// The registry of open connections.
pub struct Connections {
    state: Arc<State>,
    limit: usize,
    write_timeout: Duration,
    keepalive_timeout: Duration,
    epoch: Instant,
    slots: Mutex<Slab>,
    /// Connections open, and how many of them are closing.
    open: AtomicUsize,
    closing: AtomicUsize,
    /// Wakes the sweeper, which sleeps while there is nothing to sweep.
    wake: Notify,
    /// Set once shutdown begins; `drained` wakes when the last connection closes.
    shutting_down: AtomicBool,
    drained: Notify,
    /// Shed since the last log line, by [`Shed`] reason.
    unlogged: [AtomicU64; Shed::ALL.len()],
}

/// Slots by index, reusing freed ones.
#[derive(Default)]
struct Slab {
    slots: Vec<Option<Arc<Slot>>>,
    free: Vec<usize>,
}

/// What one connection is doing, and how to tell it to close.
struct Slot {
    phase: AtomicPhase,
    /// When it became fresh or idle, in ms since [`Connections::epoch`].
    since_ms: AtomicU64,
    /// Wakes the connection's task to close ([`Phase::Closing`]) or, at
    /// shutdown, to finish the request in flight.
    close: Notify,
    /// Sent a request with a body: stays with hyper, which reads or discards
    /// the rest of it, instead of waiting outside between requests.
    has_body: AtomicBool,
}

impl Connections {
    /// A registry with the limit and timeouts of `config`.
    pub fn new(state: Arc<State>, config: &Config) -> Self {
        Self {
            state,
            limit: config.connection_limit(),
            write_timeout: config.write_timeout,
            keepalive_timeout: config.keepalive_timeout,
            epoch: Instant::now(),
            slots: Mutex::default(),
            open: AtomicUsize::new(0),
            closing: AtomicUsize::new(0),
            wake: Notify::new(),
            shutting_down: AtomicBool::new(false),
            drained: Notify::new(),
            unlogged: [const { AtomicU64::new(0) }; Shed::ALL.len()],
        }
    }

    /// Adds a fresh connection.
    pub fn register(self: &Arc<Self>) -> Registration {
        let slot = Arc::new(Slot {
            phase: AtomicPhase::new(Phase::Fresh),
            since_ms: AtomicU64::new(self.now_ms()),
            close: Notify::new(),
            has_body: AtomicBool::new(false),
        });
        let index = {
            let mut slab = self.lock();
            let slot = Some(Arc::clone(&slot));
            if let Some(index) = slab.free.pop() {
                slab.slots[index] = slot;
                index
            } else {
                slab.slots.push(slot);
                slab.slots.len() - 1
            }
        };
        if self.open.fetch_add(1, Relaxed) == 0 {
            self.wake.notify_one();
        }
        self.state.metrics.connection_opened();
        Registration {
            connections: Arc::clone(self),
            slot,
            index,
        }
    }

    /// Makes room for one more connection: true if there is room (now or as
    /// soon as the connections shed for it have closed), false if the limit
    /// is reached and every connection is busy, so the new one must go.
    pub fn make_room(&self) -> bool {
        let active = self.open.load(Relaxed) - self.closing.load(Relaxed);
        active < self.limit || self.shed_oldest() > 0
    }

    /// Counts a new connection closed at once because every other was busy.
    pub fn refused(&self) {
        self.count_shed(Shed::Refused);
    }

    /// Accept ran out of descriptors: sheds a batch of the oldest fresh and
    /// idle connections, unless some are closing already. False if there is
    /// nothing to wait for, so the caller should back off.
    pub fn make_descriptors(&self) -> bool {
        self.closing.load(Relaxed) > 0 || self.shed_oldest() > 0
    }

    /// Begins shutdown. No connection is closed under its client: one
    /// closed while idle races the request its client may be sending on it,
    /// which would get a reset instead of an answer. Each connection's next
    /// request is its last, answered with `Connection: close`: idle ones wait
    /// outside hyper for it, as parked ones do, and busy ones do once their
    /// request is answered ([`Registration::mark_idle`]). A client that sends
    /// nothing more is closed at the end of the last call
    /// ([`close_waiting`](Self::close_waiting)). A connection that sent a
    /// body stays with hyper, which may still have to read it, and is told
    /// to close after its request.
    pub fn shutdown(&self) {
        self.shutting_down.store(true, Relaxed);
        // Pairs with mark_idle's: it sees the flag, or we see it idle.
        fence(SeqCst);
        for slot in self.lock().slots.iter().flatten() {
            if !slot.has_body.load(Relaxed) {
                slot.phase.change(Phase::Idle, Phase::Parked);
            }
            slot.close.notify_one();
        }
    }

    /// Ends the last call: closes every connection still waiting for a
    /// request (fresh, idle or parked). One whose request has begun to
    /// arrive is busy (see [`Tracked::next_bytes`]) and is answered.
    pub fn close_waiting(&self) {
        for slot in self.lock().slots.iter().flatten() {
            let phase = slot.phase.load();
            if phase.is_waiting() {
                self.close(slot, phase);
            }
        }
    }

    /// How many connections are reading a request or writing a response.
    pub fn busy(&self) -> usize {
        let slab = self.lock();
        slab.slots
            .iter()
            .flatten()
            .filter(|slot| slot.phase.load() == Phase::Busy)
            .count()
    }

    /// Resolves once every connection has closed.
    pub async fn drained(&self) {
        let drained = self.drained.notified();
        let mut drained = std::pin::pin!(drained);
        // Registered before the check, so a close in between still wakes us.
        drained.as_mut().enable();
        if self.open.load(Relaxed) > 0 {
            drained.await;
        }
    }

    /// Closes idle keep-alive connections after `KEEPALIVE_TIMEOUT_MS` and
    /// logs shedding (at most once a second); sleeps while nothing is open.
    pub async fn sweep_periodically(&self) {
        let tick = (self.keepalive_timeout / 4).clamp(Duration::from_millis(10), SHED_LOG_INTERVAL);
        let mut last_log: Option<Instant> = None;
        loop {
            if self.open.load(Relaxed) == 0 && self.unlogged_total() == 0 {
                self.wake.notified().await;
            }
            tokio::time::sleep(tick).await;
            self.sweep_idle(tick);
            if last_log.is_none_or(|at| at.elapsed() >= SHED_LOG_INTERVAL) && self.log_shed() {
                last_log = Some(Instant::now());
            }
        }
    }

    /// Sheds up to a batch of the fresh and idle connections that have waited
    /// longest: a flood's connections are older than an honest client's
    /// fresh one, which sends its request at once. Returns how many.
    fn shed_oldest(&self) -> usize {
        let batch = (self.limit / 32).clamp(1, MAX_SHED_BATCH);
        let slab = self.lock();
        let mut oldest: Vec<(u64, &Arc<Slot>)> = slab
            .slots
            .iter()
            .flatten()
            .filter(|slot| slot.phase.load().is_waiting())
            .map(|slot| (slot.since_ms.load(Relaxed), slot))
            .collect();
        if oldest.len() > batch {
            oldest.select_nth_unstable_by_key(batch - 1, |&(since, _)| since);
            oldest.truncate(batch);
        }
        oldest
            .into_iter()
            .filter(|(_, slot)| {
                let phase = slot.phase.load();
                // Not if it turned busy (or was closed) since the filter above.
                if !phase.is_waiting() || !self.close(slot, phase) {
                    return false;
                }
                self.count_shed(if phase == Phase::Fresh {
                    Shed::Fresh
                } else {
                    Shed::Idle
                });
                true
            })
            .count()
    }

    /// Closes the connections idle for `KEEPALIVE_TIMEOUT_MS`, and parks
    /// those idle for `park_after`: parking right after each response would
    /// cost a busy client a new hyper connection per request; a client that
    /// waits a tick pays for one once.
    fn sweep_idle(&self, park_after: Duration) {
        let now = self.now_ms();
        let ago = |d: Duration| now.checked_sub(u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        let (expired, park) = (ago(self.keepalive_timeout), ago(park_after));
        for slot in self.lock().slots.iter().flatten() {
            let phase = slot.phase.load();
            if phase != Phase::Idle && phase != Phase::Parked {
                continue;
            }
            let since = Some(slot.since_ms.load(Relaxed));
            if since <= expired {
                self.close(slot, phase);
            } else if since <= park
                && !slot.has_body.load(Relaxed)
                && slot.phase.change(Phase::Idle, Phase::Parked)
            {
                slot.close.notify_one();
            }
        }
    }

    /// Tells `slot` to close if it is still in phase `was`.
    fn close(&self, slot: &Slot, was: Phase) -> bool {
        if !slot.phase.change(was, Phase::Closing) {
            return false;
        }
        self.closing.fetch_add(1, Relaxed);
        slot.close.notify_one();
        true
    }

    fn count_shed(&self, reason: Shed) {
        self.state.metrics.record_shed(reason);
        self.unlogged[reason as usize].fetch_add(1, Relaxed);
        self.wake.notify_one();
    }

    fn unlogged_total(&self) -> u64 {
        self.unlogged.iter().map(|n| n.load(Relaxed)).sum()
    }

    /// Logs what was shed since the last line, if anything.
    fn log_shed(&self) -> bool {
        let [fresh, idle, refused] = self.unlogged.each_ref().map(|n| n.swap(0, Relaxed));
        if fresh + idle + refused == 0 {
            return false;
        }
        log::warn(format_args!(
            "at the limit of {} connections: shed {} that had sent nothing and {} idle, \
             refused {} new (all busy)",
            self.limit, fresh, idle, refused
        ));
        true
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn lock(&self) -> MutexGuard<'_, Slab> {
        // Every update leaves the slab consistent: a panic cannot break it.
        self.slots.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One connection's place in the registry; leaving drops it.
pub struct Registration {
    connections: Arc<Connections>,
    slot: Arc<Slot>,
    index: usize,
}

/// What a connection's task learns from the registry: whether to close,
/// finish and close (shutdown), or may put hyper aside (idle).
pub struct Signal {
    connections: Arc<Connections>,
    slot: Arc<Slot>,
}

impl Signal {
    /// Resolves once the connection is told to close, or shutdown begins.
    pub async fn notified(&self) {
        self.slot.close.notified().await;
    }

    /// Told to close: drop the connection.
    pub fn is_closing(&self) -> bool {
        self.slot.phase.load() == Phase::Closing
    }

    /// Told to put hyper aside and wait outside for its next byte: parked
    /// (its last response written, no byte read since for a sweeper tick or
    /// since shutdown began, and none of its requests had a body that hyper
    /// may still have to discard).
    pub fn is_parked(&self) -> bool {
        self.slot.phase.load() == Phase::Parked
    }

    /// Shutdown has begun.
    pub fn is_shutting_down(&self) -> bool {
        self.connections.shutting_down.load(Relaxed)
    }

    /// A request with a body arrived: keep the connection with hyper.
    pub fn saw_body(&self) {
        self.slot.has_body.store(true, Relaxed);
    }

    /// A request with a body arrived on this connection.
    pub fn has_body(&self) -> bool {
        self.slot.has_body.load(Relaxed)
    }
}

impl Registration {
    /// The signal that this connection is to close; it outlives the registration.
    pub fn signal(&self) -> Signal {
        Signal {
            connections: Arc::clone(&self.connections),
            slot: Arc::clone(&self.slot),
        }
    }

    /// Moves to `phase` unless the connection is closing; false if it is.
    fn mark(&self, phase: Phase) -> bool {
        loop {
            let current = self.slot.phase.load();
            if current == phase {
                return true;
            }
            if current == Phase::Closing {
                return false;
            }
            // Others change the phase behind our back only to park or close
            // it: if they just did, look again.
            if self.slot.phase.change(current, phase) {
                return true;
            }
        }
    }

    fn mark_idle(&self) {
        self.slot.since_ms.store(self.connections.now_ms(), Relaxed);
        self.mark(Phase::Idle);
        // After shutdown began, put aside at once: the next request is the last.
        fence(SeqCst);
        if self.connections.shutting_down.load(Relaxed)
            && !self.slot.has_body.load(Relaxed)
            && self.slot.phase.change(Phase::Idle, Phase::Parked)
        {
            self.slot.close.notify_one();
        }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let connections = &self.connections;
        {
            let mut slab = connections.lock();
            slab.slots[self.index] = None;
            slab.free.push(self.index);
        }
        if self.slot.phase.load() == Phase::Closing {
            connections.closing.fetch_sub(1, Relaxed);
        }
        if connections.open.fetch_sub(1, Relaxed) == 1 {
            connections.drained.notify_waiters();
        }
        connections.state.metrics.connection_closed();
    }
}

/// A connection's byte stream, which can wait for its next byte without
/// taking it: TCP in the server, an in-memory pipe in the tests.
pub trait Stream: AsyncRead + AsyncWrite + Unpin {
    /// Ready with 1 once a byte can be read (it stays to be read), 0 once
    /// the peer has closed.
    fn poll_peek_byte(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>>;
}

impl Stream for TcpStream {
    fn poll_peek_byte(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        let mut byte = [0; 1];
        self.poll_peek(cx, &mut ReadBuf::new(&mut byte))
    }
}

/// A connection's socket as hyper sees it: reads and writes tell the slot
/// what the connection is doing, and a write that makes no progress for
/// `WRITE_TIMEOUT_MS` fails, which ends the connection.
pub struct Tracked<S> {
    stream: S,
    registration: Registration,
    /// Armed while a write is blocked; reset by any progress.
    stalled: Option<Pin<Box<Sleep>>>,
    /// Bytes written since the connection last went idle.
    wrote: bool,
    /// Bytes read from the socket that hyper had not parsed when it was put
    /// aside (pipelined requests); read again before the socket.
    unread: Bytes,
    /// hyper wrote its own answer to a request head it could not parse,
    /// which was held back for the server to write one that says why.
    held_refusal: bool,
}

impl<S: Stream> Tracked<S> {
    pub fn new(stream: S, registration: Registration) -> Self {
        Self {
            stream,
            registration,
            stalled: None,
            wrote: false,
            unread: Bytes::new(),
            held_refusal: false,
        }
    }

    /// Writes `answer`, the connection's last, and shuts down the writing
    /// side; then reads and drops whatever the client still sends until it
    /// closes or `linger` passes. Closing a socket with bytes unread (the
    /// rest of an oversized head, say) sends a reset, which can destroy the
    /// answer before its client reads it: nginx's lingering close.
    pub async fn close_after(&mut self, answer: &[u8], linger: Duration) {
        let mut written = 0;
        while written < answer.len() {
            match poll_fn(|cx| Pin::new(&mut *self).poll_write(cx, &answer[written..])).await {
                Ok(0) | Err(_) => return,
                Ok(n) => written += n,
            }
        }
        if poll_fn(|cx| Pin::new(&mut *self).poll_shutdown(cx))
            .await
            .is_err()
        {
            return;
        }
        let mut sink = vec![0; 4096];
        let _ = tokio::time::timeout(linger, async {
            loop {
                let mut buf = ReadBuf::new(&mut sink);
                let read = poll_fn(|cx| Pin::new(&mut *self).poll_read(cx, &mut buf)).await;
                if read.is_err() || buf.filled().is_empty() {
                    return;
                }
            }
        })
        .await;
    }

    /// True (once) if hyper's own answer to a head it could not parse was
    /// held back: the server must answer, and may then shut the socket down.
    pub fn take_held_refusal(&mut self) -> bool {
        std::mem::take(&mut self.held_refusal)
    }

    /// Waits until the connection has a byte to read, without reading it:
    /// true once there is one (or bytes hyper had read but not parsed), and
    /// the connection is busy from then on, so that neither the end of the
    /// last call nor shedding closes it under its request; false if the
    /// client closed it, the socket failed, or it was told to close first.
    pub async fn next_bytes(&mut self) -> bool {
        self.has_bytes().await && self.registration.mark(Phase::Busy)
    }

    async fn has_bytes(&mut self) -> bool {
        if !self.unread.is_empty() {
            return true;
        }
        // Not `readable()`: tokio (1.54, #8435) marks an accepted socket
        // readable before the kernel says so, and only a read that finds
        // nothing clears that. A one-byte peek tries the socket (after
        // hyper's last read found nothing, not even that), then waits; polled
        // in place, it adds no future of its own to every idle task (tokio's
        // `peek` future is larger than the rest of the task).
        matches!(poll_fn(|cx| self.stream.poll_peek_byte(cx)).await, Ok(1..))
    }

    /// Bytes hyper read but had not parsed; they are read again first, before
    /// any given back earlier that hyper has not read yet (its reads are
    /// limited to its buffer).
    pub fn unread(&mut self, bytes: Bytes) {
        if bytes.is_empty() {
            // Even empty, they would keep hyper's whole read buffer allocated.
        } else if self.unread.is_empty() {
            self.unread = bytes;
        } else {
            self.unread = [bytes, std::mem::take(&mut self.unread)].concat().into();
        }
    }

    fn write_with(
        &mut self,
        cx: &mut Context<'_>,
        write: impl FnOnce(Pin<&mut S>, &mut Context<'_>) -> Poll<io::Result<usize>>,
    ) -> Poll<io::Result<usize>> {
        if let Poll::Ready(result) = write(Pin::new(&mut self.stream), cx) {
            self.stalled = None;
            self.wrote |= matches!(result, Ok(n) if n > 0);
            return Poll::Ready(result);
        }
        // Blocked on a client that does not read: busy, not idle, and on the clock.
        self.registration.mark(Phase::Busy);
        let timeout = self.registration.connections.write_timeout;
        let stalled = self
            .stalled
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        ready!(stalled.as_mut().poll(cx));
        self.registration
            .connections
            .state
            .metrics
            .record_write_timeout();
        Poll::Ready(Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "write timeout: the client stopped reading",
        )))
    }
}

impl<S: Stream> AsyncRead for Tracked<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        if this.unread.is_empty() {
            ready!(Pin::new(&mut this.stream).poll_read(cx, buf))?;
        } else {
            let n = this.unread.len().min(buf.remaining());
            buf.put_slice(&this.unread.split_to(n));
            if this.unread.is_empty() {
                // Release hyper's old read buffer.
                this.unread = Bytes::new();
            }
        }
        if buf.filled().len() > before && !this.registration.mark(Phase::Busy) {
            // Shed while these bytes were on their way: it is closing anyway.
            return Poll::Ready(Err(io::ErrorKind::ConnectionAborted.into()));
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: Stream> AsyncWrite for Tracked<S> {
    /// hyper answers a request head it cannot parse by itself, with a bare
    /// 400 or 431 (see `refusal.rs`): that answer is held back, and
    /// whatever came before it written.
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let buf = match hyper_refusal(buf) {
            None => buf,
            Some(0) => {
                this.held_refusal = true;
                return Poll::Ready(Ok(buf.len()));
            }
            Some(start) => &buf[..start],
        };
        this.write_with(cx, |stream, cx| stream.poll_write(cx, buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.get_mut()
            .write_with(cx, |stream, cx| stream.poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    /// hyper flushes after each response: one written in full is the moment
    /// the connection goes idle (and its keep-alive clock starts).
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(Pin::new(&mut this.stream).poll_flush(cx))?;
        if std::mem::take(&mut this.wrote) {
            this.registration.mark_idle();
        }
        Poll::Ready(Ok(()))
    }

    /// Not while a refusal is held back: it is still to be written.
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.held_refusal {
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.stream).poll_shutdown(cx)
    }
}

/// Where hyper's own answer to a request head it could not parse begins in
/// `buf`, if `buf` ends with one: a 4xx or 5xx response head with no body
/// and without the `x-content-type-options` that every answer of ours
/// carries (`routes.rs`). hyper writes it as the connection's last.
fn hyper_refusal(buf: &[u8]) -> Option<usize> {
    if !buf.ends_with(b"\r\n\r\n") {
        return None;
    }
    let start = buf.windows(7).rposition(|w| w == b"HTTP/1.")?;
    let head = &buf[start..];
    let refusal = matches!(head.get(8..10), Some([b' ', b'4' | b'5']))
        && !head.windows(22).any(|w| w == b"x-content-type-options");
    refusal.then_some(start)
}

/// An in-memory connection for the unit tests, in hyper-util's style.
#[cfg(test)]
pub(crate) mod pipe {
    use super::*;
    use tokio::io::DuplexStream;

    /// The server's end of a [`tokio::io::duplex`] pipe, which can peek as
    /// TCP can: a peeked byte waits here until it is read.
    pub struct Pipe {
        inner: DuplexStream,
        peeked: Option<u8>,
    }

    /// A pipe holding up to `capacity` bytes each way: the server's end and
    /// the client's.
    pub fn pair(capacity: usize) -> (Pipe, DuplexStream) {
        let (server, client) = tokio::io::duplex(capacity);
        let server = Pipe {
            inner: server,
            peeked: None,
        };
        (server, client)
    }

    impl Stream for Pipe {
        fn poll_peek_byte(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
            if self.peeked.is_none() {
                let mut byte = [0; 1];
                let mut buf = ReadBuf::new(&mut byte);
                ready!(Pin::new(&mut self.inner).poll_read(cx, &mut buf))?;
                if buf.filled().is_empty() {
                    return Poll::Ready(Ok(0));
                }
                self.peeked = Some(byte[0]);
            }
            Poll::Ready(Ok(1))
        }
    }

    impl AsyncRead for Pipe {
        fn poll_read(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            let Pipe { inner, peeked } = self.get_mut();
            match peeked.take() {
                Some(byte) => {
                    buf.put_slice(&[byte]);
                    Poll::Ready(Ok(()))
                }
                None => Pin::new(inner).poll_read(cx, buf),
            }
        }
    }

    impl AsyncWrite for Pipe {
        fn poll_write(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
        }

        fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Pin::new(&mut self.get_mut().inner).poll_flush(cx)
        }

        fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
        }
    }
}

/// The state machine driven as hyper drives it, over in-memory pipes and on
/// tokio's paused clock, so every timeout and sweep happens exactly when
/// the test says.
#[cfg(test)]
mod tests {
    use super::pipe::{Pipe, pair};
    use super::*;
    use crate::log::{AccessLog, LogFormat};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::time::{advance, timeout};

    const KEEPALIVE: Duration = Duration::from_secs(4);
    /// How long an idle connection waits before it is parked.
    const TICK: Duration = Duration::from_secs(1);
    const WRITE_TIMEOUT: Duration = Duration::from_secs(2);

    fn registry(limit: usize) -> Arc<Connections> {
        let config = Config {
            max_connections: Some(limit),
            keepalive_timeout: KEEPALIVE,
            write_timeout: WRITE_TIMEOUT,
            ..Config::default()
        };
        let state = Arc::new(State::new(AccessLog::new(LogFormat::Text)));
        Arc::new(Connections::new(state, &config))
    }

    fn phase(registration: &Registration) -> Phase {
        registration.slot.phase.load()
    }

    /// True if `signal` was notified (a permit is waiting), without waiting.
    async fn was_notified(signal: &Signal) -> bool {
        timeout(Duration::ZERO, signal.notified()).await.is_ok()
    }

    /// A new connection in `phase`: fresh, busy, idle or parked since now,
    /// or shed.
    fn connection_in(connections: &Arc<Connections>, phase: Phase) -> Registration {
        let registration = connections.register();
        match phase {
            Phase::Fresh => {}
            Phase::Busy => assert!(registration.mark(Phase::Busy)),
            Phase::Idle => registration.mark_idle(),
            Phase::Parked => {
                registration.mark_idle();
                assert!(registration.slot.phase.change(Phase::Idle, Phase::Parked));
            }
            Phase::Closing => assert!(connections.close(&registration.slot, Phase::Fresh)),
        }
        registration
    }

    #[tokio::test(start_paused = true)]
    async fn a_connection_goes_fresh_busy_idle_parked_and_busy_again() {
        let connections = registry(8);
        let (pipe, mut client) = pair(1024);
        let mut io = Tracked::new(pipe, connections.register());
        let signal = io.registration.signal();
        assert_eq!(phase(&io.registration), Phase::Fresh);

        client.write_all(b"GET").await.unwrap();
        assert!(io.next_bytes().await);
        assert_eq!(
            phase(&io.registration),
            Phase::Busy,
            "a request has begun to arrive"
        );
        let mut request = [0; 3];
        io.read_exact(&mut request).await.unwrap();
        assert_eq!(phase(&io.registration), Phase::Busy);

        io.write_all(b"ok").await.unwrap();
        assert_eq!(phase(&io.registration), Phase::Busy, "written, not flushed");
        io.flush().await.unwrap();
        assert_eq!(phase(&io.registration), Phase::Idle);

        // Parked once idle for a tick, not before; its task is told.
        advance(TICK / 2).await;
        connections.sweep_idle(TICK);
        assert_eq!(phase(&io.registration), Phase::Idle);
        assert!(!was_notified(&signal).await);
        advance(TICK / 2).await;
        connections.sweep_idle(TICK);
        assert_eq!(phase(&io.registration), Phase::Parked);
        assert!(signal.is_parked() && was_notified(&signal).await);

        client.write_all(b"GET").await.unwrap();
        assert!(io.next_bytes().await);
        io.read_exact(&mut request).await.unwrap();
        assert_eq!(phase(&io.registration), Phase::Busy);
        assert!(!signal.is_closing() && !signal.is_shutting_down());

        drop(io);
        assert_eq!(connections.open.load(Relaxed), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn the_sweeper_closes_idle_connections_after_the_keepalive_timeout() {
        let connections = registry(8);
        let fresh = connection_in(&connections, Phase::Fresh);
        let busy = connection_in(&connections, Phase::Busy);
        let idle = connection_in(&connections, Phase::Idle);
        // A request with a body: hyper may still have to read the rest.
        let with_body = connection_in(&connections, Phase::Idle);
        with_body.signal().saw_body();

        advance(TICK).await;
        connections.sweep_idle(TICK);
        assert_eq!(phase(&idle), Phase::Parked);
        assert_eq!(phase(&with_body), Phase::Idle, "parked with a body");

        advance(KEEPALIVE.saturating_sub(TICK)).await;
        connections.sweep_idle(TICK);
        assert_eq!(phase(&idle), Phase::Closing);
        assert_eq!(phase(&with_body), Phase::Closing);
        assert!(with_body.signal().is_closing());
        // Neither a fresh nor a busy one: the header and write timeouts are theirs.
        assert_eq!(phase(&fresh), Phase::Fresh);
        assert_eq!(phase(&busy), Phase::Busy);
        assert_eq!(connections.closing.load(Relaxed), 2);
        drop((idle, with_body));
        assert_eq!(connections.closing.load(Relaxed), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn shedding_takes_the_longest_waiting_first_and_never_a_busy_one() {
        // 64 connections: two are shed at a time.
        let connections = registry(64);
        let metrics = &connections.state.metrics;
        let mut open = Vec::new();
        for phase in [Phase::Busy, Phase::Fresh, Phase::Idle, Phase::Parked] {
            open.push(connection_in(&connections, phase));
            advance(Duration::from_millis(10)).await;
        }
        while open.len() < 64 {
            open.push(connection_in(&connections, Phase::Fresh));
            advance(Duration::from_millis(1)).await;
        }
        let phases = |open: &[Registration]| open[..5].iter().map(phase).collect::<Vec<_>>();

        // The oldest busy one stays; the two that waited longest go.
        assert!(connections.make_room());
        assert_eq!(
            phases(&open),
            [
                Phase::Busy,
                Phase::Closing,
                Phase::Closing,
                Phase::Parked,
                Phase::Fresh
            ]
        );
        // Room is made as soon as they are closing: no more is shed.
        assert!(connections.make_room());
        assert_eq!(phases(&open)[3], Phase::Parked);
        assert!(connections.make_descriptors(), "some are closing");
        drop(open.drain(1..3));
        open.push(connection_in(&connections, Phase::Fresh));
        open.push(connection_in(&connections, Phase::Fresh));

        // Parked counts as idle; then the oldest fresh one.
        assert!(connections.make_room());
        assert_eq!(
            phases(&open)[..3],
            [Phase::Busy, Phase::Closing, Phase::Closing]
        );
        assert_eq!(metrics.shed_count(Shed::Fresh), 2);
        assert_eq!(metrics.shed_count(Shed::Idle), 2);
        assert_eq!(metrics.shed_count(Shed::Refused), 0);
        assert!(connections.log_shed(), "shedding is logged");
        assert!(!connections.log_shed(), "once");
    }

    #[tokio::test(start_paused = true)]
    async fn with_every_connection_busy_there_is_no_room() {
        let connections = registry(2);
        let _busy = [Phase::Busy, Phase::Busy].map(|p| connection_in(&connections, p));
        assert!(!connections.make_room());
        assert!(!connections.make_descriptors());
        connections.refused();
        assert_eq!(connections.state.metrics.shed_count(Shed::Refused), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_keeps_waiting_connections_and_lets_busy_ones_finish() {
        let connections = registry(8);
        let phases = [
            Phase::Fresh,
            Phase::Busy,
            Phase::Idle,
            Phase::Parked,
            Phase::Closing,
        ];
        let open = phases.map(|p| connection_in(&connections, p));
        let signals = open.each_ref().map(Registration::signal);
        for signal in &signals {
            // The permits of parking and shedding, taken as their tasks would.
            let _ = was_notified(signal).await;
        }
        let with_body = connection_in(&connections, Phase::Idle);
        with_body.signal().saw_body();
        assert!(!signals[0].is_parked(), "fresh, before shutdown");

        connections.shutdown();
        // Idle ones are put aside; the fresh one waits outside hyper already.
        let expected = [
            Phase::Fresh,
            Phase::Busy,
            Phase::Parked,
            Phase::Parked,
            Phase::Closing,
        ];
        for ((registration, signal), (was, now)) in open
            .iter()
            .zip(&signals)
            .zip(phases.into_iter().zip(expected))
        {
            assert_eq!(phase(registration), now, "{was:?}");
            assert!(signal.is_shutting_down());
            assert!(was_notified(signal).await, "{was:?}");
            assert_eq!(signal.is_parked(), now == Phase::Parked, "{was:?}");
        }
        assert_eq!(phase(&with_body), Phase::Idle, "hyper still holds its body");
        assert_eq!(connections.busy(), 1);
        assert_eq!(connections.closing.load(Relaxed), 1);

        let mut drained = std::pin::pin!(connections.drained());
        drop(with_body);
        assert!(timeout(Duration::ZERO, drained.as_mut()).await.is_err());
        drop(open);
        assert!(timeout(Duration::ZERO, drained).await.is_ok());
        assert_eq!(connections.closing.load(Relaxed), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn the_end_of_the_last_call_closes_every_waiting_connection_and_no_busy_one() {
        let connections = registry(8);
        let phases = [Phase::Fresh, Phase::Busy, Phase::Idle, Phase::Parked];
        let open = phases.map(|p| connection_in(&connections, p));
        connections.shutdown();
        connections.close_waiting();
        assert_eq!(
            open.each_ref().map(phase),
            [Phase::Closing, Phase::Busy, Phase::Closing, Phase::Closing]
        );
        assert_eq!(connections.busy(), 1);
        // A request that began to arrive in time makes its connection busy.
        let (pipe, mut client) = pair(64);
        let mut io = Tracked::new(pipe, connections.register());
        client.write_all(b"GET").await.unwrap();
        assert!(io.next_bytes().await);
        connections.close_waiting();
        assert_eq!(phase(&io.registration), Phase::Busy);
        // One closed first does not take a request that arrives later.
        let (pipe, mut client) = pair(64);
        let mut io = Tracked::new(pipe, connections.register());
        connections.close_waiting();
        client.write_all(b"GET").await.unwrap();
        assert!(!io.next_bytes().await);
    }

    #[tokio::test(start_paused = true)]
    async fn after_shutdown_the_sweeper_still_closes_idle_connections() {
        let connections = registry(8);
        let idle = connection_in(&connections, Phase::Idle);
        connections.shutdown();
        advance(KEEPALIVE).await;
        connections.sweep_idle(TICK);
        assert_eq!(phase(&idle), Phase::Closing);
        assert!(idle.signal().is_closing());
    }

    #[tokio::test(start_paused = true)]
    async fn a_write_that_makes_no_progress_times_out() {
        let connections = registry(8);
        let (pipe, client) = pair(16);
        let mut io = Tracked::new(pipe, connections.register());
        // 16 bytes go through, then the client reads nothing: on the clock.
        let started = Instant::now();
        let err = io.write_all(&[b'x'; 64]).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert_eq!(started.elapsed(), WRITE_TIMEOUT);
        assert_eq!(phase(&io.registration), Phase::Busy);
        let metrics = connections.state.metrics.render();
        assert!(
            metrics.contains("moscow_time_write_timeouts_total 1\n"),
            "{metrics}"
        );

        drop(client);

        // Any progress restarts the clock: a slow but steady reader is not cut.
        let (pipe, mut reader) = pair(16);
        let mut io = Tracked::new(pipe, connections.register());
        let writer = tokio::spawn(async move { io.write_all(&[b'x'; 64]).await });
        let mut read = [0; 16];
        for _ in 0..3 {
            advance(WRITE_TIMEOUT / 2).await;
            reader.read_exact(&mut read).await.unwrap();
        }
        assert!(writer.await.unwrap().is_ok());
    }

    #[test]
    fn hyper_refusals_are_told_from_our_answers() {
        let ours = b"HTTP/1.1 404 Not Found\r\ncontent-type: text/plain\r\n\
                     x-content-type-options: nosniff\r\ncontent-length: 0\r\n\r\n";
        let hypers = b"HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n";
        assert_eq!(hyper_refusal(ours), None, "an answer to HEAD, say");
        assert_eq!(hyper_refusal(&ours[..ours.len() - 2]), None);
        assert_eq!(hyper_refusal(hypers), Some(0));
        assert_eq!(
            hyper_refusal(&[&ours[..], hypers].concat()),
            Some(ours.len())
        );
        assert_eq!(hyper_refusal(&[hypers, &ours[..]].concat()), None);
        assert_eq!(hyper_refusal(b"HTTP/1.1 100 Continue\r\n\r\n"), None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_refusal_hyper_writes_is_held_back_and_what_came_before_is_written() {
        let connections = registry(8);
        let (pipe, mut client) = pair(1024);
        let mut io = Tracked::new(pipe, connections.register());
        let hypers = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n";
        let before = b"HTTP/1.1 200 OK\r\nx-content-type-options: nosniff\r\n\r\nok";
        io.write_all(&[&before[..], hypers].concat()).await.unwrap();
        io.shutdown().await.unwrap();
        assert!(io.take_held_refusal());
        assert!(!io.take_held_refusal(), "once");
        io.write_all(b"ours").await.unwrap();
        io.shutdown().await.unwrap();
        let mut written = Vec::new();
        client.read_to_end(&mut written).await.unwrap();
        assert_eq!(written, [&before[..], b"ours"].concat());
    }

    #[tokio::test(start_paused = true)]
    async fn bytes_given_back_are_read_first() {
        let connections = registry(8);
        let (pipe, mut client) = pair(64);
        let mut io: Tracked<Pipe> = Tracked::new(pipe, connections.register());
        io.unread(Bytes::new());
        assert!(io.unread.is_empty(), "nothing to keep");
        io.unread(Bytes::from_static(b"cd"));
        io.unread(Bytes::from_static(b"ab"));
        assert!(io.next_bytes().await, "without a byte from the client");
        client.write_all(b"ef").await.unwrap();
        let mut all = [0; 6];
        io.read_exact(&mut all).await.unwrap();
        assert_eq!(&all, b"abcdef");
        assert_eq!(phase(&io.registration), Phase::Busy);
    }

    #[tokio::test(start_paused = true)]
    async fn a_shed_connection_fails_its_next_read_and_a_closed_one_has_no_bytes() {
        let connections = registry(8);
        let (pipe, mut client) = pair(64);
        let mut io = Tracked::new(pipe, connections.register());
        assert!(connections.close(&io.registration.slot, Phase::Fresh));
        client.write_all(b"GET").await.unwrap();
        let err = io.read(&mut [0; 8]).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionAborted);
        assert_eq!(phase(&io.registration), Phase::Closing);

        let (pipe, client) = pair(64);
        let mut io = Tracked::new(pipe, connections.register());
        drop(client);
        assert!(!io.next_bytes().await);
    }
}
