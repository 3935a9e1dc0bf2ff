//! An HTTP/1.1 upstream that keeps each request's header names exactly as they came over the
//! wire: the request head is read from the socket and split by hand, never through a parser
//! that case-folds names (hyper, `http::HeaderName`). Tests use it to check the case in which
//! an SDK sends the credential header and the caller's own headers. Every request is answered
//! `200` with an empty body; the connection is kept alive.

use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// Longest request head accepted (a test's requests are small).
const MAX_HEAD_BYTES: usize = 64 * 1024;

/// One recorded request: its request line and header names in order, as sent.
#[derive(Debug, Clone)]
pub struct RawRequest {
    pub request_line: String,
    pub header_names: Vec<String>,
}

pub struct RawRecorder {
    url: String,
    requests: Arc<Mutex<Vec<RawRequest>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for RawRecorder {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl RawRecorder {
    /// Listens on 127.0.0.1 (a port the OS picks).
    pub async fn start() -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let requests = Arc::new(Mutex::new(Vec::new()));
        let recorded = requests.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, recorded.clone()));
            }
        });
        Ok(Self {
            url,
            requests,
            task,
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Every request so far, oldest first.
    pub fn requests(&self) -> Vec<RawRequest> {
        self.requests.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

async fn serve(stream: TcpStream, recorded: Arc<Mutex<Vec<RawRequest>>>) {
    let mut reader = BufReader::new(stream);
    loop {
        let mut request_line = String::new();
        match reader.read_line(&mut request_line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let mut header_names = Vec::new();
        let mut body_length = 0usize;
        let mut head_bytes = request_line.len();
        loop {
            let mut line = String::new();
            match reader.read_line(&mut line).await {
                Ok(0) | Err(_) => return,
                Ok(n) => head_bytes += n,
            }
            if head_bytes > MAX_HEAD_BYTES {
                return;
            }
            let line = line.trim_end_matches(['\r', '\n']);
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    body_length = value.trim().parse().unwrap_or(0);
                }
                header_names.push(name.to_owned());
            }
        }
        let mut body = vec![0u8; body_length.min(MAX_HEAD_BYTES)];
        if reader.read_exact(&mut body).await.is_err() {
            return;
        }
        if let Ok(mut all) = recorded.lock() {
            all.push(RawRequest {
                request_line: request_line.trim_end().to_owned(),
                header_names,
            });
        }
        let answer = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";
        if reader.get_mut().write_all(answer).await.is_err() {
            return;
        }
    }
}
