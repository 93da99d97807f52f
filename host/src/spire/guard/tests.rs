use std::convert::Infallible;

use super::*;

/// A service that answers 200, or panics when asked to (in `call`, or in its future).
#[derive(Clone)]
struct Fragile;

enum Ask {
    Fine,
    PanicInCall,
    PanicInFuture,
}

impl Service<Ask> for Fragile {
    type Response = http::Response<String>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, ask: Ask) -> Self::Future {
        match ask {
            Ask::Fine => Box::pin(std::future::ready(Ok(http::Response::new("fine".to_owned())))),
            Ask::PanicInCall => panic!("boom in call"),
            Ask::PanicInFuture => Box::pin(async {
                tokio::task::yield_now().await;
                Err(boom("boom in future"))
            }),
        }
    }
}

/// Panics; typed so a future can "return" it.
fn boom(message: &str) -> Infallible {
    panic!("{message}")
}

fn status_of(r: &http::Response<String>) -> Option<Status> {
    Status::from_header_map(r.headers())
}

#[tokio::test]
async fn a_panicking_handler_answers_internal_and_the_service_keeps_answering() {
    let mut svc = CatchPanicLayer.layer(Fragile);
    for (ask, needle) in [(Ask::PanicInCall, "boom in call"), (Ask::PanicInFuture, "boom in future")] {
        let answer = svc.call(ask).await.expect("infallible");
        let status = status_of(&answer).expect("a gRPC status");
        assert_eq!(status.code(), tonic::Code::Internal);
        assert!(status.message().contains(needle), "{}", status.message());
        assert!(status.message().contains("attestor keeps serving"), "{}", status.message());
    }
    let fine = svc.call(Ask::Fine).await.expect("infallible");
    assert!(status_of(&fine).is_none());
    assert_eq!(fine.body(), "fine");
}

#[test]
fn payload_text_reads_literal_and_formatted_messages() {
    let literal: Box<dyn Any + Send> = Box::new("literal");
    let formatted: Box<dyn Any + Send> = Box::new(format!("formatted {}", 1));
    let other: Box<dyn Any + Send> = Box::new(7_u8);
    assert_eq!(payload_text(literal.as_ref()), "literal");
    assert_eq!(payload_text(formatted.as_ref()), "formatted 1");
    assert_eq!(payload_text(other.as_ref()), "(panic payload is not a string)");
}
