//! Go's duration syntax (`500ms`, `1m30s`, `1.5h`), which SPIRE's config files use, and the
//! range each duration key accepts.

use std::time::Duration;

const NANOS_PER: [(&str, u64); 8] = [
    ("ns", 1),
    ("us", 1_000),
    ("µs", 1_000),
    ("μs", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
];

/// `2^63`: the magnitude of Go's most negative duration.
const LIMIT: u64 = 1 << 63;

/// Parse a Go duration into signed nanoseconds, exactly as Go's `time.ParseDuration` does:
/// an optional sign, then one or more `<decimal><unit>` pairs with units `ns`, `us`, `µs`,
/// `μs`, `ms`, `s`, `m`, `h`; `0` alone needs no unit. Whole parts are integers (a value past
/// the range of an `int64` of nanoseconds is an error, never rounded); fractions are scaled as
/// Go scales them.
///
/// ```
/// use attestor::time::parse_go_duration;
///
/// assert_eq!(parse_go_duration("1m30s"), Ok(90_000_000_000));
/// assert_eq!(parse_go_duration("1.5h"), Ok(5_400_000_000_000));
/// assert_eq!(parse_go_duration("-500ms"), Ok(-500_000_000));
/// assert_eq!(parse_go_duration("5").unwrap_err(), "time: missing unit in duration \"5\"");
/// ```
pub fn parse_go_duration(input: &str) -> Result<i64, String> {
    let invalid = || format!("time: invalid duration {input:?}");
    let (negative, mut rest) = match input.as_bytes().first() {
        Some(b'-') => (true, &input[1..]),
        Some(b'+') => (false, &input[1..]),
        _ => (false, input),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total: u64 = 0;
    while !rest.is_empty() {
        if !rest.starts_with(|c: char| c == '.' || c.is_ascii_digit()) {
            return Err(invalid());
        }
        let (whole, after_whole) = leading_int(rest).ok_or_else(invalid)?;
        let had_whole = after_whole.len() != rest.len();
        rest = after_whole;
        let (mut fraction, mut scale, mut had_fraction) = (0, 1.0, false);
        if let Some(after_dot) = rest.strip_prefix('.') {
            let (f, s, after_fraction) = leading_fraction(after_dot);
            had_fraction = after_fraction.len() != after_dot.len();
            (fraction, scale, rest) = (f, s, after_fraction);
        }
        if !had_whole && !had_fraction {
            return Err(invalid());
        }
        let unit_len = rest.find(|c: char| c == '.' || c.is_ascii_digit()).unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let per = match NANOS_PER.iter().find(|(name, _)| *name == unit) {
            Some((_, per)) => *per,
            None if unit.is_empty() => return Err(format!("time: missing unit in duration {input:?}")),
            None => return Err(format!("time: unknown unit {unit:?} in duration {input:?}")),
        };
        let mut value = whole.checked_mul(per).filter(|v| *v <= LIMIT).ok_or_else(invalid)?;
        if fraction > 0 {
            // Go: v += uint64(float64(f) * (float64(unit) / scale)), then the same range check.
            #[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let part = (fraction as f64 * (per as f64 / scale)) as u64;
            value = value.checked_add(part).filter(|v| *v <= LIMIT).ok_or_else(invalid)?;
        }
        total = total.checked_add(value).filter(|v| *v <= LIMIT).ok_or_else(invalid)?;
    }
    if negative {
        // `total` ≤ 2^63, so its negation fits.
        Ok(0_i64.checked_sub_unsigned(total).ok_or_else(invalid)?)
    } else {
        i64::try_from(total).map_err(|_| invalid())
    }
}

/// The leading decimal integer of `s` and the rest; `None` on overflow.
fn leading_int(s: &str) -> Option<(u64, &str)> {
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let mut n: u64 = 0;
    for b in s[..end].bytes() {
        n = n.checked_mul(10)?.checked_add(u64::from(b - b'0')).filter(|n| *n <= LIMIT)?;
    }
    Some((n, &s[end..]))
}

/// The leading fraction digits of `s` as Go reads them: the digits that fit in a `u64`, their
/// scale (10^digits used), and the rest; digits past what fits are consumed and ignored.
fn leading_fraction(s: &str) -> (u64, f64, &str) {
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (mut n, mut scale, mut overflow) = (0_u64, 1.0_f64, false);
    for b in s[..end].bytes() {
        if overflow {
            continue;
        }
        match n.checked_mul(10).and_then(|m| m.checked_add(u64::from(b - b'0'))) {
            Some(m) if m <= LIMIT => {
                n = m;
                scale *= 10.0;
            }
            _ => overflow = true,
        }
    }
    (n, scale, &s[end..])
}

/// Go's way of printing a duration (`1h0m0s`, `1m30s`, `500ms`, `2µs`), for messages that
/// quote a limit.
pub fn format_go_duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos == 0 {
        return "0s".into();
    }
    if nanos < 1_000 {
        return format!("{nanos}ns");
    }
    if nanos < 1_000_000 {
        return trim_fraction(nanos, 1_000, "µs");
    }
    if nanos < 1_000_000_000 {
        return trim_fraction(nanos, 1_000_000, "ms");
    }
    let secs = d.as_secs();
    let (h, m, s) = (secs / 3600, (secs / 60) % 60, secs % 60);
    let s = trim_fraction(u128::from(s) * 1_000_000_000 + u128::from(d.subsec_nanos()), 1_000_000_000, "s");
    match (h, m) {
        (0, 0) => s,
        (0, m) => format!("{m}m{s}"),
        (h, m) => format!("{h}h{m}m{s}"),
    }
}

fn trim_fraction(value: u128, per: u128, unit: &str) -> String {
    let (whole, fraction) = (value / per, value % per);
    if fraction == 0 {
        return format!("{whole}{unit}");
    }
    let width = per.ilog10() as usize;
    let digits = format!("{fraction:0width$}");
    format!("{whole}.{}{unit}", digits.trim_end_matches('0'))
}

/// What a duration key does with zero and negative values: every key says which, so no value
/// is silently turned into another.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NonPositive {
    /// Zero or a negative value is out of range (zero is accepted when the range starts at zero).
    Refused,
    /// Zero or a negative value means "the key's default" (SPIRE's rule for its `k8s` keys).
    MeansDefault,
}

/// Go's longest duration: `2^63 - 1` nanoseconds.
const GO_MAX: Duration = Duration::from_nanos(i64::MAX.unsigned_abs());

/// The values a duration key accepts: a range and the key's rule for zero and negatives.
///
/// ```
/// use std::time::Duration;
/// use attestor::time::DurationRange;
///
/// let timeout = DurationRange::new(Duration::from_millis(1), Duration::from_secs(60));
/// assert_eq!(timeout.check("50ms"), Ok(Some(Duration::from_millis(50))));
/// assert_eq!(timeout.check("0").unwrap_err().to_string(), "must be between 1ms and 1m0s, got \"0\"");
///
/// // SPIRE's rule for its `k8s` durations: zero or negative means "the default".
/// let poll = DurationRange::default_unless_positive(Duration::from_secs(3600));
/// assert_eq!(poll.check("-1s"), Ok(None));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DurationRange {
    min: Duration,
    max: Duration,
    non_positive: NonPositive,
}

/// Why a duration was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// Not Go duration syntax; Go's own message.
    #[error("{0}")]
    Syntax(String),
    /// A duration, outside the key's range.
    #[error("must be {range}, got {text:?}")]
    OutOfRange {
        /// The range, in words (`between 1ms and 1m0s`).
        range: String,
        /// The text as written.
        text: String,
    },
}

impl DurationRange {
    /// `min..=max`; zero and negative values are refused unless `min` is zero (then zero is in).
    pub const fn new(min: Duration, max: Duration) -> Self {
        Self { min, max, non_positive: NonPositive::Refused }
    }

    /// Any positive duration Go can hold (an annotation's `@ttl`).
    pub const POSITIVE: Self = Self::new(Duration::from_nanos(1), GO_MAX);

    /// SPIRE's rule with an upper bound attestor adds: zero or negative means the default,
    /// anything positive up to `max` is taken.
    pub const fn default_unless_positive(max: Duration) -> Self {
        Self { min: Duration::from_nanos(1), max, non_positive: NonPositive::MeansDefault }
    }

    /// Parse `text` and apply the key's rule: `Ok(None)` is "use the default" (only under
    /// [`NonPositive::MeansDefault`]); an error says which range.
    pub fn check(&self, text: &str) -> Result<Option<Duration>, DurationError> {
        let nanos = parse_go_duration(text).map_err(DurationError::Syntax)?;
        if nanos <= 0 && self.non_positive == NonPositive::MeansDefault {
            return Ok(None);
        }
        let d = u64::try_from(nanos).ok().map(Duration::from_nanos).filter(|d| *d >= self.min && *d <= self.max);
        d.map(Some).ok_or_else(|| DurationError::OutOfRange { range: self.describe(), text: text.to_owned() })
    }

    /// The range in words, as errors print it.
    fn describe(&self) -> String {
        match (self.non_positive, self.min, self.max) {
            (NonPositive::MeansDefault, _, max) => format!("at most {}", format_go_duration(max)),
            (NonPositive::Refused, min, GO_MAX) if min == Duration::from_nanos(1) => "positive".into(),
            (NonPositive::Refused, min, max) => {
                format!("between {} and {}", format_go_duration(min), format_go_duration(max))
            }
        }
    }
}

#[cfg(test)]
mod tests;
