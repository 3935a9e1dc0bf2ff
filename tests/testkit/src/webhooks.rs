//! A webhook receiver on loopback that checks every request the way the Standard Webhooks
//! specification tells receivers to, with its own code: HMAC-SHA256 is computed here from
//! SHA-256 (RFC 2104), not by the broker's signer or an HMAC crate, so a signer bug cannot
//! hide behind the same bug in the verifier.
//!
//! The receiver is controllable ([`ReceiverMode`]: accept, answer a status, hang, or be down
//! with its port closed) and observable: [`WebhookReceiver::wait_until`] waits for a condition
//! on what it received, woken by each request (no sleeps).

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use parking_lot::Mutex;
use sha2::{Digest, Sha256};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::watch;

/// How far a `webhook-timestamp` may be from this machine's clock.
const TOLERANCE_SECS: i64 = 300;

/// What the receiver does with the next requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReceiverMode {
    /// Verify and answer 204 (401 for a bad signature).
    Accept,
    /// Verify, record, and answer this status anyway.
    Fail(u16),
    /// Never answer (the sender's timeout fires).
    Hang,
}

/// One request that carried a valid signature.
#[derive(Debug, Clone)]
pub struct Received {
    pub webhook_id: String,
    pub timestamp: i64,
    pub signature_header: String,
    pub body: String,
    pub event_type: String,
    pub connection_id: String,
    pub sequence: i64,
    /// The status the receiver answered.
    pub answered: u16,
}

/// Everything the receiver saw.
#[derive(Debug, Clone, Default)]
pub struct ReceiverLog {
    /// Validly signed requests, in arrival order (including ones answered with an error).
    pub received: Vec<Received>,
    /// Requests refused for a missing, stale or wrong signature.
    pub rejected: usize,
}

impl ReceiverLog {
    /// The requests answered 2xx (what the sender counts as delivered).
    pub fn accepted(&self) -> Vec<&Received> {
        self.received
            .iter()
            .filter(|r| (200..300).contains(&r.answered))
            .collect()
    }
}

struct Shared {
    secrets: Mutex<Vec<String>>,
    mode: Mutex<ReceiverMode>,
    log: watch::Sender<ReceiverLog>,
}

pub struct WebhookReceiver {
    addr: SocketAddr,
    shared: Arc<Shared>,
    server: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Drop for WebhookReceiver {
    fn drop(&mut self) {
        if let Some(task) = self.server.lock().take() {
            task.abort();
        }
    }
}

impl WebhookReceiver {
    /// Listen on `127.0.0.1:0`. Set the secrets with [`Self::set_secrets`] once they exist.
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the webhook receiver");
        let addr = listener.local_addr().expect("receiver address");
        let shared = Arc::new(Shared {
            secrets: Mutex::new(Vec::new()),
            mode: Mutex::new(ReceiverMode::Accept),
            log: watch::channel(ReceiverLog::default()).0,
        });
        let receiver = Self {
            addr,
            shared,
            server: Mutex::new(None),
        };
        receiver.serve(listener);
        receiver
    }

    fn serve(&self, listener: tokio::net::TcpListener) {
        let app = Router::new()
            .route("/hook", post(receive))
            .with_state(self.shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        *self.server.lock() = Some(task);
    }

    /// The endpoint URL to register.
    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    /// The `whsec_…` secrets any of which may sign a request.
    pub fn set_secrets<S: Into<String>>(&self, secrets: impl IntoIterator<Item = S>) {
        *self.shared.secrets.lock() = secrets.into_iter().map(Into::into).collect();
    }

    pub fn set_mode(&self, mode: ReceiverMode) {
        *self.shared.mode.lock() = mode;
    }

    /// Close the listening socket: connections are refused until [`Self::up`].
    pub fn down(&self) {
        if let Some(task) = self.server.lock().take() {
            task.abort();
        }
    }

    /// Listen again on the same port.
    pub async fn up(&self) {
        let listener = tokio::net::TcpListener::bind(self.addr)
            .await
            .expect("re-bind the webhook receiver's port");
        self.serve(listener);
    }

    pub fn log(&self) -> ReceiverLog {
        self.shared.log.borrow().clone()
    }

    /// Wait until `done(log)` holds, re-checked on every request; `Err` with the log at the
    /// deadline.
    pub async fn wait_until(
        &self,
        deadline: Duration,
        done: impl Fn(&ReceiverLog) -> bool,
    ) -> Result<ReceiverLog, ReceiverLog> {
        let mut rx = self.shared.log.subscribe();
        let waited = tokio::time::timeout(deadline, rx.wait_for(|log| done(log))).await;
        match waited {
            Ok(Ok(log)) => Ok(log.clone()),
            _ => Err(self.log()),
        }
    }
}

async fn receive(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let (id, ts, sig) = (
        header("webhook-id"),
        header("webhook-timestamp"),
        header("webhook-signature"),
    );
    let body = String::from_utf8_lossy(&body).into_owned();
    let secrets = shared.secrets.lock().clone();
    let timestamp = ts.parse::<i64>().unwrap_or(i64::MIN);
    let fresh = (now_secs() - timestamp).abs() <= TOLERANCE_SECS;
    let valid = fresh
        && secrets
            .iter()
            .any(|s| verify(s, &id, &ts, body.as_bytes(), &sig));
    if !valid {
        shared.log.send_modify(|log| log.rejected += 1);
        return StatusCode::UNAUTHORIZED;
    }
    let mode = *shared.mode.lock();
    let answered = match mode {
        ReceiverMode::Accept => 204,
        ReceiverMode::Fail(status) => status,
        ReceiverMode::Hang => {
            futures::future::pending::<()>().await;
            unreachable!()
        }
    };
    let event: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
    let record = Received {
        webhook_id: id,
        timestamp,
        signature_header: sig,
        event_type: event["type"].as_str().unwrap_or_default().to_owned(),
        connection_id: event["data"]["connection_id"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        sequence: event["data"]["sequence"].as_i64().unwrap_or(-1),
        body,
        answered,
    };
    shared.log.send_modify(|log| log.received.push(record));
    StatusCode::from_u16(answered).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Does `signature_header` hold a `v1` signature of `"{id}.{timestamp}.{body}"` under the
/// `whsec_` secret? Each space-separated entry is tried; the comparison is constant-time.
pub fn verify(
    secret: &str,
    id: &str,
    timestamp: &str,
    body: &[u8],
    signature_header: &str,
) -> bool {
    let Some(key) = secret
        .strip_prefix("whsec_")
        .and_then(|b64| STANDARD.decode(b64).ok())
    else {
        return false;
    };
    let mut content = format!("{id}.{timestamp}.").into_bytes();
    content.extend_from_slice(body);
    let expected = hmac_sha256(&key, &content);
    signature_header.split(' ').any(|entry| {
        entry
            .strip_prefix("v1,")
            .and_then(|b64| STANDARD.decode(b64).ok())
            .is_some_and(|sig| constant_time_eq(&sig, &expected))
    })
}

/// HMAC (RFC 2104) over SHA-256, block size 64.
fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| block.map(|b| b ^ byte);
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .into()
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 4231 test case 2, then the Standard Webhooks specification's example.
    #[test]
    fn hmac_and_verification_match_published_vectors() {
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            mac.iter().map(|b| format!("{b:02x}")).collect::<String>(),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let body = br#"{"test": 2432232314}"#;
        let good = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
        assert!(verify(
            secret,
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            "1614265330",
            body,
            good
        ));
        assert!(verify(
            secret,
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            "1614265330",
            body,
            &format!("v1,AAAA {good}")
        ));
        assert!(!verify(
            secret,
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            "1614265331",
            body,
            good
        ));
        assert!(!verify(
            secret,
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            "1614265330",
            b"{}",
            good
        ));
        assert!(!verify(
            "whsec_AAAA",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            "1614265330",
            body,
            good
        ));
    }
}
