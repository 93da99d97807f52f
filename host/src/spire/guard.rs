//! What happens when attestor itself has a bug: a panic becomes one hclog line on stderr and, in a
//! request, an `INTERNAL` answer to that request alone. The plugin keeps serving.
//!
//! Without this a panic in a handler resets the HTTP/2 stream (SPIRE sees a transport error,
//! not a status) and Rust's default hook writes a multi-line message and backtrace to stderr,
//! which SPIRE then logs line by line as raw text.

use std::any::Any;
use std::future::Future;
use std::io::Write;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_util::FutureExt;
use serde_json::{Map, Value};
use tonic::Status;
use tower_layer::Layer;
use tower_service::Service;

use super::hclog;

/// The text of a panic payload (`panic!` with a literal or a formatted message).
pub fn payload_text(payload: &(dyn Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(panic payload is not a string)")
}

/// Replace Rust's panic hook with one that writes a single hclog JSON line: the message, where,
/// which thread, and the backtrace as one field when `RUST_BACKTRACE` asks for it.
pub fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let mut fields = Map::new();
        fields.insert("panic".into(), Value::from(payload_text(info.payload())));
        if let Some(at) = info.location() {
            fields.insert("at".into(), Value::from(format!("{}:{}:{}", at.file(), at.line(), at.column())));
        }
        if let Some(name) = std::thread::current().name() {
            fields.insert("thread".into(), Value::from(name));
        }
        let backtrace = std::backtrace::Backtrace::capture();
        if backtrace.status() == std::backtrace::BacktraceStatus::Captured {
            fields.insert("backtrace".into(), Value::from(backtrace.to_string()));
        }
        let line =
            hclog::line(&tracing::Level::ERROR, "internal error: attestor panicked (a bug: please report it)", fields);
        let _ = writeln!(std::io::stderr().lock(), "{line}");
    }));
}

/// The status a request gets when its handler panicked.
fn panicked(payload: &(dyn Any + Send)) -> Status {
    Status::internal(format!(
        "internal error: the request handler panicked ({}); attestor keeps serving, please report this bug",
        payload_text(payload)
    ))
}

/// Catches panics of every gRPC method of every service (a `tower` layer on the server).
#[derive(Clone, Copy, Debug, Default)]
pub struct CatchPanicLayer;

impl<S> Layer<S> for CatchPanicLayer {
    type Service = CatchPanic<S>;

    fn layer(&self, inner: S) -> Self::Service {
        CatchPanic { inner }
    }
}

/// The service [`CatchPanicLayer`] makes.
#[derive(Clone, Debug)]
pub struct CatchPanic<S> {
    inner: S,
}

type Boxed<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send>>;

impl<S, Req, B> Service<Req> for CatchPanic<S>
where
    S: Service<Req, Response = http::Response<B>>,
    S::Future: Send + 'static,
    B: Default + Send + 'static,
{
    type Response = http::Response<B>;
    type Error = S::Error;
    type Future = Boxed<Self::Response, Self::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Req) -> Self::Future {
        let inner = &mut self.inner;
        match std::panic::catch_unwind(AssertUnwindSafe(|| inner.call(request))) {
            Ok(future) => Box::pin(AssertUnwindSafe(future).catch_unwind().map(|outcome| match outcome {
                Ok(answer) => answer,
                Err(payload) => Ok(panicked(payload.as_ref()).into_http()),
            })),
            Err(payload) => {
                let status = panicked(payload.as_ref());
                Box::pin(async move { Ok(status.into_http()) })
            }
        }
    }
}

/// Fault injection for the integration tests: in debug builds, `ATTESTOR_TEST_PANIC=<where>`
/// makes the named handler panic, so the hook and the layer are tested through the real
/// binary. Release builds have no such switch.
pub fn test_panic(place: &str) {
    #[cfg(debug_assertions)]
    if std::env::var("ATTESTOR_TEST_PANIC").is_ok_and(|v| v == place) {
        panic!("ATTESTOR_TEST_PANIC={place}");
    }
    let _ = place;
}

#[cfg(test)]
mod tests;
