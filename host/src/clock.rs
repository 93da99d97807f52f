//! Wall-clock timestamps in the two shapes attestor prints: RFC 3339 seconds (Cedar's
//! `datetime`) and hclog's six fractional digits.

use std::time::{SystemTime, UNIX_EPOCH};

/// Civil date of a day count since 1970-01-01 (proleptic Gregorian).
fn civil(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

fn parts(t: SystemTime) -> (String, u32) {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (y, m, day) = civil(i64::try_from(secs / 86_400).unwrap_or(0));
    let rem = secs % 86_400;
    (format!("{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}", rem / 3600, rem % 3600 / 60, rem % 60), d.subsec_micros())
}

/// `YYYY-MM-DDThh:mm:ssZ`, UTC.
pub fn rfc3339_seconds(t: SystemTime) -> String {
    format!("{}Z", parts(t).0)
}

/// `YYYY-MM-DDThh:mm:ss.ffffffZ`, UTC: the only fractional form hclog's parser accepts.
pub fn rfc3339_micros(t: SystemTime) -> String {
    let (base, micros) = parts(t);
    format!("{base}.{micros:06}Z")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn shapes() {
        assert_eq!(rfc3339_seconds(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(951_782_400)), "2000-02-29T00:00:00Z");
        assert_eq!(
            rfc3339_micros(UNIX_EPOCH + Duration::from_micros(1_795_427_999_000_042)),
            "2026-11-23T09:59:59.000042Z"
        );
    }
}
