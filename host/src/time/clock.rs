//! Wall-clock timestamps in the two shapes attestor prints: RFC 3339 seconds (Cedar's
//! `datetime`, audit records) and hclog's six fractional digits; calendar arithmetic is jiff's
//! (already in the tree through k8s-openapi).

use std::time::{SystemTime, UNIX_EPOCH};

use jiff::Timestamp;

/// `t` as a jiff timestamp; a time before 1970 (a clock set wrong) prints as the epoch.
fn timestamp(t: SystemTime) -> Timestamp {
    Timestamp::try_from(t).ok().filter(|ts| *ts >= Timestamp::UNIX_EPOCH).unwrap_or(Timestamp::UNIX_EPOCH)
}

/// `YYYY-MM-DDThh:mm:ssZ`, UTC.
pub fn rfc3339_seconds(t: SystemTime) -> String {
    timestamp(t).strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// `YYYY-MM-DDThh:mm:ss.ffffffZ`, UTC: the only fractional form hclog's parser accepts.
pub fn rfc3339_micros(t: SystemTime) -> String {
    timestamp(t).strftime("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// Parse `YYYY-MM-DDThh:mm:ssZ` (UTC, whole seconds, at or after 1970), the form fixtures and
/// records use. Anything else is `None`: jiff reads the calendar, and this shape check keeps
/// out the other RFC 3339 and ISO 8601 forms jiff would also accept.
pub fn parse_rfc3339_seconds(s: &str) -> Option<SystemTime> {
    let shape = "dddd-dd-ddTdd:dd:ddZ";
    let fits = s.len() == shape.len()
        && s.bytes().zip(shape.bytes()).all(|(c, want)| if want == b'd' { c.is_ascii_digit() } else { c == want });
    // A leap second (`:60`) is valid RFC 3339, but Unix time has no such second: jiff reads it
    // as `:59`, which would print back as another time than the one written. Refused instead.
    if !fits || &s[17..19] == "60" {
        return None;
    }
    let ts: Timestamp = s.parse().ok()?;
    let secs = u64::try_from(ts.as_second()).ok()?;
    Some(UNIX_EPOCH + std::time::Duration::from_secs(secs))
}

#[cfg(test)]
mod tests;
