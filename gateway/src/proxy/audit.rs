//! One audit record per proxied call (design 16 §10), sent to the broker in batches off the
//! request path: a bounded queue, flushed every [`MAX_AUDIT_BATCH`] records or 250 ms to
//! `POST /internal/v1/audit/proxy`, which appends them to the same audit trail as every other
//! event (action `proxy.request`). Up to [`IN_FLIGHT`] batches are sent at once, so the
//! broker always has the next batch while it commits one (one at a time left it idle for a
//! round trip and a JSON parse per batch, and the queue filled under load); a batch keeps its
//! order in the chain, batches in flight together may be stored in either order. Each call reserves its slot before it is forwarded, so a
//! record never waits and the queue never grows past its bound: with the queue full, a new call
//! waits up to 2 s for a slot, then is refused (503, retryable) rather than forwarded
//! unrecorded. A broker that refuses or is down gets the batch again with a growing delay.
//! Records still queued when the gateway process dies are lost (the documented loss window).

use super::Target;
use super::body::BodyEnd;
use super::path::NormalPath;
use super::tokens::TokenRequest;
use crate::broker::BrokerClient;
use crate::error::ApiError;
use crate::metrics::Metrics;
use axum::http::Method;
use nexus_protocol::internal::Principal;
use nexus_protocol::proxy::{MAX_AUDIT_BATCH, ProxyAuditRecord};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use tokio::sync::{Semaphore, mpsc};

const QUEUE: usize = 10_000;
const FLUSH_EVERY: Duration = Duration::from_millis(250);
/// Batches sent to the broker at once (each acknowledged only once stored; each retried alone).
pub(crate) const IN_FLIGHT: usize = 3;
/// How long a call waits for a free audit slot before it is refused.
pub(crate) const RESERVE_WAIT: Duration = Duration::from_secs(2);
const MAX_TEMPLATE: usize = 256;

/// How a call ended, for the record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    UpstreamError,
    GatewayError,
    ResponseTruncated,
    ClientAborted,
}

impl Outcome {
    pub fn from_end(end: BodyEnd, status: u16) -> Self {
        match end {
            BodyEnd::Complete if status >= 400 => Self::UpstreamError,
            BodyEnd::Complete => Self::Ok,
            BodyEnd::UpstreamError => Self::UpstreamError,
            BodyEnd::Truncated => Self::ResponseTruncated,
            BodyEnd::ClientAborted => Self::ClientAborted,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::UpstreamError => "upstream_error",
            Self::GatewayError => "gateway_error",
            Self::ResponseTruncated => "response_truncated",
            Self::ClientAborted => "client_aborted",
        }
    }
}

/// What is known of a call before its answer ends.
pub struct CallFacts {
    record: ProxyAuditRecord,
    started: Instant,
    pub latency_ms: u64,
    pub bytes_in: u64,
    pub retried_401: bool,
    pub throttle_retries: u8,
}

impl CallFacts {
    pub fn new(
        principal: &Principal,
        call: &TokenRequest,
        method: &Method,
        target: &Target,
        path: &NormalPath,
        started: Instant,
    ) -> Self {
        Self {
            record: ProxyAuditRecord {
                request_id: Some(call.request_id.clone()).filter(|id| !id.is_empty()),
                workspace_id: call.workspace_id.clone(),
                principal: principal.audit_label(),
                provider: call.provider_name.clone(),
                method: method.as_str().to_owned(),
                host: target.host().to_owned(),
                path_template: template_of(path.segments()),
                status: 0,
                outcome: String::new(),
                error_code: None,
                latency_ms: 0,
                duration_ms: 0,
                bytes_in: 0,
                bytes_out: 0,
                retried_401: false,
                throttle_retries: 0,
            },
            started,
            latency_ms: 0,
            bytes_in: 0,
            retried_401: false,
            throttle_retries: 0,
        }
    }

    pub fn finish(
        self,
        status: u16,
        outcome: Outcome,
        error_code: Option<&str>,
        bytes_out: u64,
    ) -> ProxyAuditRecord {
        let duration_ms = self.started.elapsed().as_millis() as u64;
        ProxyAuditRecord {
            status,
            outcome: outcome.as_str().to_owned(),
            error_code: error_code.map(str::to_owned),
            latency_ms: if status == 0 {
                duration_ms
            } else {
                self.latency_ms
            },
            duration_ms,
            bytes_in: self.bytes_in,
            bytes_out,
            retried_401: self.retried_401,
            throttle_retries: self.throttle_retries,
            ..self.record
        }
    }
}

/// `/contacts/12345/notes` → `/contacts/{id}/notes`: segments that look like ids (all digits,
/// a UUID, or 16+ characters of `[A-Za-z0-9_-]`) are not kept, capped at 256 bytes.
pub fn template(joined: &str) -> String {
    template_of(joined.split('/'))
}

/// [`template`] of a path's segments, written in one buffer.
fn template_of<'a>(segments: impl Iterator<Item = &'a str>) -> String {
    let mut out = String::with_capacity(64);
    out.push('/');
    for (i, seg) in segments.enumerate() {
        if i > 0 {
            out.push('/');
        }
        out.push_str(if looks_like_id(seg) { "{id}" } else { seg });
        if out.len() > MAX_TEMPLATE {
            // The rest would be cut below anyway.
            break;
        }
    }
    if out.len() > MAX_TEMPLATE {
        let mut cut = MAX_TEMPLATE;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
    }
    out
}

fn looks_like_id(seg: &str) -> bool {
    let digits = !seg.is_empty() && seg.bytes().all(|b| b.is_ascii_digit());
    let uuid = seg.len() == 36 && uuid::Uuid::parse_str(seg).is_ok();
    let token = seg.len() >= 16
        && seg
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    digits || uuid || token
}

/// The gateway's side of the audit trail for proxied calls. The flushing task starts with the
/// first record (inside the server's runtime).
pub struct ProxyAudit {
    broker: BrokerClient,
    metrics: Arc<Metrics>,
    capacity: usize,
    reserve_wait: Duration,
    queue: OnceLock<mpsc::Sender<ProxyAuditRecord>>,
}

impl ProxyAudit {
    pub fn new(broker: BrokerClient, metrics: Arc<Metrics>) -> Self {
        Self::with_capacity(broker, metrics, QUEUE, RESERVE_WAIT)
    }

    fn with_capacity(
        broker: BrokerClient,
        metrics: Arc<Metrics>,
        capacity: usize,
        reserve_wait: Duration,
    ) -> Self {
        Self {
            broker,
            metrics,
            capacity,
            reserve_wait,
            queue: OnceLock::new(),
        }
    }

    fn queue(&self) -> &mpsc::Sender<ProxyAuditRecord> {
        self.queue.get_or_init(|| {
            let (queue, receiver) = mpsc::channel(self.capacity);
            tokio::spawn(flush_loop(receiver, self.broker.clone()));
            queue
        })
    }

    /// Reserve the queue slot a call's record will take, before the call is forwarded. When
    /// every slot is taken (the broker stores records more slowly than calls arrive) the call
    /// waits up to [`RESERVE_WAIT`] for one, inside its own handler (a burst is absorbed as
    /// latency, and the waiters are bounded by the listener's connection caps), then is
    /// refused, retryable, rather than forwarded unrecorded or queued without bound: an earlier
    /// version spawned a task per record once the queue was full, and a sustained load grew the
    /// gateway by ~120 MiB per 100k calls.
    pub async fn reserve(&self) -> Result<AuditSlot, ApiError> {
        let queue = self.queue();
        // The common case: a free slot, taken at once (no timer is armed).
        let full = match queue.clone().try_reserve_owned() {
            Ok(permit) => return Ok(AuditSlot(permit)),
            Err(mpsc::error::TrySendError::Full(queue)) => queue,
            Err(mpsc::error::TrySendError::Closed(_)) => return Err(queue_full()),
        };
        let reserved = tokio::time::timeout(self.reserve_wait, full.reserve_owned()).await;
        let refused = !matches!(reserved, Ok(Ok(_)));
        self.metrics.proxy_audit_full(refused);
        match reserved {
            Ok(Ok(permit)) => Ok(AuditSlot(permit)),
            // Elapsed, or the flushing task is gone (the runtime is shutting down).
            Ok(Err(_)) | Err(_) => Err(queue_full()),
        }
    }
}

/// The retryable refusal of a call that found no audit slot.
fn queue_full() -> ApiError {
    let mut err = ApiError::unavailable("the gateway's proxy audit queue is full; retry shortly");
    err.body.retry_after = Some(1);
    err
}

/// A reserved place in the audit queue: recording never waits and never allocates a task.
/// Dropped unused (a call refused before it was forwarded), it frees the place.
pub struct AuditSlot(mpsc::OwnedPermit<ProxyAuditRecord>);

impl AuditSlot {
    pub fn record(self, record: ProxyAuditRecord) {
        self.0.send(record);
    }
}

async fn flush_loop(mut receiver: mpsc::Receiver<ProxyAuditRecord>, broker: BrokerClient) {
    let sending = Arc::new(Semaphore::new(IN_FLIGHT));
    loop {
        // Collect the next batch only once it can be sent: meanwhile the records wait in the
        // bounded queue, and the batch taken when a sender frees up is a full one.
        let Ok(permit) = sending.clone().acquire_owned().await else {
            return;
        };
        let Some(first) = receiver.recv().await else {
            return;
        };
        let mut batch = Vec::with_capacity(MAX_AUDIT_BATCH);
        batch.push(first);
        let deadline = tokio::time::sleep(FLUSH_EVERY);
        tokio::pin!(deadline);
        while batch.len() < MAX_AUDIT_BATCH {
            tokio::select! {
                _ = &mut deadline => break,
                next = receiver.recv() => match next {
                    Some(record) => batch.push(record),
                    None => break,
                },
            }
        }
        let broker = broker.clone();
        tokio::spawn(async move {
            send_until_stored(&broker, &batch).await;
            drop(permit);
        });
    }
}

/// Send one batch until the broker acknowledges it stored (a refusal or an outage is retried
/// with a growing delay; the batch is never dropped while the gateway runs).
async fn send_until_stored(broker: &BrokerClient, batch: &[ProxyAuditRecord]) {
    let mut delay = Duration::from_millis(100);
    while let Err(err) = broker.append_proxy_audit(batch).await {
        tracing::warn!(records = batch.len(), error = %err.body.message, "proxy audit batch not stored; retrying");
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(30));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unreachable_broker() -> BrokerClient {
        BrokerClient::new(
            "http://127.0.0.1:9",
            nexus_protocol::SecretString::from("internal-token-for-the-queue-test"),
            Duration::from_secs(1),
            Duration::from_secs(1),
            Default::default(),
        )
        .expect("client")
    }

    /// The queue is a hard bound: with every slot reserved (a broker that stores nothing), the
    /// next call waits, gets a slot as soon as one is freed, and is refused with a retryable
    /// 503 when none is freed within the wait (50 ms here; the refusal, not its timing, is
    /// asserted).
    #[tokio::test]
    async fn a_full_queue_makes_calls_wait_then_refuses() {
        let metrics = Arc::new(Metrics::default());
        let audit = ProxyAudit::with_capacity(
            unreachable_broker(),
            metrics.clone(),
            2,
            Duration::from_millis(50),
        );
        let first = audit.reserve().await.expect("slot 1");
        let _second = audit.reserve().await.expect("slot 2");
        let Err(refused) = audit.reserve().await else {
            panic!("a third call got a slot in a queue of two");
        };
        assert_eq!(refused.status.as_u16(), 503);
        assert_eq!(refused.body.retry_after, Some(1));
        let counted = metrics.render();
        assert!(
            counted.contains("nexus_gateway_proxy_audit_refused_total 1\n"),
            "{counted}"
        );

        let waiting = audit.reserve();
        tokio::pin!(waiting);
        assert!(
            futures::poll!(&mut waiting).is_pending(),
            "no slot is free yet"
        );
        drop(first);
        assert!(
            waiting.await.is_ok(),
            "the freed slot goes to the waiting call"
        );
        let counted = metrics.render();
        assert!(
            counted.contains("nexus_gateway_proxy_audit_queue_full_total 2\n"),
            "both calls that found the queue full are counted: {counted}"
        );
        assert!(counted.contains("nexus_gateway_proxy_audit_refused_total 1\n"));
    }

    fn record(n: usize) -> ProxyAuditRecord {
        ProxyAuditRecord {
            request_id: Some(format!("r{n}")),
            workspace_id: "w".into(),
            principal: "api_key:k".into(),
            provider: "p".into(),
            method: "GET".into(),
            host: "h".into(),
            path_template: "/x".into(),
            status: 200,
            outcome: "ok".into(),
            error_code: None,
            latency_ms: 1,
            duration_ms: 1,
            bytes_in: 0,
            bytes_out: 0,
            retried_401: false,
            throttle_retries: 0,
        }
    }

    /// A broker on loopback that holds every batch until released, counting how many are
    /// open at once and which records arrived.
    #[derive(Default)]
    struct HoldingBroker {
        open: std::sync::atomic::AtomicUsize,
        max_open: std::sync::atomic::AtomicUsize,
        received: parking_lot::Mutex<Vec<String>>,
        arrived: tokio::sync::watch::Sender<usize>,
        release: tokio::sync::watch::Sender<bool>,
    }

    async fn hold(
        axum::extract::State(broker): axum::extract::State<Arc<HoldingBroker>>,
        axum::Json(batch): axum::Json<nexus_protocol::proxy::ProxyAuditBatch>,
    ) -> axum::Json<serde_json::Value> {
        use std::sync::atomic::Ordering::SeqCst;
        let open = broker.open.fetch_add(1, SeqCst) + 1;
        broker.max_open.fetch_max(open, SeqCst);
        let stored = batch.records.len();
        broker
            .received
            .lock()
            .extend(batch.records.into_iter().filter_map(|r| r.request_id));
        broker.arrived.send_modify(|n| *n += 1);
        let _ = broker.release.subscribe().wait_for(|go| *go).await;
        broker.open.fetch_sub(1, SeqCst);
        axum::Json(serde_json::json!({ "stored": stored }))
    }

    /// While the broker is still storing a batch, the next ones are already sent ([`IN_FLIGHT`]
    /// at once, never more): one at a time, the first held batch blocked every other record.
    /// Once released, every record has arrived exactly once.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn batches_are_sent_while_earlier_ones_are_being_stored() {
        let stub = Arc::new(HoldingBroker::default());
        let app = axum::Router::new()
            .route(
                nexus_protocol::proxy::AUDIT_BATCH_PATH,
                axum::routing::post(hold),
            )
            .with_state(stub.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        let broker = BrokerClient::new(
            &url,
            nexus_protocol::SecretString::from("internal-token-for-the-queue-test"),
            Duration::from_secs(30),
            Duration::from_secs(1),
            Default::default(),
        )
        .expect("client");
        let audit = ProxyAudit::new(broker, Arc::new(Metrics::default()));
        let total = IN_FLIGHT * MAX_AUDIT_BATCH + 7;
        for n in 0..total {
            audit.reserve().await.expect("slot").record(record(n));
        }
        let mut arrived = stub.arrived.subscribe();
        tokio::time::timeout(
            Duration::from_secs(20),
            arrived.wait_for(|n| *n >= IN_FLIGHT),
        )
        .await
        .expect("more batches sent while the first is unacknowledged")
        .expect("watch");
        stub.release.send_replace(true);
        let mut received = stub.received.lock().len();
        let deadline = Instant::now() + Duration::from_secs(20);
        while received < total {
            assert!(
                Instant::now() < deadline,
                "only {received} of {total} records arrived"
            );
            let _ = tokio::time::timeout(Duration::from_secs(1), arrived.changed()).await;
            received = stub.received.lock().len();
        }
        let mut ids = stub.received.lock().clone();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), total, "every record once");
        assert!(
            stub.max_open.load(std::sync::atomic::Ordering::SeqCst) <= IN_FLIGHT,
            "never more than IN_FLIGHT batches at once"
        );
    }

    #[test]
    fn templates_hide_ids_and_keep_the_shape() {
        assert_eq!(template("contacts/12345/notes"), "/contacts/{id}/notes");
        assert_eq!(
            template("users/5f0c6c2e-0f1d-4c47-9c8e-2f3a1b4c5d6e"),
            "/users/{id}"
        );
        assert_eq!(template("files/AbCdEfGhIjKlMnOp_q"), "/files/{id}");
        assert_eq!(template("v1/me/"), "/v1/me/");
        assert_eq!(template(&"a/".repeat(300)).len(), MAX_TEMPLATE);
    }
}
