//! Reading a body without ever holding more than a cap: a `Content-Length` over the cap is
//! refused before a byte is read, and a body that lies about its length (or gives none) is
//! cut off at the first chunk that would cross the cap.

/// A body crossed its cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Exceeded;

/// The bytes read so far, never more than `max`.
#[derive(Debug)]
pub(super) struct Capped {
    max: usize,
    bytes: Vec<u8>,
}

/// The most allocated up front from an announced length: a lying `Content-Length` under the
/// cap must not make us reserve memory the body never fills.
const PREALLOCATE: usize = 64 << 10;

impl Capped {
    /// A reader for a body of at most `max` bytes; `announced` is its `Content-Length`.
    pub(super) fn new(max: usize, announced: Option<u64>) -> Result<Self, Exceeded> {
        let announced = announced.map(|n| usize::try_from(n).unwrap_or(usize::MAX));
        if announced.is_some_and(|n| n > max) {
            return Err(Exceeded);
        }
        Ok(Self { max, bytes: Vec::with_capacity(announced.unwrap_or(0).min(PREALLOCATE)) })
    }

    /// Append a chunk, or refuse it whole if it would cross the cap.
    pub(super) fn push(&mut self, chunk: &[u8]) -> Result<(), Exceeded> {
        if chunk.len() > self.max - self.bytes.len() {
            return Err(Exceeded);
        }
        self.bytes.extend_from_slice(chunk);
        Ok(())
    }

    /// The bytes read.
    pub(super) fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }
}

/// Read `response`'s body under `max`: `Ok(None)` when it crossed the cap.
pub(super) async fn read(mut response: reqwest::Response, max: usize) -> Result<Option<Vec<u8>>, reqwest::Error> {
    let Ok(mut capped) = Capped::new(max, response.content_length()) else { return Ok(None) };
    while let Some(chunk) = response.chunk().await? {
        if capped.push(&chunk).is_err() {
            return Ok(None);
        }
    }
    Ok(Some(capped.into_bytes()))
}

/// The start of an error body, at most `max` bytes, read without failing: it only decorates
/// an error that is already decided.
pub(super) async fn excerpt(mut response: reqwest::Response, max: usize) -> Vec<u8> {
    let mut bytes = Vec::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        let room = max - bytes.len();
        bytes.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if bytes.len() >= max {
            break;
        }
    }
    bytes
}

#[cfg(test)]
mod tests;
