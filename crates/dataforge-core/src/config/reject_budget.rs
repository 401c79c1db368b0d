//! `max_rejected`: how many rejected rows a run may have before it fails and commits nothing.

use std::fmt;

/// Parts per million in 100%.
const WHOLE: u64 = 1_000_000;

/// A pipeline's bad-row budget (`max_rejected`): a count of rows, or a share of the rows read.
///
/// A run whose rejected rows (every transform's and the destination's row check, whatever
/// their `on_error`) exceed it fails and its load rolls back, even with `on_error: skip`.
/// A count is checked as rows are rejected (the run stops at the first row over it), a
/// percentage once every row has been read.
///
/// In a file: a whole number (`"max_rejected": 100`) or a string with a percentage of the rows
/// read, up to four decimals (`"max_rejected": "0.5%"`).
///
/// ```
/// use dataforge_core::RejectBudget;
///
/// let budget: RejectBudget = serde_json::from_str(r#""2.5%""#).unwrap();
/// assert!(!budget.exceeded(25, 1000));
/// assert!(budget.exceeded(26, 1000));
/// assert_eq!(budget.to_string(), "2.5% of the rows read");
/// assert!(RejectBudget::Rows(0).exceeded(1, 1000));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RejectBudget {
    /// At most this many rejected rows.
    Rows(u64),
    /// At most this share of the rows read, in parts per million (`1_000_000` is 100%).
    PartsPerMillion(u32),
}

impl RejectBudget {
    /// A share of the rows read, in percent (`0.0..=100.0`, rounded to four decimals); `None`
    /// outside that range.
    pub fn percent(percent: f64) -> Option<Self> {
        if !(0.0..=100.0).contains(&percent) {
            return None;
        }
        // In range: at most 1e6, so the cast neither truncates nor wraps.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let ppm = (percent * 10_000.0).round() as u32;
        Some(Self::PartsPerMillion(ppm))
    }

    /// Whether `rejected` rows out of `read` exceed the budget.
    pub fn exceeded(self, rejected: u64, read: u64) -> bool {
        match self {
            Self::Rows(max) => rejected > max,
            Self::PartsPerMillion(ppm) => {
                u128::from(rejected) * u128::from(WHOLE) > u128::from(ppm) * u128::from(read)
            }
        }
    }

    /// Whether `rejected` rows exceed the budget whatever the number of rows read (a count
    /// can be checked before the end; a share cannot).
    pub fn exceeded_already(self, rejected: u64) -> bool {
        match self {
            Self::Rows(max) => rejected > max,
            Self::PartsPerMillion(_) => false,
        }
    }

    /// Reads a percentage such as `5%` or `0.25%` (at most four decimals).
    fn parse_percent(text: &str) -> Option<Self> {
        let number = text.trim().strip_suffix('%')?.trim_end();
        let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
        let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty() || whole.len() > 3 || fraction.len() > 4 {
            return None;
        }
        if !digits(whole) || !digits(fraction) || (number.contains('.') && fraction.is_empty()) {
            return None;
        }
        let whole: u32 = whole.parse().ok()?;
        let fraction: u32 = format!("{fraction:0<4}").parse().ok()?;
        let ppm = whole.checked_mul(10_000)?.checked_add(fraction)?;
        (u64::from(ppm) <= WHOLE).then_some(Self::PartsPerMillion(ppm))
    }
}

impl fmt::Display for RejectBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Rows(1) => f.write_str("1 row"),
            Self::Rows(n) => write!(f, "{n} rows"),
            Self::PartsPerMillion(ppm) => {
                let (whole, fraction) = (ppm / 10_000, ppm % 10_000);
                if fraction == 0 {
                    write!(f, "{whole}% of the rows read")
                } else {
                    let fraction = format!("{fraction:04}");
                    write!(
                        f,
                        "{whole}.{}% of the rows read",
                        fraction.trim_end_matches('0')
                    )
                }
            }
        }
    }
}

const EXPECTED: &str = "a number of rows (0 or more) or a percentage of the rows read such as \"5%\" (0% to 100%, at most four decimals)";

impl<'de> serde::Deserialize<'de> for RejectBudget {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = RejectBudget;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(EXPECTED)
            }
            fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<RejectBudget, E> {
                Ok(RejectBudget::Rows(n))
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<RejectBudget, E> {
                RejectBudget::parse_percent(s)
                    .ok_or_else(|| E::invalid_value(serde::de::Unexpected::Str(s), &EXPECTED))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

impl serde::Serialize for RejectBudget {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match *self {
            Self::Rows(n) => serializer.serialize_u64(n),
            Self::PartsPerMillion(_) => {
                let text = self.to_string();
                let percent = text.split(' ').next().unwrap_or_default();
                serializer.serialize_str(percent)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(v: serde_json::Value) -> Result<RejectBudget, String> {
        serde_json::from_value(v).map_err(|e| e.to_string())
    }

    #[test]
    fn counts_and_percentages_parse() {
        assert_eq!(parse(serde_json::json!(0)), Ok(RejectBudget::Rows(0)));
        assert_eq!(parse(serde_json::json!(250)), Ok(RejectBudget::Rows(250)));
        for (text, ppm) in [
            ("5%", 50_000),
            ("0%", 0),
            ("100%", 1_000_000),
            ("0.5%", 5_000),
            ("12.3456%", 123_456),
            (" 7 %", 70_000),
        ] {
            assert_eq!(
                parse(serde_json::json!(text)),
                Ok(RejectBudget::PartsPerMillion(ppm)),
                "{text}"
            );
        }
    }

    #[test]
    fn anything_else_is_refused_with_what_is_expected() {
        for bad in [
            serde_json::json!(-1),
            serde_json::json!(1.5),
            serde_json::json!("5"),
            serde_json::json!("101%"),
            serde_json::json!("-1%"),
            serde_json::json!("1.23456%"),
            serde_json::json!("1.%"),
            serde_json::json!(".5%"),
            serde_json::json!("1e2%"),
            serde_json::json!("%"),
            serde_json::json!(true),
            serde_json::json!(null),
        ] {
            let e = parse(bad.clone()).expect_err(&bad.to_string());
            assert!(e.contains("a number of rows"), "{bad}: {e}");
        }
    }

    #[test]
    fn exceeding_is_strictly_more_than_the_budget() {
        let five = RejectBudget::percent(5.0).expect("in range");
        assert!(!five.exceeded(50, 1000));
        assert!(five.exceeded(51, 1000));
        assert!(!five.exceeded(0, 0));
        assert!(!five.exceeded_already(u64::MAX));
        assert!(!RejectBudget::Rows(3).exceeded(3, 3));
        assert!(RejectBudget::Rows(3).exceeded_already(4));
        assert!(!RejectBudget::PartsPerMillion(1_000_000).exceeded(u64::MAX, u64::MAX));
        assert!(RejectBudget::PartsPerMillion(0).exceeded(1, u64::MAX));
        assert_eq!(RejectBudget::percent(100.5), None);
    }

    #[test]
    fn it_prints_and_serializes_as_written() {
        assert_eq!(RejectBudget::Rows(1).to_string(), "1 row");
        assert_eq!(
            RejectBudget::PartsPerMillion(5_000).to_string(),
            "0.5% of the rows read"
        );
        for v in [
            serde_json::json!(12),
            serde_json::json!("0.25%"),
            serde_json::json!("3%"),
        ] {
            let b = parse(v.clone()).expect("valid");
            assert_eq!(serde_json::to_value(b).expect("serializes"), v);
        }
    }
}
