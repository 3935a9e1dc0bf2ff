//! The dispatcher: sends the outbox, in the broker process.
//!
//! Each round claims due deliveries (`Store::claim_deliveries`: the head of each
//! (endpoint, connection) chain only, leased to this process, safe across processes), sends
//! them concurrently (they belong to different chains), and records the outcome:
//! 2xx → delivered; 410 → the endpoint is disabled and its open deliveries cancelled; anything
//! else (status, timeout, refused connection) → retried after the backoff step (±20 % jitter,
//! `Retry-After` up to an hour honoured), or dead once attempts or age are exhausted.
//! A process that dies mid-delivery loses its lease; another re-claims and sends the same
//! `webhook-id` again (at least once: receivers dedupe on it).
//!
//! Once an hour each dispatcher also prunes: delivered rows after 7 days, events (with their
//! dead letters) after 30 days, in batches of 1000.
//!
//! Rounds run when woken (`wake`, or PostgreSQL `LISTEN` on the outbox channel, notified by
//! the emitting transaction's commit) and every `poll` interval. The schedule uses an
//! injectable clock so tests can move time instead of waiting.

use super::WebhookConfig;
use super::guard::{GuardedResolver, check_url};
use super::sign::signature_header;
use crate::store::events::WEBHOOKS_CHANNEL;
use crate::store::webhooks::{AttemptRecord, ClaimedDelivery, Completion, DeliveryKey};
use crate::store::{Backend, Store, StoreError, now_ms};
use nexus_protocol::webhooks::{HEADER_ID, HEADER_SIGNATURE, HEADER_TIMESTAMP};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// At most this much of a receiver's answer is read.
const ANSWER_CAP: usize = 4096;
/// At most this much of it is kept in `last_error`.
const ERROR_KEEP: usize = 200;
/// Deliveries claimed per round.
const BATCH: i64 = 32;
/// The longest `Retry-After` honoured.
const MAX_RETRY_AFTER_MS: i64 = 3_600_000;
/// Retention: delivered deliveries are kept 7 days, events (and dead letters) 30 days.
const KEEP_DELIVERED_MS: i64 = 7 * 24 * 3_600_000;
const KEEP_EVENTS_MS: i64 = 30 * 24 * 3_600_000;
const PRUNE_BATCH: i64 = 1000;
/// How often a dispatcher prunes.
const PRUNE_EVERY_MS: i64 = 3_600_000;

/// Milliseconds since the epoch, as the dispatcher schedules (replaceable in tests).
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

pub struct Dispatcher {
    store: Store,
    http: reqwest::Client,
    config: WebhookConfig,
    /// This process's lease owner name.
    owner: String,
    clock: Clock,
    wake: Notify,
}

/// What one HTTP attempt returned.
struct Answer {
    status: Option<u16>,
    error: Option<String>,
    retry_after_ms: Option<i64>,
}

impl Dispatcher {
    pub fn new(store: Store, config: WebhookConfig) -> Self {
        Self::with_clock(store, config, Arc::new(now_ms))
    }

    pub fn with_clock(store: Store, config: WebhookConfig, clock: Clock) -> Self {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(config.timeout)
            .connect_timeout(config.timeout.min(Duration::from_secs(5)))
            .dns_resolver(Arc::new(GuardedResolver {
                allow_loopback: config.allow_loopback,
            }))
            .user_agent(concat!("nexus-webhooks/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("the webhook HTTP client builds");
        Self {
            store,
            http,
            config,
            owner: format!("dispatcher-{}", uuid::Uuid::new_v4().simple()),
            clock,
            wake: Notify::new(),
        }
    }

    /// Run a round soon (after a commit that queued deliveries).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Claim what is due now and send it. Returns how many attempts were made.
    pub async fn run_once(&self) -> Result<usize, StoreError> {
        let now = (self.clock)();
        let lease = self.config.lease.as_millis() as i64;
        let keys = self
            .store
            .claim_deliveries(&self.owner, now, lease, BATCH)
            .await?;
        let attempts = keys.iter().map(|key| self.attempt(key));
        let results = futures::future::join_all(attempts).await;
        for r in &results {
            if let Err(e) = r {
                tracing::warn!(error = %e, "webhook delivery bookkeeping failed");
            }
        }
        Ok(keys.len())
    }

    /// Rounds until the task is dropped: on wake-ups, PostgreSQL notifications and every
    /// `poll`. `database_url` is used for `LISTEN` (PostgreSQL only).
    pub async fn run(self: Arc<Self>, database_url: String) {
        if self.store.backend() == Backend::Postgres {
            let me = self.clone();
            tokio::spawn(async move { me.listen(database_url).await });
        }
        let mut pruned_at = i64::MIN;
        loop {
            if (self.clock)().saturating_sub(pruned_at) >= PRUNE_EVERY_MS {
                pruned_at = (self.clock)();
                if let Err(e) = self.prune().await {
                    tracing::warn!(error = %e, "webhook retention failed");
                }
            }
            match self.run_once().await {
                // A full batch: there may be more due right away.
                Ok(n) if n as i64 >= BATCH => continue,
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "webhook dispatch round failed"),
            }
            let _ = tokio::time::timeout(self.config.poll, self.wake.notified()).await;
        }
    }

    /// Retention: remove old delivered deliveries and old finished events, in batches, until
    /// none is left. Rows removed.
    pub async fn prune(&self) -> Result<u64, StoreError> {
        let now = (self.clock)();
        let mut total = 0;
        loop {
            let n = self
                .store
                .prune_webhooks(now - KEEP_DELIVERED_MS, now - KEEP_EVENTS_MS, PRUNE_BATCH)
                .await?;
            total += n;
            if n == 0 {
                return Ok(total);
            }
        }
    }

    async fn listen(self: Arc<Self>, database_url: String) {
        loop {
            match sqlx::postgres::PgListener::connect(&database_url).await {
                Ok(mut listener) => {
                    if listener.listen(WEBHOOKS_CHANNEL).await.is_ok() {
                        while let Ok(Some(_)) = listener.try_recv().await {
                            self.wake();
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "webhook LISTEN connection failed"),
            }
            // Lost: the poll covers the gap; try again a little later.
            tokio::time::sleep(self.config.poll).await;
        }
    }

    async fn attempt(&self, key: &DeliveryKey) -> Result<(), StoreError> {
        let Some(delivery) = self.store.claimed_delivery(key, (self.clock)()).await? else {
            return Ok(());
        };
        let started = Instant::now();
        let answer = self.send(&delivery).await;
        let now = (self.clock)();
        let completion = self.decide(&delivery, &answer, now);
        let record = AttemptRecord {
            status: answer.status.map(i64::from),
            error: answer.error.as_deref(),
            duration_ms: started.elapsed().as_millis() as i64,
        };
        let kept = self
            .store
            .complete_delivery(&delivery, &self.owner, now, record, completion)
            .await?;
        if !kept {
            tracing::info!(
                delivery = key.id,
                "webhook lease lost; another dispatcher owns it"
            );
        }
        Ok(())
    }

    fn decide(&self, d: &ClaimedDelivery, answer: &Answer, now: i64) -> Completion {
        match answer.status {
            Some(s) if (200..300).contains(&s) => return Completion::Delivered,
            Some(410) => return Completion::Gone,
            _ => {}
        }
        let too_old = now - d.created_at >= self.config.max_age.as_millis() as i64;
        if d.attempts >= self.config.max_attempts || too_old {
            return Completion::Dead;
        }
        let step = self.backoff_ms(d.attempts);
        let wait = match answer.retry_after_ms {
            Some(ra) => ra.min(MAX_RETRY_AFTER_MS).max(step),
            None => step,
        };
        Completion::Retry {
            next_attempt_at: now + wait,
        }
    }

    /// The wait after failed attempt `n` (1-based): the schedule's step, ±20 % jitter.
    fn backoff_ms(&self, attempt: i64) -> i64 {
        let steps = &self.config.backoff;
        let i = (attempt.max(1) as usize - 1).min(steps.len().saturating_sub(1));
        let base = steps.get(i).map_or(5000, |d| d.as_millis() as i64);
        let jitter = base / 5;
        base + if jitter > 0 {
            rand::random_range(-jitter..=jitter)
        } else {
            0
        }
    }

    async fn send(&self, d: &ClaimedDelivery) -> Answer {
        let failed = |error: String| Answer {
            status: None,
            error: Some(error),
            retry_after_ms: None,
        };
        // The URL was checked when it was added; checked again in case the rules changed.
        let url = match check_url(&d.url, self.config.allow_loopback) {
            Ok(u) => u,
            Err(e) => return failed(e),
        };
        // The signed timestamp is the wall clock (receivers compare it with theirs).
        let timestamp = now_ms() / 1000;
        let signature = signature_header(&d.secrets, &d.event_id, timestamp, &d.payload);
        let sent = self
            .http
            .post(url)
            .header(HEADER_ID, &d.event_id)
            .header(HEADER_TIMESTAMP, timestamp.to_string())
            .header(HEADER_SIGNATURE, signature)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(d.payload.clone())
            .send()
            .await;
        let mut response = match sent {
            Ok(r) => r,
            // reqwest's error names the URL, which the operator chose and may hold a token in
            // its path: keep only the kind of failure.
            Err(e) => return failed(transport_error(&e)),
        };
        let status = response.status().as_u16();
        let retry_after_ms = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<i64>().ok())
            .map(|s| s.saturating_mul(1000));
        // Read at most ANSWER_CAP bytes of the answer, however much the receiver sends.
        let mut body = Vec::new();
        while body.len() < ANSWER_CAP {
            match response.chunk().await {
                Ok(Some(chunk)) => body.extend_from_slice(&chunk),
                _ => break,
            }
        }
        let error = (!(200..300).contains(&status)).then(|| sanitize(&body));
        Answer {
            status: Some(status),
            error,
            retry_after_ms,
        }
    }
}

fn transport_error(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_redirect() {
        "redirect refused"
    } else {
        "request failed"
    };
    kind.to_owned()
}

/// Printable ASCII of the first bytes of an answer, for `last_error`.
fn sanitize(body: &[u8]) -> String {
    body.iter()
        .take(ERROR_KEEP)
        .map(|&b| {
            if (0x20..0x7f).contains(&b) {
                b as char
            } else {
                '?'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_sanitized_and_capped() {
        let s = sanitize(&[b'o', b'k', b'\n', 0xff].repeat(100));
        assert_eq!(s.len(), ERROR_KEEP);
        assert!(s.starts_with("ok??ok"));
    }
}
