//! `google.protobuf.Duration` as Istio accepts it in YAML.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Deserializer, Serialize, Serializer, de};

/// A signed span of time with nanosecond precision (`google.protobuf.Duration`).
///
/// Parses the proto3 JSON form (`"1.5s"`, `"0.250s"`) and the Go `time.ParseDuration` forms that
/// Istio's CRD schema also accepts (`"250ms"`, `"1h30m"`, `"10us"`). Serializes in the canonical
/// proto3 JSON form, so `"250ms"` is written back as `"0.250s"`.
///
/// ```
/// use mesh_core::api::Duration;
/// let d: Duration = "1m30.5s".parse()?;
/// assert_eq!(d.as_nanos(), 90_500_000_000);
/// assert_eq!(d.to_string(), "90.500s");
/// assert_eq!("250ms".parse::<Duration>()?, Duration::from_millis(250));
/// # Ok::<(), mesh_core::api::DurationParseError>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration {
    nanos: i128,
}

/// Why a string is not a duration.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid duration {input:?}: {reason}")]
pub struct DurationParseError {
    input: String,
    reason: &'static str,
}

const NANOS_PER_SEC: i128 = 1_000_000_000;
/// The largest duration protobuf can carry: 10,000 years in seconds.
const MAX_SECONDS: i128 = 315_576_000_000;

impl Duration {
    /// A duration of `secs` whole seconds.
    pub const fn from_secs(secs: i64) -> Self {
        Self {
            nanos: secs as i128 * NANOS_PER_SEC,
        }
    }

    /// A duration of `ms` milliseconds.
    pub const fn from_millis(ms: i64) -> Self {
        Self {
            nanos: ms as i128 * 1_000_000,
        }
    }

    /// A duration of `nanos` nanoseconds.
    pub const fn from_nanos(nanos: i128) -> Self {
        Self { nanos }
    }

    /// The whole span in nanoseconds.
    pub const fn as_nanos(&self) -> i128 {
        self.nanos
    }

    /// The protobuf `seconds` field.
    pub const fn seconds(&self) -> i64 {
        (self.nanos / NANOS_PER_SEC) as i64
    }

    /// The protobuf `nanos` field (same sign as `seconds`).
    pub const fn subsec_nanos(&self) -> i32 {
        (self.nanos % NANOS_PER_SEC) as i32
    }

    /// Whether the duration is below zero.
    pub const fn is_negative(&self) -> bool {
        self.nanos < 0
    }

    /// As a `std::time::Duration`, or `None` when negative.
    pub fn to_std(&self) -> Option<std::time::Duration> {
        u64::try_from(self.nanos / NANOS_PER_SEC)
            .ok()
            .map(|s| std::time::Duration::new(s, (self.nanos % NANOS_PER_SEC) as u32))
    }
}

impl From<std::time::Duration> for Duration {
    fn from(d: std::time::Duration) -> Self {
        Self {
            nanos: d.as_nanos() as i128,
        }
    }
}

impl FromStr for Duration {
    type Err = DurationParseError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let err = |reason| DurationParseError {
            input: input.to_string(),
            reason,
        };
        let (negative, mut rest) = match input.as_bytes().first() {
            Some(b'-') => (true, &input[1..]),
            Some(b'+') => (false, &input[1..]),
            _ => (false, input),
        };
        if rest.is_empty() {
            return Err(err("empty"));
        }
        if rest == "0" {
            return Ok(Self::default());
        }
        let mut total: i128 = 0;
        while !rest.is_empty() {
            let num_end = rest
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .ok_or_else(|| err("missing unit (for example \"s\" or \"ms\")"))?;
            let (num, after) = rest.split_at(num_end);
            if num.is_empty() || num == "." || num.matches('.').count() > 1 {
                return Err(err("expected a number before the unit"));
            }
            let unit_end = after
                .find(|c: char| c.is_ascii_digit() || c == '.')
                .unwrap_or(after.len());
            let (unit, tail) = after.split_at(unit_end);
            let scale: i128 = match unit {
                "ns" => 1,
                "us" | "µs" | "μs" => 1_000,
                "ms" => 1_000_000,
                "s" => NANOS_PER_SEC,
                "m" => 60 * NANOS_PER_SEC,
                "h" => 3600 * NANOS_PER_SEC,
                _ => return Err(err("unknown unit; use h, m, s, ms, us or ns")),
            };
            let (int_part, frac_part) = num.split_once('.').unwrap_or((num, ""));
            let int: i128 = if int_part.is_empty() {
                0
            } else {
                int_part.parse().map_err(|_| err("number too large"))?
            };
            let mut value = int
                .checked_mul(scale)
                .ok_or_else(|| err("number too large"))?;
            // Fractions beyond nanosecond precision are truncated, as Go does.
            let mut place = scale;
            for d in frac_part.bytes() {
                place /= 10;
                if place == 0 {
                    break;
                }
                value += i128::from(d - b'0') * place;
            }
            total = total
                .checked_add(value)
                .ok_or_else(|| err("number too large"))?;
            if total > MAX_SECONDS * NANOS_PER_SEC {
                return Err(err("out of range (more than 10000 years)"));
            }
            rest = tail;
        }
        Ok(Self {
            nanos: if negative { -total } else { total },
        })
    }
}

impl fmt::Display for Duration {
    /// Canonical proto3 JSON: seconds with 0, 3, 6 or 9 fractional digits and an `s` suffix.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.nanos < 0 { "-" } else { "" };
        let abs = self.nanos.unsigned_abs();
        let secs = abs / NANOS_PER_SEC as u128;
        let frac = abs % NANOS_PER_SEC as u128;
        if frac == 0 {
            write!(f, "{sign}{secs}s")
        } else if frac.is_multiple_of(1_000_000) {
            write!(f, "{sign}{secs}.{:03}s", frac / 1_000_000)
        } else if frac.is_multiple_of(1_000) {
            write!(f, "{sign}{secs}.{:06}s", frac / 1_000)
        } else {
            write!(f, "{sign}{secs}.{frac:09}s")
        }
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = Duration;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration string such as \"1.5s\" or \"250ms\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
                v.parse().map_err(E::custom)
            }
        }
        d.deserialize_str(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proto_and_go_forms() {
        let cases = [
            ("1s", 1_000_000_000),
            ("1.5s", 1_500_000_000),
            ("0.001s", 1_000_000),
            ("250ms", 250_000_000),
            ("1h30m", 5_400_000_000_000),
            ("1m0.5s", 60_500_000_000),
            ("10us", 10_000),
            ("10µs", 10_000),
            ("7ns", 7),
            ("-2s", -2_000_000_000),
            ("0", 0),
            (".5s", 500_000_000),
            ("1.0000000019s", 1_000_000_001),
        ];
        for (s, nanos) in cases {
            assert_eq!(
                s.parse::<Duration>().map(|d| d.as_nanos()),
                Ok(nanos),
                "{s}"
            );
        }
    }

    #[test]
    fn rejects_malformed() {
        for s in [
            "",
            "s",
            "1",
            "1x",
            "1.2.3s",
            "abc",
            "1 s",
            "-",
            "99999999999999h",
        ] {
            assert!(s.parse::<Duration>().is_err(), "{s} should not parse");
        }
    }

    #[test]
    fn displays_canonically_and_round_trips() {
        for (s, shown) in [
            ("1s", "1s"),
            ("250ms", "0.250s"),
            ("1.000001s", "1.000001s"),
            ("3ns", "0.000000003s"),
            ("-1.5s", "-1.500s"),
        ] {
            let d: Duration = s.parse().unwrap_or_default();
            assert_eq!(d.to_string(), shown);
            assert_eq!(shown.parse::<Duration>(), Ok(d));
        }
    }

    #[test]
    fn proto_fields() {
        let d: Duration = "-1.5s".parse().unwrap_or_default();
        assert_eq!((d.seconds(), d.subsec_nanos()), (-1, -500_000_000));
        assert_eq!(d.to_std(), None);
        assert_eq!(
            Duration::from_millis(1500).to_std(),
            Some(std::time::Duration::from_millis(1500))
        );
    }
}
