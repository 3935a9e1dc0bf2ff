//! [`RecordingUpstream`]: a raw HTTP/1.1 server on loopback that records exactly what it
//! received — method, request target, header lines with their names as sent (case and order),
//! body bytes — and answers from a script. Written on bare TCP (no HTTP library between the
//! wire and the record) so a proxy's header handling is seen as it really is.
//!
//! Each connection carries one request and is closed after the answer (`Connection: close`).
//! Scripted answers ([`Reply`]) can be fixed, withheld (to test timeouts), or streamed in two
//! parts with the second held until the test releases it (to prove a response streams).
//! [`RecordingUpstream::body_progress`] reports request-body bytes as they arrive (to prove an
//! upload streams).

use parking_lot::Mutex;
use std::collections::VecDeque;
use std::sync::Arc;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};

/// One request as it arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawRequest {
    pub method: String,
    /// The request target exactly as sent (path and query, still percent-encoded).
    pub target: String,
    /// Header lines in order, names as sent.
    pub headers: Vec<(String, String)>,
    /// The body after removing chunked framing.
    pub body: Vec<u8>,
}

impl RawRequest {
    /// The first value of `name` (compared case-insensitively).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The path part of the target.
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or_default()
    }
}

/// A scripted answer.
pub enum Reply {
    /// Status, extra header lines (sent as given), body.
    Fixed {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    /// Headers and `first` at once (chunked), then `rest` only after `release` is notified.
    Gated {
        first: Vec<u8>,
        release: Arc<Notify>,
        rest: Vec<u8>,
    },
    /// Read the request, then never answer (until the connection is dropped).
    Silent,
}

impl Reply {
    pub fn status(status: u16) -> Self {
        Self::Fixed {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    pub fn with(status: u16, headers: &[(&str, &str)], body: &[u8]) -> Self {
        Self::Fixed {
            status,
            headers: headers
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
            body: body.to_vec(),
        }
    }
}

struct State {
    requests: Mutex<Vec<RawRequest>>,
    /// `Authorization` values answered 401 (a revoked credential), before the script.
    rejected: Mutex<Vec<String>>,
    script: Mutex<VecDeque<Reply>>,
    progress: watch::Sender<u64>,
}

/// See the module documentation.
#[derive(Clone)]
pub struct RecordingUpstream {
    /// `http://127.0.0.1:PORT`
    pub url: String,
    state: Arc<State>,
}

impl RecordingUpstream {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let state = Arc::new(State {
            requests: Mutex::new(Vec::new()),
            rejected: Mutex::new(Vec::new()),
            script: Mutex::new(VecDeque::new()),
            progress: watch::channel(0).0,
        });
        let serving = state.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let state = serving.clone();
                tokio::spawn(async move {
                    let _ = serve(stream, state).await;
                });
            }
        });
        Self { url, state }
    }

    /// `host:port` of this server.
    pub fn authority(&self) -> &str {
        self.url.trim_start_matches("http://")
    }

    /// Answer the next requests with these, in order; afterwards, `200 ok`.
    pub fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        self.state.script.lock().extend(replies);
    }

    /// Every request received so far.
    /// From now on, answer 401 to every request whose `Authorization` is `value` (the
    /// credential was revoked at the provider).
    pub fn reject_authorization(&self, value: &str) {
        self.state.rejected.lock().push(value.to_owned());
    }

    pub fn requests(&self) -> Vec<RawRequest> {
        self.state.requests.lock().clone()
    }

    pub fn count(&self) -> usize {
        self.state.requests.lock().len()
    }

    /// Request-body bytes received so far (of all requests), updated as they arrive.
    pub fn body_progress(&self) -> watch::Receiver<u64> {
        self.state.progress.subscribe()
    }
}

async fn serve(stream: TcpStream, state: Arc<State>) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).await?;
    let mut parts = line.trim_end().splitn(3, ' ');
    let method = parts.next().unwrap_or_default().to_owned();
    let target = parts.next().unwrap_or_default().to_owned();
    let mut headers = Vec::new();
    loop {
        line.clear();
        reader.read_line(&mut line).await?;
        let trimmed = line.trim_end_matches(['\r', '\n']);
        if trimmed.is_empty() {
            break;
        }
        if let Some((name, value)) = trimmed.split_once(':') {
            headers.push((name.to_owned(), value.trim().to_owned()));
        }
    }
    let mut request = RawRequest {
        method,
        target,
        headers,
        body: Vec::new(),
    };
    let chunked = request
        .header("transfer-encoding")
        .is_some_and(|te| te.eq_ignore_ascii_case("chunked"));
    if chunked {
        loop {
            line.clear();
            reader.read_line(&mut line).await?;
            let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or("0"), 16)
                .unwrap_or(0);
            if size == 0 {
                // Trailers (none expected) end with an empty line.
                loop {
                    line.clear();
                    if reader.read_line(&mut line).await? == 0 || line.trim().is_empty() {
                        break;
                    }
                }
                break;
            }
            read_exact_counted(&mut reader, &mut request.body, size, &state).await?;
            line.clear();
            reader.read_line(&mut line).await?;
        }
    } else if let Some(len) = request
        .header("content-length")
        .and_then(|v| v.parse().ok())
    {
        read_exact_counted(&mut reader, &mut request.body, len, &state).await?;
    }
    let revoked = request
        .header("authorization")
        .is_some_and(|v| state.rejected.lock().iter().any(|r| r == v));
    state.requests.lock().push(request);
    let reply = if revoked {
        Some(Reply::status(401))
    } else {
        state.script.lock().pop_front()
    };
    let mut stream = reader.into_inner();
    match reply.unwrap_or_else(|| Reply::with(200, &[("Content-Type", "text/plain")], b"ok")) {
        Reply::Fixed {
            status,
            headers,
            body,
        } => {
            let mut head = format!("HTTP/1.1 {status} X\r\nConnection: close\r\n");
            if !headers
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case("content-length"))
            {
                head.push_str(&format!("Content-Length: {}\r\n", body.len()));
            }
            for (n, v) in headers {
                head.push_str(&format!("{n}: {v}\r\n"));
            }
            head.push_str("\r\n");
            stream.write_all(head.as_bytes()).await?;
            stream.write_all(&body).await?;
        }
        Reply::Gated {
            first,
            release,
            rest,
        } => {
            let head = "HTTP/1.1 200 OK\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n";
            stream.write_all(head.as_bytes()).await?;
            write_chunk(&mut stream, &first).await?;
            release.notified().await;
            write_chunk(&mut stream, &rest).await?;
            stream.write_all(b"0\r\n\r\n").await?;
        }
        Reply::Silent => {
            // Hold the connection open until the client gives up.
            let mut sink = [0u8; 1];
            let _ = stream.read(&mut sink).await;
        }
    }
    stream.flush().await?;
    stream.shutdown().await
}

async fn read_exact_counted(
    reader: &mut BufReader<TcpStream>,
    body: &mut Vec<u8>,
    mut left: usize,
    state: &State,
) -> std::io::Result<()> {
    let mut buf = vec![0u8; 16 * 1024];
    while left > 0 {
        let want = left.min(buf.len());
        let n = reader.read(&mut buf[..want]).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        body.extend_from_slice(&buf[..n]);
        left -= n;
        state.progress.send_modify(|p| *p += n as u64);
    }
    Ok(())
}

async fn write_chunk(stream: &mut TcpStream, bytes: &[u8]) -> std::io::Result<()> {
    if bytes.is_empty() {
        return Ok(());
    }
    stream
        .write_all(format!("{:x}\r\n", bytes.len()).as_bytes())
        .await?;
    stream.write_all(bytes).await?;
    stream.write_all(b"\r\n").await?;
    stream.flush().await
}
