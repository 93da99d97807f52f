//! Go's duration syntax (`500ms`, `1m30s`, `1.5h`), which SPIRE's config files use.

/// Parse a Go duration into signed nanoseconds.
///
/// Accepts what Go's `time.ParseDuration` accepts: an optional sign, then one or more
/// `<decimal><unit>` pairs with units `ns`, `us`, `µs`, `μs`, `ms`, `s`, `m`, `h`; `0` alone is
/// allowed without a unit.
pub fn parse_go_duration(input: &str) -> Result<i128, String> {
    let bad = || format!("time: invalid duration {input:?}");
    let (negative, mut rest) = match input.as_bytes().first() {
        Some(b'-') => (true, &input[1..]),
        Some(b'+') => (false, &input[1..]),
        _ => (false, input),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(bad());
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let num_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        let number = &rest[..num_len];
        if number.is_empty() || number == "." || number.matches('.').count() > 1 {
            return Err(bad());
        }
        let value: f64 = number.parse().map_err(|_| bad())?;
        rest = &rest[num_len..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let scale: f64 = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            "" => return Err(format!("time: missing unit in duration {input:?}")),
            unit => return Err(format!("time: unknown unit {unit:?} in duration {input:?}")),
        };
        rest = &rest[unit_len..];
        total += value * scale;
    }
    if total > i64::MAX as f64 {
        return Err(format!("time: invalid duration {input:?}"));
    }
    #[allow(clippy::cast_possible_truncation)]
    let nanos = total.round() as i128;
    Ok(if negative { -nanos } else { nanos })
}

#[cfg(test)]
mod tests;
