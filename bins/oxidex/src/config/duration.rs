//! Dex's duration syntax: Go's `time.ParseDuration` (`"10m"`, `"1h30m"`, `"1.5h"`, `"300ms"`).
//!
//! A duration is a sequence of decimal numbers, each with an optional fraction and a unit:
//! `ns`, `us` (or `µs`), `ms`, `s`, `m`, `h`. There are no days: `"7d"` is an error, write
//! `"168h"`. A lone `"0"` needs no unit. Go accepts a sign; durations in a configuration
//! cannot be negative, so `-` is refused here.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// Why a duration string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid duration {text:?}: {reason}")]
pub struct DurationError {
    text: String,
    reason: String,
}

impl DurationError {
    fn new(text: &str, reason: impl Into<String>) -> Self {
        Self {
            text: text.to_owned(),
            reason: reason.into(),
        }
    }
}

const UNITS_HINT: &str = "units are ns, us, ms, s, m and h";

/// Go's limit: the largest duration an `int64` of nanoseconds holds (about 292 years).
const MAX_NANOS: u128 = i64::MAX as u128;

/// Parses a Go duration string such as `"1h30m"` or `"1.5h"`.
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let mut rest = text;
    if let Some(stripped) = rest.strip_prefix('+') {
        rest = stripped;
    } else if rest.starts_with('-') {
        return Err(DurationError::new(
            text,
            "durations in the configuration cannot be negative",
        ));
    }
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    if rest.is_empty() {
        return Err(DurationError::new(
            text,
            format!("empty; write a number and a unit such as \"10m\" ({UNITS_HINT})"),
        ));
    }
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let (whole, after_whole) = split_digits(rest);
        let (fraction, after_fraction) = match after_whole.strip_prefix('.') {
            Some(after_dot) => split_digits(after_dot),
            None => ("", after_whole),
        };
        if whole.is_empty() && fraction.is_empty() {
            return Err(DurationError::new(
                text,
                format!("expected a number at {rest:?} ({UNITS_HINT})"),
            ));
        }
        let unit_len = after_fraction
            .find(|c: char| c == '.' || c.is_ascii_digit())
            .unwrap_or(after_fraction.len());
        let (unit, after_unit) = after_fraction.split_at(unit_len);
        let scale = unit_nanos(unit).ok_or_else(|| {
            if unit.is_empty() {
                DurationError::new(text, format!("missing unit ({UNITS_HINT})"))
            } else if unit == "d" || unit == "w" || unit == "y" {
                DurationError::new(
                    text,
                    format!("unit {unit:?} is not supported; {UNITS_HINT} (for days write hours, e.g. \"168h\" for a week)"),
                )
            } else {
                DurationError::new(text, format!("unknown unit {unit:?}; {UNITS_HINT}"))
            }
        })?;
        let too_large = || DurationError::new(text, "too large (the limit is about 292 years)");
        let whole_nanos = parse_u128(whole)
            .and_then(|w| w.checked_mul(scale))
            .ok_or_else(too_large)?;
        total = total
            .checked_add(whole_nanos)
            .and_then(|t| t.checked_add(fraction_nanos(fraction, scale)))
            .filter(|t| *t <= MAX_NANOS)
            .ok_or_else(too_large)?;
        rest = after_unit;
    }
    let secs = u64::try_from(total / 1_000_000_000).unwrap_or(u64::MAX);
    // The remainder of a division by 10^9 always fits in a u32.
    let nanos = u32::try_from(total % 1_000_000_000).unwrap_or(0);
    Ok(Duration::new(secs, nanos))
}

fn split_digits(s: &str) -> (&str, &str) {
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    s.split_at(end)
}

fn parse_u128(digits: &str) -> Option<u128> {
    if digits.is_empty() {
        return Some(0);
    }
    digits.parse().ok()
}

/// `0.fraction` of `scale` nanoseconds, truncated (Go keeps the same precision).
fn fraction_nanos(fraction: &str, scale: u128) -> u128 {
    let mut numerator: u128 = 0;
    let mut denominator: u128 = 1;
    for digit in fraction.bytes().take(18) {
        numerator = numerator * 10 + u128::from(digit - b'0');
        denominator *= 10;
    }
    numerator * scale / denominator
}

fn unit_nanos(unit: &str) -> Option<u128> {
    Some(match unit {
        "ns" => 1,
        "us" | "µs" | "μs" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        _ => return None,
    })
}

/// Formats a duration the way Go prints one: `24h0m0s`, `5m0s`, `1.5s`, `300ms`.
pub fn format_duration(duration: Duration) -> String {
    GoDuration(duration).to_string()
}

struct GoDuration(Duration);

impl fmt::Display for GoDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let total = self.0.as_nanos();
        if total == 0 {
            return f.write_str("0s");
        }
        if total < 1_000_000_000 {
            let (value, unit) = if total < 1_000 {
                (total.to_string(), "ns")
            } else if total < 1_000_000 {
                (decimal(total, 1_000), "µs")
            } else {
                (decimal(total, 1_000_000), "ms")
            };
            return write!(f, "{value}{unit}");
        }
        let hours = total / 3_600_000_000_000;
        let minutes = (total / 60_000_000_000) % 60;
        let seconds = decimal(total % 60_000_000_000, 1_000_000_000);
        if hours > 0 {
            write!(f, "{hours}h{minutes}m{seconds}s")
        } else if minutes > 0 {
            write!(f, "{minutes}m{seconds}s")
        } else {
            write!(f, "{seconds}s")
        }
    }
}

/// `value / unit` with the fraction written out and trailing zeros dropped.
fn decimal(value: u128, unit: u128) -> String {
    let whole = value / unit;
    let fraction = value % unit;
    if fraction == 0 {
        return whole.to_string();
    }
    let width = unit.ilog10() as usize;
    let digits = format!("{fraction:0width$}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

/// Reads an optional duration setting; an empty value means unset.
pub(crate) fn deserialize_opt<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Duration>, D::Error> {
    let text = Option::<String>::deserialize(deserializer)?;
    match text.as_deref() {
        None | Some("") => Ok(None),
        Some(text) => parse_duration(text)
            .map(Some)
            .map_err(serde::de::Error::custom),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> Duration {
        parse_duration(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn parses_go_durations() {
        assert_eq!(ok("10m"), Duration::from_secs(600));
        assert_eq!(ok("1h30m"), Duration::from_secs(5400));
        assert_eq!(ok("1.5h"), Duration::from_secs(5400));
        assert_eq!(ok("300ms"), Duration::from_millis(300));
        assert_eq!(ok("2h45m0s"), Duration::from_secs(9900));
        assert_eq!(ok("0"), Duration::ZERO);
        assert_eq!(ok("0s"), Duration::ZERO);
        assert_eq!(ok("+5s"), Duration::from_secs(5));
        assert_eq!(ok("1us"), Duration::from_micros(1));
        assert_eq!(ok("1µs"), Duration::from_micros(1));
        assert_eq!(ok("1ns"), Duration::from_nanos(1));
        assert_eq!(ok(".5s"), Duration::from_millis(500));
        assert_eq!(ok("1.s"), Duration::from_secs(1));
        assert_eq!(ok("2160h"), Duration::from_secs(2160 * 3600));
        assert_eq!(ok("1h1h"), Duration::from_secs(7200));
        assert_eq!(ok("0.000000001s"), Duration::from_nanos(1));
        // Go truncates fractions below a nanosecond.
        assert_eq!(ok("1.9ns"), Duration::from_nanos(1));
    }

    #[test]
    fn refuses_what_go_refuses_and_negative_durations() {
        for bad in [
            "",
            "10",
            "1d",
            "7w",
            "h",
            ".s",
            "1.5",
            "1hh",
            "1 h",
            "1H",
            "-5m",
            "1h-5m",
            "abc",
            "5m ",
            "9999999999h",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?} should be refused");
        }
        let error = parse_duration("7d").unwrap_err().to_string();
        assert!(error.contains("\"168h\""), "{error}");
        let error = parse_duration("10").unwrap_err().to_string();
        assert_eq!(
            error,
            "invalid duration \"10\": missing unit (units are ns, us, ms, s, m and h)"
        );
    }

    #[test]
    fn formats_like_go() {
        for (text, printed) in [
            ("24h", "24h0m0s"),
            ("5m", "5m0s"),
            ("1.5s", "1.5s"),
            ("300ms", "300ms"),
            ("1h30m", "1h30m0s"),
            ("0", "0s"),
            ("1500us", "1.5ms"),
            ("42ns", "42ns"),
        ] {
            assert_eq!(format_duration(ok(text)), printed, "{text}");
        }
    }
}
