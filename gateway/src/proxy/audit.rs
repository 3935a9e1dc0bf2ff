//! One audit record per proxied call (design 16 §10), sent to the broker in batches off the
//! request path: a bounded queue, flushed every [`MAX_AUDIT_BATCH`] records or 250 ms to
//! `POST /internal/v1/audit/proxy`, which appends them to the same audit trail as every other
//! event (action `proxy.request`). Each call reserves its slot before it is forwarded, so a
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
use tokio::sync::mpsc;

const QUEUE: usize = 10_000;
const FLUSH_EVERY: Duration = Duration::from_millis(250);
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
                path_template: template(&path.joined()),
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
    let mut out = String::from("/");
    let segments: Vec<&str> = joined
        .split('/')
        .map(|seg| if looks_like_id(seg) { "{id}" } else { seg })
        .collect();
    out.push_str(&segments.join("/"));
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
    let mut batch = Vec::with_capacity(MAX_AUDIT_BATCH);
    loop {
        let Some(first) = receiver.recv().await else {
            return;
        };
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
        let mut delay = Duration::from_millis(100);
        while let Err(err) = broker.append_proxy_audit(&batch).await {
            tracing::warn!(records = batch.len(), error = %err.body.message, "proxy audit batch not stored; retrying");
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(30));
        }
        batch.clear();
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
