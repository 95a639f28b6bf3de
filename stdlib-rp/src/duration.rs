//! Durations as written in configuration: `500ms`, `180s`, `10m`, `1h`,
//! `1m30s`, `20 s`.

use std::fmt;

use serde::{de, Deserialize, Deserializer, Serialize, Serializer};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration(pub std::time::Duration);

impl Duration {
    pub fn from_millis(ms: u64) -> Self {
        Duration(std::time::Duration::from_millis(ms))
    }

    /// `500ms`, `180s`, `10m`, `1h`, and sums of them as people write
    /// them: `1m30s`, `1m 30s`, `20 s`, `1h 15min`.
    pub fn parse(s: &str) -> Result<Duration, String> {
        let text = s.trim();
        let example =
            || format!("expected a duration like `180s`, `500ms` or `1m30s`, found `{text}`");
        let mut rest = text;
        let mut total: u64 = 0;
        if rest.is_empty() {
            return Err(example());
        }
        while !rest.is_empty() {
            let digits = rest
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(rest.len());
            if digits == 0 {
                return Err(example());
            }
            let n: u64 = rest[..digits]
                .parse()
                .map_err(|_| format!("duration `{text}` is too long"))?;
            rest = rest[digits..].trim_start();
            let letters = rest
                .find(|c: char| !c.is_ascii_alphabetic())
                .unwrap_or(rest.len());
            let unit = &rest[..letters];
            let per = match unit {
                "ms" => 1,
                "s" | "sec" => 1000,
                "m" | "min" => 60_000,
                "h" => 3_600_000,
                "" => {
                    return Err(format!(
                        "`{text}` has a number without a unit: use ms, s, m or h (e.g. `180s`)"
                    ))
                }
                _ => {
                    return Err(format!(
                        "unknown unit `{unit}` in `{text}`: use ms, s, m or h (e.g. `180s`)"
                    ))
                }
            };
            total = n
                .checked_mul(per)
                .and_then(|ms| total.checked_add(ms))
                .ok_or_else(|| format!("duration `{text}` is too long"))?;
            rest = rest[letters..].trim_start();
        }
        Ok(Duration::from_millis(total))
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_millis();
        if ms.is_multiple_of(3_600_000) && ms > 0 {
            write!(f, "{}h", ms / 3_600_000)
        } else if ms.is_multiple_of(60_000) && ms > 0 {
            write!(f, "{}m", ms / 60_000)
        } else if ms.is_multiple_of(1000) {
            write!(f, "{}s", ms / 1000)
        } else {
            write!(f, "{ms}ms")
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
        let s = String::deserialize(d)?;
        Duration::parse(&s).map_err(de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_units() {
        for (s, ms) in [
            ("500ms", 500),
            ("180s", 180_000),
            ("10m", 600_000),
            ("1h", 3_600_000),
        ] {
            let d = Duration::parse(s).unwrap();
            assert_eq!(d.0.as_millis(), ms);
            assert_eq!(Duration::parse(&d.to_string()).unwrap(), d);
        }
        assert_eq!(Duration::parse("90s").unwrap().to_string(), "90s");
        assert_eq!(Duration::parse("120s").unwrap().to_string(), "2m");
        assert!(Duration::parse("10").is_err());
        assert!(Duration::parse("ten s").is_err());
        assert!(Duration::parse("99999999999999999h").is_err());
    }
}

#[cfg(test)]
mod written_tests {
    use super::Duration;

    #[test]
    fn durations_as_people_write_them() {
        let ms = |s: &str| Duration::parse(s).map(|d| d.0.as_millis());
        assert_eq!(ms("1m30s"), Ok(90_000));
        assert_eq!(ms("1m 30s"), Ok(90_000));
        assert_eq!(ms("20 s"), Ok(20_000));
        assert_eq!(ms("1h 15min"), Ok(4_500_000));
        assert_eq!(ms("500ms"), Ok(500));
        assert!(ms("200").unwrap_err().contains("without a unit"));
        assert!(ms("5 parsecs")
            .unwrap_err()
            .contains("unknown unit `parsecs`"));
        assert!(ms("").is_err());
        assert!(ms("s").is_err());
        assert!(ms("99999999999999999999h")
            .unwrap_err()
            .contains("too long"));
    }
}
