//! The registrar's metrics and health endpoints over real HTTP on loopback: `/metrics` in the
//! text format, `/readyz` following readiness, `/healthz`, 404 and 405, the connection cap, a
//! busy port refused by name, and a dropped server no longer listening.
#![allow(clippy::unwrap_used, missing_docs)]

use std::net::SocketAddr;
use std::time::Duration;

use attestor::fault::Fault;
use attestor::registrar::metrics::{MAX_CONNECTIONS, Metrics, MetricsError, Server, serve};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

fn client() -> reqwest::Client {
    let _ = rustls::crypto::CryptoProvider::install_default(rustls::crypto::ring::default_provider());
    reqwest::Client::builder().no_proxy().build().unwrap()
}

async fn start(metrics: &std::sync::Arc<Metrics>) -> Server {
    serve("127.0.0.1:0".parse().unwrap(), metrics.clone()).await.unwrap()
}

/// Status, `Content-Type` and body of a GET.
async fn get(http: &reqwest::Client, server: &Server, path: &str) -> (u16, String, String) {
    let r = http.get(format!("http://{}{path}", server.local_addr())).send().await.unwrap();
    let ct = r.headers().get(reqwest::header::CONTENT_TYPE).unwrap().to_str().unwrap().to_owned();
    (r.status().as_u16(), ct, r.text().await.unwrap())
}

const TEXT: &str = "text/plain; charset=utf-8";

#[tokio::test]
async fn metrics_readyz_healthz_and_unknown_paths() {
    let metrics = Metrics::new();
    let server = start(&metrics).await;
    assert_eq!(server.local_addr().ip().to_string(), "127.0.0.1");
    assert_ne!(server.local_addr().port(), 0);
    let http = client();

    metrics.set_entries_owned(7);
    metrics.add_changes(2, 1, 0);
    metrics.observe_reconcile(Duration::from_millis(20));
    let (status, ct, body) = get(&http, &server, "/metrics").await;
    assert_eq!((status, ct.as_str()), (200, "text/plain; version=0.0.4; charset=utf-8"));
    assert_eq!(body, metrics.render());
    for line in [
        "attestor_registrar_entries_owned 7",
        "attestor_registrar_entries_created_total 2",
        "attestor_registrar_entries_updated_total 1",
        "attestor_registrar_reconcile_duration_seconds_bucket{le=\"0.025\"} 1",
        "attestor_registrar_reconcile_duration_seconds_count 1",
        "attestor_registrar_ready 0",
    ] {
        assert!(body.lines().any(|l| l == line), "{line} not in\n{body}");
    }

    assert_eq!(get(&http, &server, "/readyz").await, (503, TEXT.into(), "not ready".into()));
    metrics.set_ready(true);
    assert_eq!(get(&http, &server, "/readyz").await, (200, TEXT.into(), "ok".into()));
    let (_, _, body) = get(&http, &server, "/metrics").await;
    assert!(body.lines().any(|l| l == "attestor_registrar_ready 1"), "{body}");
    metrics.set_ready(false);
    assert_eq!(get(&http, &server, "/readyz").await, (503, TEXT.into(), "not ready".into()));

    assert_eq!(get(&http, &server, "/healthz").await, (200, TEXT.into(), "ok".into()));
    assert_eq!(get(&http, &server, "/other").await, (404, TEXT.into(), "not found".into()));
    assert_eq!(get(&http, &server, "/metrics?x=1").await.0, 200);

    let r = http.post(format!("http://{}/metrics", server.local_addr())).body("x").send().await.unwrap();
    assert_eq!(r.status().as_u16(), 405);
    assert_eq!(r.headers().get(reqwest::header::ALLOW).unwrap(), "GET, HEAD");

    let r = http.head(format!("http://{}/healthz", server.local_addr())).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.text().await.unwrap(), "");
}

/// A port someone else listens on is refused with an error naming the address, the operator's.
#[tokio::test]
async fn a_busy_port_is_a_config_error_naming_the_address() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let e = serve(addr, Metrics::new()).await.unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("cannot serve metrics on {addr} (registrar.metrics_addr): Address already in use (os error 98)")
    );
    assert_eq!(e.fault(), Fault::Config);
    let MetricsError::Bind { addr: named, source } = &e;
    assert_eq!((*named, source.kind()), (addr, std::io::ErrorKind::AddrInUse));
}

/// Connections beyond the cap are closed unanswered; once the others go, requests are served.
#[tokio::test]
async fn connections_beyond_the_cap_are_closed() {
    let metrics = Metrics::new();
    let server = start(&metrics).await;
    let mut idle = Vec::new();
    for _ in 0..MAX_CONNECTIONS {
        idle.push(TcpStream::connect(server.local_addr()).await.unwrap());
    }
    let mut extra = TcpStream::connect(server.local_addr()).await.unwrap();
    let mut buf = [0u8; 16];
    let read = tokio::time::timeout(Duration::from_secs(5), extra.read(&mut buf)).await;
    assert_eq!(read.expect("the connection over the cap was left open").unwrap(), 0);

    drop(idle);
    let http = client();
    let url = format!("http://{}/healthz", server.local_addr());
    let served = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            // Until the closed connections' tasks have ended, a new one is over the cap.
            match http.get(&url).send().await {
                Ok(r) => break r.status().as_u16(),
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    })
    .await;
    assert_eq!(served.expect("never served after the idle connections closed"), 200);
}

/// Dropping the server closes the listener.
#[tokio::test]
async fn a_dropped_server_stops_listening() {
    let metrics = Metrics::new();
    let server = start(&metrics).await;
    let addr: SocketAddr = server.local_addr();
    assert_eq!(get(&client(), &server, "/healthz").await.0, 200);
    drop(server);
    let refused = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            // A connection made while the listener closes may be reset instead.
            match TcpStream::connect(addr).await {
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => break,
                _ => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    })
    .await;
    refused.expect("connections still not refused 10 s after the drop");
}
