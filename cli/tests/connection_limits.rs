//! Issue 14 item 4: connection exhaustion. Real `nexus dev` listeners on loopback: idle and
//! half-sent connections are closed after their timeout, a body that stops arriving gets
//! `408 request_timeout`, and floods of idle connections (over the per-IP and the process cap,
//! up to 20,000) leave `/healthz` answering from a fresh connection.

mod common;

use common::*;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// Safety net for reads that must end (with EOF or an answer); a test that reaches it failed.
const MUST_END_WITHIN: Duration = Duration::from_secs(20);

fn addr_of(url: &str) -> SocketAddr {
    url.trim_start_matches("http://")
        .parse()
        .expect("a host:port URL")
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn start(home: &std::path::Path, vars: &[(&str, &str)]) -> DevStack {
    DevStack::start_with_env(
        home,
        &[
            "--gateway-addr",
            "127.0.0.1:0",
            "--broker-addr",
            "127.0.0.1:0",
        ],
        vars,
    )
}

async fn connect_from(source: Ipv4Addr, to: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(source.into(), 0))?;
    socket.connect(to).await
}

/// Everything the server sends until it closes the connection.
async fn read_until_closed(stream: &mut TcpStream) -> Vec<u8> {
    let mut received = Vec::new();
    tokio::time::timeout(MUST_END_WITHIN, stream.read_to_end(&mut received))
        .await
        .expect("the server closes the connection")
        .expect("read");
    received
}

/// `GET /healthz` on a new connection from 127.0.0.1.
async fn healthz(addr: SocketAddr) -> u16 {
    let client = reqwest::Client::builder()
        .timeout(MUST_END_WITHIN)
        .build()
        .unwrap();
    client
        .get(format!("http://{addr}/healthz"))
        .send()
        .await
        .expect("/healthz answers")
        .status()
        .as_u16()
}

#[test]
fn idle_half_sent_and_stalled_requests_are_cut_off() {
    let tmp = tempfile::tempdir().unwrap();
    let stack = start(
        &tmp.path().join("home"),
        &[
            ("NEXUS_HTTP_HEADER_TIMEOUT_MS", "300"),
            ("NEXUS_HTTP_IDLE_TIMEOUT_MS", "500"),
            ("NEXUS_HTTP_BODY_TIMEOUT_MS", "300"),
        ],
    );
    let gateway = addr_of(stack.get("NEXUS_GATEWAY_URL"));
    let broker = addr_of(stack.get("NEXUS_BROKER_URL"));
    let api_key = stack.get("NEXUS_API_KEY").to_owned();
    let admin_token = stack.get("NEXUS_ADMIN_TOKEN").to_owned();
    runtime().block_on(async {
        for addr in [gateway, broker] {
            // Connected, nothing sent: closed, and nothing was answered.
            let mut idle = TcpStream::connect(addr).await.unwrap();
            assert!(read_until_closed(&mut idle).await.is_empty());

            // Half a request head: closed.
            let mut partial = TcpStream::connect(addr).await.unwrap();
            partial
                .write_all(b"GET /healthz HTTP/1.1\r\nHost: nexus\r\n")
                .await
                .unwrap();
            assert!(read_until_closed(&mut partial).await.is_empty());

            // A kept-alive connection that goes quiet after its answer: closed.
            let mut kept = TcpStream::connect(addr).await.unwrap();
            kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: nexus\r\n\r\n")
                .await
                .unwrap();
            let answer = String::from_utf8(read_until_closed(&mut kept).await).unwrap();
            assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        }

        // A body that stops arriving: 408 request_timeout, from both services.
        for (addr, request) in [
            (
                gateway,
                format!(
                    "POST /v1/sessions HTTP/1.1\r\nHost: nexus\r\nAuthorization: Bearer {api_key}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"agent"
                ),
            ),
            (
                broker,
                format!(
                    "POST /admin/v1/workspaces HTTP/1.1\r\nHost: nexus\r\nAuthorization: Bearer {admin_token}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"id\""
                ),
            ),
        ] {
            let mut stalled = TcpStream::connect(addr).await.unwrap();
            stalled.write_all(request.as_bytes()).await.unwrap();
            let answer = String::from_utf8(read_until_closed(&mut stalled).await).unwrap();
            assert!(answer.starts_with("HTTP/1.1 408"), "{addr}: {answer}");
            let body = &answer[answer.find("\r\n\r\n").expect("a body") + 4..];
            let body: serde_json::Value = serde_json::from_str(body).expect("a JSON error body");
            assert_eq!(body["error"], "request_timeout", "{answer}");
        }
    });
}

#[test]
fn idle_floods_over_the_caps_leave_healthz_answering() {
    let tmp = tempfile::tempdir().unwrap();
    let stack = start(
        &tmp.path().join("home"),
        &[
            ("NEXUS_HTTP_MAX_CONNECTIONS", "60"),
            ("NEXUS_HTTP_MAX_CONNECTIONS_PER_IP", "20"),
        ],
    );
    let gateway = addr_of(stack.get("NEXUS_GATEWAY_URL"));
    runtime().block_on(async {
        // Over the per-IP cap from one address: the oldest idle ones make room.
        let mut from_one = Vec::new();
        for _ in 0..50 {
            from_one.push(
                connect_from(Ipv4Addr::new(127, 0, 0, 2), gateway)
                    .await
                    .unwrap(),
            );
        }
        assert!(
            read_until_closed(&mut from_one[0]).await.is_empty(),
            "the oldest idle connection of that address was closed"
        );
        assert_eq!(healthz(gateway).await, 200);

        // Over the process cap from many addresses.
        let mut from_many = Vec::new();
        for i in 0..200u8 {
            let source = Ipv4Addr::new(127, 0, 1, 1 + i % 10);
            from_many.push(connect_from(source, gateway).await.unwrap());
        }
        assert!(read_until_closed(&mut from_many[0]).await.is_empty());
        assert_eq!(healthz(gateway).await, 200);
        // The broker listener shares the cap and still answers too.
        assert_eq!(healthz(addr_of(stack.get("NEXUS_BROKER_URL"))).await, 200);
    });
}

/// Raise this process's descriptor limit (the `nexus` child inherits it); returns the limit.
fn raise_descriptor_limit(wanted: u64) -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain libc calls on a local struct.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit);
        let raised = libc::rlimit {
            rlim_cur: wanted.max(limit.rlim_cur),
            rlim_max: wanted.max(limit.rlim_max),
        };
        if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
            return raised.rlim_cur;
        }
        let soft = libc::rlimit {
            rlim_cur: limit.rlim_max,
            rlim_max: limit.rlim_max,
        };
        libc::setrlimit(libc::RLIMIT_NOFILE, &soft);
        limit.rlim_max
    }
}

#[test]
fn twenty_thousand_idle_connections_leave_healthz_answering() {
    // 20,000 client sockets here plus the server's side in the child: above the usual limit.
    let limit = raise_descriptor_limit(50_000);
    let connections = 20_000.min(limit.saturating_sub(500) as usize);
    // Below the process cap (10,000) this would test nothing: refuse to pass quietly.
    assert!(
        connections > 10_500,
        "descriptor limit {limit}: too low to hold more idle connections than the process cap"
    );
    let tmp = tempfile::tempdir().unwrap();
    // Default settings: the process cap (10,000) and the per-IP cap (1,000) apply.
    let stack = start(&tmp.path().join("home"), &[]);
    let gateway = addr_of(stack.get("NEXUS_GATEWAY_URL"));
    runtime().block_on(async {
        let mut held = Vec::with_capacity(connections);
        for i in 0..connections {
            // 25 source addresses: 800 each, under the per-IP cap, so the process cap is hit.
            let source = Ipv4Addr::new(127, 0, 2, 1 + (i % 25) as u8);
            held.push(connect_from(source, gateway).await.unwrap());
        }
        assert_eq!(healthz(gateway).await, 200);
        assert!(
            read_until_closed(&mut held[0]).await.is_empty(),
            "the oldest idle connection made room"
        );
        eprintln!("held {connections} idle connections; /healthz answered");
    });
}
