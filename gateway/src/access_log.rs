//! The production access log: one JSON line per request, written by a thread of its own.
//!
//! Why not a `tracing` event per request (what `nexus dev` still does, for a person reading
//! text): the JSON formatter builds each line in freshly allocated strings and writes it to
//! stderr under a lock on the request's own thread, so a slow log pipe slows every request.
//! Here a request only copies a fixed-size [`Record`] (no allocation: the route template and
//! the request id are reference-counted, the workspace id is copied inline) into a bounded
//! channel whose slots are allocated once. The writer thread formats the lines into one reused
//! buffer and writes them in batches.
//!
//! **When the writer falls behind** (the channel is full, e.g. stderr is a pipe nobody reads),
//! a request never waits: its line is dropped and counted in
//! `nexus_gateway_access_log_dropped_total` (`/metrics`). Losing access lines under overload is
//! the lesser harm than stalling the API; the counter tells operators it happened.
//!
//! The line has the shape of the `tracing` JSON lines the rest of the process writes (so one
//! log pipeline reads both): `{"timestamp", "level", "target": "nexus_gateway::access",
//! "fields": {"message", "request_id", "method", "route", "status", "latency_us", "workspace"}}`.
//! Never a query string, a header, a key or a token: the route is axum's template.

use axum::http::Method;
use std::cell::Cell;
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::time::{Duration, Instant, SystemTime};

/// Lines waiting for the writer before requests start dropping theirs (~200 bytes each).
pub const DEFAULT_CAPACITY: usize = 16_384;
/// The writer writes at least this often in bytes (and at the end of each batch window).
const BATCH_BYTES: usize = 64 * 1024;
/// How long the writer lets lines accumulate after the first line of a batch wakes it. A
/// request only wakes the writer when it is asleep on an empty queue; without this window
/// that is nearly every request under load (the writer drains faster than requests arrive),
/// which costs each of them a futex wake-up and the writer a context switch and a `write`
/// per line or two. With it: about one wake-up and a few `write`s per window, and a line
/// reaches the sink at most this late. The window is short (2 ms) because on a loaded machine
/// the sleep itself can overrun by tens of milliseconds, and the queue must hold everything
/// that arrives meanwhile: with a 10 ms window and 8,192 slots, a loaded run dropped 986 of
/// 1.08M lines; 16,384 slots hold ~250 ms of a 64k requests/s load.
const BATCH_WINDOW: std::time::Duration = std::time::Duration::from_millis(2);
/// Longest workspace id (`WorkspaceId`: 63 characters); longer values are not logged.
const WORKSPACE_CAP: usize = 64;
/// How long [`wall_clock`] goes by the monotonic clock before it reads the system clock again.
const WALL_CLOCK_RENEWAL: Duration = Duration::from_millis(100);

thread_local! {
    /// The system time at an instant, read at most once per [`WALL_CLOCK_RENEWAL`] per thread.
    static WALL_ANCHOR: Cell<Option<(Instant, SystemTime)>> = const { Cell::new(None) };
}

/// The system time at `now` (a monotonic instant just read), for a request's access line,
/// without a second clock read per request: each thread reads the system clock again once
/// `WALL_CLOCK_RENEWAL` has passed since its last read, so a step of the system clock shows
/// in the lines within that time, and between two reads the lines keep the monotonic clock's
/// pace (an NTP slew of at most 500 ppm moves them by at most 50 µs).
pub fn wall_clock(now: Instant) -> SystemTime {
    WALL_ANCHOR.with(|anchor| {
        if let Some((at, wall)) = anchor.get()
            && let Some(since) = now.checked_duration_since(at)
            && since < WALL_CLOCK_RENEWAL
        {
            return wall + since;
        }
        let wall = SystemTime::now();
        anchor.set(Some((now, wall)));
        wall
    })
}

/// A handle to the writer thread. Cheap to clone; the thread ends when the last handle is
/// dropped, after writing what is queued.
#[derive(Clone)]
pub struct AccessLog {
    tx: SyncSender<Record>,
    counters: Arc<Counters>,
}

#[derive(Default)]
struct Counters {
    dropped: AtomicU64,
    written: AtomicU64,
}

impl std::fmt::Debug for AccessLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessLog")
            .field("dropped", &self.dropped())
            .finish_non_exhaustive()
    }
}

/// The route template of a request, for its access line and metrics.
#[derive(Debug, Clone)]
pub enum Route {
    /// As axum matched it (`MatchedPath` is an `Arc<str>` inside).
    Matched(axum::extract::MatchedPath),
    /// Answered before axum routed it ([`crate::Gateway::front`]): the template is known.
    Known(&'static str),
    /// No route matched.
    Unmatched,
}

impl Route {
    pub fn as_str(&self) -> &str {
        match self {
            Self::Matched(path) => path.as_str(),
            Self::Known(path) => path,
            Self::Unmatched => "unmatched",
        }
    }
}

impl From<Option<axum::extract::MatchedPath>> for Route {
    fn from(matched: Option<axum::extract::MatchedPath>) -> Self {
        matched.map_or(Self::Unmatched, Self::Matched)
    }
}

/// One request, as the writer thread needs it. Built without allocating.
pub struct Record {
    pub at: SystemTime,
    pub method: Method,
    pub route: Route,
    pub status: u16,
    pub latency_us: u64,
    pub request_id: Option<crate::middleware::RequestId>,
    pub workspace: Workspace,
}

/// A workspace id copied inline (ids are validated ASCII of at most 63 characters).
#[derive(Clone, Copy)]
pub struct Workspace {
    len: u8,
    bytes: [u8; WORKSPACE_CAP],
}

impl Workspace {
    pub const NONE: Self = Self {
        len: 0,
        bytes: [0; WORKSPACE_CAP],
    };

    pub fn new(id: &str) -> Self {
        let mut out = Self::NONE;
        if id.len() <= WORKSPACE_CAP {
            out.bytes[..id.len()].copy_from_slice(id.as_bytes());
            out.len = id.len() as u8;
        }
        out
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or_default()
    }
}

tokio::task_local! {
    /// The workspace of the request running in this task, set once the caller is authenticated
    /// (the [`crate::auth::Caller`] extractor), read by the logging middleware. A task-local
    /// lives in the request's future: no allocation, no shared state.
    static WORKSPACE: Cell<Workspace>;
}

/// Runs `future` (the rest of the request) with a slot for [`note_workspace`].
pub async fn with_workspace_slot<F: std::future::Future>(future: F) -> (F::Output, Workspace) {
    let slot = Cell::new(Workspace::NONE);
    WORKSPACE
        .scope(slot, async move {
            let output = future.await;
            (output, WORKSPACE.with(Cell::get))
        })
        .await
}

/// Records the authenticated workspace for the access line (no-op outside a request).
pub fn note_workspace(id: &str) {
    let _ = WORKSPACE.try_with(|slot| slot.set(Workspace::new(id)));
}

impl AccessLog {
    /// A writer thread writing to stderr (the process's log stream).
    pub fn stderr() -> std::io::Result<Self> {
        Self::spawn(StderrSink, DEFAULT_CAPACITY)
    }

    /// A writer thread writing to `sink`, with room for `capacity` queued lines.
    pub fn spawn<W: Write + Send + 'static>(sink: W, capacity: usize) -> std::io::Result<Self> {
        let (tx, rx) = std::sync::mpsc::sync_channel(capacity.max(1));
        let counters = Arc::new(Counters::default());
        let thread_counters = counters.clone();
        std::thread::Builder::new()
            .name("nexus-access-log".into())
            .spawn(move || write_loop(rx, sink, &thread_counters))?;
        Ok(Self { tx, counters })
    }

    /// Queues one line; never blocks. A full queue drops the line and counts it.
    pub fn log(&self, record: Record) {
        match self.tx.try_send(record) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.counters.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Lines dropped because the writer was behind (or gone).
    pub fn dropped(&self) -> u64 {
        self.counters.dropped.load(Ordering::Relaxed)
    }

    /// Lines handed to the sink.
    pub fn written(&self) -> u64 {
        self.counters.written.load(Ordering::Relaxed)
    }
}

/// Stderr, locked for each batch so a batch does not interleave with `tracing`'s own lines
/// (which take the same process-wide lock).
struct StderrSink;

impl Write for StderrSink {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        std::io::stderr().lock().write(bytes)
    }

    fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        std::io::stderr().lock().write_all(bytes)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().lock().flush()
    }
}

fn write_loop<W: Write>(rx: Receiver<Record>, mut sink: W, counters: &Counters) {
    let mut buf = Vec::with_capacity(BATCH_BYTES + 1024);
    let mut clock = LineClock::default();
    // Blocks until a line arrives; ends when every handle is gone and the queue is empty.
    while let Ok(first) = rx.recv() {
        std::thread::sleep(BATCH_WINDOW);
        let mut lines = 1;
        format_line_with(&mut buf, &first, &mut clock);
        drop(first);
        loop {
            let more = rx.try_recv();
            if let Ok(record) = &more {
                format_line_with(&mut buf, record, &mut clock);
                lines += 1;
            }
            if (more.is_err() || buf.len() >= BATCH_BYTES) && !buf.is_empty() {
                // A failing sink (closed stderr) loses the batch; requests are not affected.
                if sink.write_all(&buf).and_then(|()| sink.flush()).is_ok() {
                    counters.written.fetch_add(lines, Ordering::Relaxed);
                }
                buf.clear();
                lines = 0;
            }
            if more.is_err() {
                break;
            }
        }
    }
}

/// Appends one JSON line for `record` to `buf`.
pub fn format_line(buf: &mut Vec<u8>, record: &Record) {
    format_line_with(buf, record, &mut LineClock::default());
}

/// The `timestamp` of the lines: `2026-12-06T03:49:22.123456Z`, as `tracing`'s JSON lines
/// (chrono's `%Y-%m-%dT%H:%M:%S%.6fZ`). The date and time of day change once a second, so they
/// are formatted once per second and the microseconds appended to them.
#[derive(Default)]
struct LineClock {
    second: Option<i64>,
    prefix: Vec<u8>,
}

impl LineClock {
    fn write(&mut self, buf: &mut Vec<u8>, at: SystemTime) {
        let at = chrono::DateTime::<chrono::Utc>::from(at);
        let second = at.timestamp();
        if self.second != Some(second) {
            self.prefix.clear();
            let _ = write!(self.prefix, "{}", at.format("%Y-%m-%dT%H:%M:%S"));
            self.second = Some(second);
        }
        buf.extend_from_slice(&self.prefix);
        // Below a second; a leap second's nanoseconds (>= 1e9) print 7 digits, as chrono does.
        let micros = at.timestamp_subsec_micros();
        buf.push(b'.');
        let start = buf.len();
        decimal(buf, u64::from(micros));
        let digits = buf.len() - start;
        if digits < 6 {
            buf.splice(start..start, std::iter::repeat_n(b'0', 6 - digits));
        }
        buf.push(b'Z');
    }
}

/// `n` in decimal, without `fmt`'s machinery.
fn decimal(buf: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    buf.extend_from_slice(&digits[i..]);
}

fn format_line_with(buf: &mut Vec<u8>, record: &Record, clock: &mut LineClock) {
    buf.extend_from_slice(b"{\"timestamp\":\"");
    clock.write(buf, record.at);
    buf.extend_from_slice(
        b"\",\"level\":\"INFO\",\"fields\":{\"message\":\"request\",\"request_id\":",
    );
    let request_id = record
        .request_id
        .as_ref()
        .map_or(&b""[..], crate::middleware::RequestId::as_bytes);
    json_string(buf, request_id);
    buf.extend_from_slice(b",\"method\":");
    json_string(buf, record.method.as_str().as_bytes());
    buf.extend_from_slice(b",\"route\":");
    json_string(buf, record.route.as_str().as_bytes());
    buf.extend_from_slice(b",\"status\":");
    decimal(buf, u64::from(record.status));
    buf.extend_from_slice(b",\"latency_us\":");
    decimal(buf, record.latency_us);
    if record.workspace.len > 0 {
        buf.extend_from_slice(b",\"workspace\":");
        json_string(buf, record.workspace.as_str().as_bytes());
    }
    buf.extend_from_slice(b"},\"target\":\"nexus_gateway::access\"}\n");
}

/// A JSON string literal. Every value logged here is validated ASCII already; escaping anyway
/// keeps a line parseable whatever a future caller passes.
fn json_string(buf: &mut Vec<u8>, bytes: &[u8]) {
    buf.push(b'"');
    // What is logged is nearly always plain: copied at once instead of byte by byte.
    if bytes
        .iter()
        .all(|&b| matches!(b, 0x20..=0x7e) && b != b'"' && b != b'\\')
    {
        buf.extend_from_slice(bytes);
        buf.push(b'"');
        return;
    }
    for &b in bytes {
        match b {
            b'"' => buf.extend_from_slice(b"\\\""),
            b'\\' => buf.extend_from_slice(b"\\\\"),
            0x20..=0x7e => buf.push(b),
            // Control characters and non-ASCII bytes: \u00XX (a byte is never half a
            // character here because only ASCII reaches this point in practice).
            _ => {
                let _ = write!(buf, "\\u{:04x}", b);
            }
        }
    }
    buf.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_what_json_needs() {
        let literal = |bytes: &[u8]| {
            let mut buf = Vec::new();
            json_string(&mut buf, bytes);
            String::from_utf8(buf).unwrap()
        };
        let parsed: String = serde_json::from_str(&literal(b"a\"b\\c\n\xff")).unwrap();
        assert_eq!(parsed, "a\"b\\c\n\u{ff}");
        // Each of them alone, in a plain string, is escaped too.
        for (raw, escaped) in [
            ("x\"", "\"x\\\"\""),
            ("\\", "\"\\\\\""),
            ("\n", "\"\\u000a\""),
        ] {
            assert_eq!(literal(raw.as_bytes()), escaped);
        }
        assert_eq!(literal(b"plain-id_1.2:3"), "\"plain-id_1.2:3\"");
    }

    #[test]
    fn timestamps_match_chronos_format_across_seconds() {
        let mut clock = LineClock::default();
        let base = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_796_522_962);
        // Micros with leading zeros, the last microsecond of a second, the next second (the
        // cached date and time are renewed), and back (a clock step).
        for offset_ns in [
            0u64,
            7_000,
            42_123_456,
            999_999_999,
            1_000_000_000,
            86_400_000_001_000,
            5_000,
        ] {
            let at = base + std::time::Duration::from_nanos(offset_ns);
            let mut ours = Vec::new();
            clock.write(&mut ours, at);
            let chrono = chrono::DateTime::<chrono::Utc>::from(at)
                .format("%Y-%m-%dT%H:%M:%S%.6fZ")
                .to_string();
            assert_eq!(String::from_utf8(ours).unwrap(), chrono);
        }
    }

    #[test]
    fn a_line_has_every_field_in_order() {
        let at = SystemTime::UNIX_EPOCH + std::time::Duration::from_micros(1_796_522_962_000_042);
        let record = Record {
            at,
            method: Method::GET,
            route: Route::Unmatched,
            status: 403,
            latency_us: 18_446_744_073_709_551_615,
            request_id: Some(crate::middleware::RequestId::given(
                axum::http::HeaderValue::from_static("req-1"),
            )),
            workspace: Workspace::new("acme"),
        };
        let mut buf = Vec::new();
        format_line(&mut buf, &record);
        assert_eq!(
            String::from_utf8(buf).unwrap(),
            "{\"timestamp\":\"2026-12-06T02:09:22.000042Z\",\"level\":\"INFO\",\"fields\":{\"message\":\"request\",\
             \"request_id\":\"req-1\",\"method\":\"GET\",\"route\":\"unmatched\",\"status\":403,\
             \"latency_us\":18446744073709551615,\"workspace\":\"acme\"},\"target\":\"nexus_gateway::access\"}\n"
        );
    }

    #[test]
    fn the_wall_clock_follows_the_system_clock() {
        let before = SystemTime::now();
        let start = Instant::now();
        let first = wall_clock(start);
        assert!(first >= before && first <= SystemTime::now());
        // Within the renewal time: the anchor's system time plus the monotonic time since.
        let later = start + Duration::from_millis(30);
        assert_eq!(wall_clock(later), first + Duration::from_millis(30));
        // Past it (or before the anchor): the system clock read again.
        let after = start + WALL_CLOCK_RENEWAL * 2;
        let renewed = wall_clock(after);
        assert!(renewed >= first && renewed <= SystemTime::now());
        assert_eq!(
            wall_clock(after + Duration::from_millis(1)),
            renewed + Duration::from_millis(1)
        );
        let read = wall_clock(start);
        assert!(read >= renewed && read <= SystemTime::now());
    }

    #[test]
    fn an_overlong_workspace_is_left_out() {
        assert_eq!(Workspace::new(&"w".repeat(65)).as_str(), "");
        assert_eq!(Workspace::new("acme").as_str(), "acme");
    }
}
