//! The HTTP/1.1 the loopback Kubernetes fakes speak (`apiserver.rs`, `lease_api.rs`): one request
//! read from a stream (head capped at 64 KiB, body at 1 MiB), one JSON answer written.

use serde_json::Value;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// One request as read.
pub struct Request {
    /// `GET`, `PUT`, …
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// The query, without `?` (empty when none).
    pub query: String,
    /// The `Authorization` header.
    pub authorization: Option<String>,
    /// The body (`Content-Length` bytes).
    pub body: Vec<u8>,
}

/// Read one request; `None` when the stream ends or breaks first.
pub async fn read_request<S: AsyncRead + Unpin>(s: &mut S) -> Option<Request> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if s.read(&mut byte).await.ok()? != 1 || head.len() > 64 << 10 {
            return None;
        }
        head.push(byte[0]);
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    let mut words = text.lines().next()?.split(' ');
    let (method, target) = (words.next()?.to_owned(), words.next()?);
    let header = |name: &str| {
        text.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
        })
    };
    let length: usize = header("content-length").and_then(|l| l.parse().ok()).unwrap_or(0);
    let mut body = vec![0u8; length.min(1 << 20)];
    s.read_exact(&mut body).await.ok()?;
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    Some(Request {
        method,
        path: path.to_owned(),
        query: query.to_owned(),
        authorization: header("authorization"),
        body,
    })
}

/// The reason phrase of a status the fakes answer.
pub fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        410 => "Gone",
        422 => "Unprocessable Entity",
        _ => "Internal Server Error",
    }
}

/// Write one JSON answer; `Err` when the peer has gone.
pub async fn write_json<S: AsyncWrite + Unpin>(s: &mut S, status: u16, body: &Value) -> Result<(), ()> {
    let body = serde_json::to_vec(body).unwrap();
    let head = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        reason(status),
        body.len()
    );
    s.write_all(head.as_bytes()).await.map_err(|_| ())?;
    s.write_all(&body).await.map_err(|_| ())?;
    let _ = s.flush().await;
    Ok(())
}
