//! Conversions between [`Value`] and Rust types, [`Record`] indexing by column name, and
//! records to and from `serde_json::Value`.
//!
//! Into a value: `From` for the scalar types (integers, floats, strings, decimals, dates,
//! timestamps) and `Option<T>` (`None` is null). Out of a value: `TryFrom<&Value>`, exact or a
//! [`ValueTypeError`]: no conversion rounds, truncates or parses text (that is `cast`'s job).

use std::ops::Index;

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

use super::{Record, Value};

/// A [`Value`] that is not of the Rust type asked for (or, for a number, out of its range).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("expected {expected}, found {found}")]
#[non_exhaustive]
pub struct ValueTypeError {
    /// The Rust type asked for: `i64`, `String`, `DateTime<Utc>`.
    pub expected: &'static str,
    /// What the value was: its kind ([`Value::type_name`]), or why a number did not fit
    /// (`integer out of range`, `decimal with a fraction`). Never the value itself (rows may
    /// hold personal data, and errors end in logs).
    pub found: &'static str,
}

impl ValueTypeError {
    /// `value` is not `expected`.
    pub fn new(expected: &'static str, value: &Value) -> Self {
        Self {
            expected,
            found: value.type_name(),
        }
    }

    fn because(expected: &'static str, found: &'static str) -> Self {
        Self { expected, found }
    }
}

// ---------- into a value ----------

/// An integer that fits `i64` is a [`Value::Int`], a larger one a [`Value::Decimal`] (as JSON
/// parsing does): exact either way.
impl From<u64> for Value {
    fn from(v: u64) -> Self {
        i64::try_from(v).map_or_else(|_| Value::Decimal(Decimal::from(v)), Value::Int)
    }
}

/// As `u64`: a [`Value::Int`], or a [`Value::Decimal`] beyond `i64`.
impl From<usize> for Value {
    fn from(v: usize) -> Self {
        // usize is at most 64 bits on every target Rust supports, so this is exact; were it
        // ever wider, a value beyond u64 would saturate rather than panic.
        Value::from(u64::try_from(v).unwrap_or(u64::MAX))
    }
}

/// A [`Value::Float`], widened exactly.
impl From<f32> for Value {
    fn from(v: f32) -> Self {
        Value::Float(f64::from(v))
    }
}

/// A [`Value::Timestamp`] at offset `+00:00`.
impl From<DateTime<Utc>> for Value {
    fn from(v: DateTime<Utc>) -> Self {
        Value::Timestamp(v.fixed_offset())
    }
}

// ---------- out of a value ----------

/// The integral value of a decimal, if it has no fraction.
fn integral(d: &Decimal) -> Option<i128> {
    (d.fract().is_zero()).then(|| d.trunc().to_i128()).flatten()
}

/// An integer of type `T` from an [`Value::Int`] or an integral [`Value::Decimal`] in range.
fn integer<T: TryFrom<i128> + TryFrom<i64>>(
    value: &Value,
    expected: &'static str,
) -> Result<T, ValueTypeError> {
    let out_of_range = || ValueTypeError::because(expected, "integer out of range");
    match value {
        Value::Int(i) => T::try_from(*i).map_err(|_| out_of_range()),
        Value::Decimal(d) => match integral(d) {
            Some(i) => T::try_from(i).map_err(|_| out_of_range()),
            None => Err(ValueTypeError::because(expected, "decimal with a fraction")),
        },
        other => Err(ValueTypeError::new(expected, other)),
    }
}

/// An [`Value::Int`], or a [`Value::Decimal`] without fraction within range.
impl TryFrom<&Value> for i64 {
    type Error = ValueTypeError;
    fn try_from(value: &Value) -> Result<Self, ValueTypeError> {
        integer(value, "i64")
    }
}

/// A non-negative [`Value::Int`], or a [`Value::Decimal`] without fraction within range.
impl TryFrom<&Value> for u64 {
    type Error = ValueTypeError;
    fn try_from(value: &Value) -> Result<Self, ValueTypeError> {
        integer(value, "u64")
    }
}

/// A [`Value::Int`] (or integral [`Value::Decimal`]) within `i32`.
impl TryFrom<&Value> for i32 {
    type Error = ValueTypeError;
    fn try_from(value: &Value) -> Result<Self, ValueTypeError> {
        integer(value, "i32")
    }
}

/// Any number: a [`Value::Float`], or an integer or decimal as the nearest float.
impl TryFrom<&Value> for f64 {
    type Error = ValueTypeError;
    fn try_from(value: &Value) -> Result<Self, ValueTypeError> {
        match value {
            Value::Float(f) => Ok(*f),
            Value::Int(_) | Value::Decimal(_) => value
                .as_f64()
                .ok_or_else(|| ValueTypeError::new("f64", value)),
            other => Err(ValueTypeError::new("f64", other)),
        }
    }
}

/// A [`Value::Bool`] (not `"true"`, not `1`).
impl TryFrom<&Value> for bool {
    type Error = ValueTypeError;
    fn try_from(value: &Value) -> Result<Self, ValueTypeError> {
        value
            .as_bool()
            .ok_or_else(|| ValueTypeError::new("bool", value))
    }
}

/// A [`Value::String`], borrowed.
impl<'a> TryFrom<&'a Value> for &'a str {
    type Error = ValueTypeError;
    fn try_from(value: &'a Value) -> Result<Self, ValueTypeError> {
        value
            .as_str()
            .ok_or_else(|| ValueTypeError::new("a string", value))
    }
}

/// A [`Value::String`], copied (not the text of other kinds: use `to_string` for that).
impl TryFrom<&Value> for String {
    type Error = ValueTypeError;
    fn try_from(value: &Value) -> Result<Self, ValueTypeError> {
        <&str>::try_from(value).map(str::to_owned)
    }
}

/// A [`Value::Decimal`] or [`Value::Int`]; a [`Value::Float`] as its shortest decimal text
/// (`0.1` is `0.1`, not `0.1000000000000000055…`).
impl TryFrom<&Value> for Decimal {
    type Error = ValueTypeError;
    fn try_from(value: &Value) -> Result<Self, ValueTypeError> {
        match value {
            Value::Decimal(d) => Ok(*d),
            Value::Int(i) => Ok(Decimal::from(*i)),
            Value::Float(f) => {
                // `Display` of a float is its shortest exact text, never in exponent form.
                Decimal::from_str_exact(&f.to_string())
                    .map_err(|_| ValueTypeError::because("Decimal", "float out of range"))
            }
            other => Err(ValueTypeError::new("Decimal", other)),
        }
    }
}

/// A [`Value::Timestamp`], at UTC (the same instant).
impl TryFrom<&Value> for DateTime<Utc> {
    type Error = ValueTypeError;
    fn try_from(value: &Value) -> Result<Self, ValueTypeError> {
        match value {
            Value::Timestamp(t) => Ok(t.with_timezone(&Utc)),
            other => Err(ValueTypeError::new("DateTime<Utc>", other)),
        }
    }
}

/// A [`Value::Date`].
impl TryFrom<&Value> for NaiveDate {
    type Error = ValueTypeError;
    fn try_from(value: &Value) -> Result<Self, ValueTypeError> {
        match value {
            Value::Date(d) => Ok(*d),
            other => Err(ValueTypeError::new("NaiveDate", other)),
        }
    }
}

// ---------- records ----------

/// `record["name"]`: the value of a column.
///
/// # Panics
/// When the record has no such column, as `HashMap`'s `Index` does: use [`Record::get`] when
/// the column may be absent.
impl Index<&str> for Record {
    type Output = Value;
    fn index(&self, column: &str) -> &Value {
        match self.get(column) {
            Some(value) => value,
            None => panic!("the record has no column `{column}` (use Record::get)"),
        }
    }
}

/// A JSON object, as [`Record::to_json`] (without copying): JSON's own kinds stay as they are;
/// decimals, timestamps and dates become their exact text (JSON has no such kinds), and a
/// float that is not finite becomes null.
impl From<Record> for serde_json::Value {
    fn from(record: Record) -> Self {
        serde_json::Value::Object(
            record
                .into_iter()
                .map(|(k, v)| (k.into_string(), serde_json::Value::from(v)))
                .collect(),
        )
    }
}

/// As [`Value::to_json`], without copying.
impl From<Value> for serde_json::Value {
    fn from(value: Value) -> Self {
        match value {
            Value::String(s) => serde_json::Value::String(s.into_string()),
            Value::Array(a) => {
                serde_json::Value::Array(a.into_iter().map(serde_json::Value::from).collect())
            }
            Value::Object(r) => serde_json::Value::from(r),
            other => other.to_json(),
        }
    }
}

/// A record from a JSON object, in its key order; numbers as JSON parsing makes them
/// (integers beyond `i64` as decimals). Anything but an object is an error.
impl TryFrom<serde_json::Value> for Record {
    type Error = ValueTypeError;
    fn try_from(json: serde_json::Value) -> Result<Self, ValueTypeError> {
        match Value::from(json) {
            Value::Object(record) => Ok(record),
            other => Err(ValueTypeError::new("a JSON object", &other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record;

    fn err(expected: &'static str, found: &'static str) -> ValueTypeError {
        ValueTypeError::because(expected, found)
    }

    #[test]
    fn rust_values_go_in_exactly() {
        assert_eq!(Value::from(7u64), Value::Int(7));
        assert_eq!(
            Value::from(u64::MAX),
            Value::Decimal(Decimal::from(u64::MAX))
        );
        assert_eq!(Value::from(3usize), Value::Int(3));
        assert_eq!(Value::from(1.5f32), Value::Float(1.5));
        let now = DateTime::parse_from_rfc3339("2026-03-01T10:00:00Z").expect("ts");
        let utc = now.with_timezone(&Utc);
        assert_eq!(Value::from(utc), Value::Timestamp(now));
        assert_eq!(Value::from(None::<u64>), Value::Null);
        assert_eq!(
            Value::from(Some(Decimal::new(1250, 2))).to_string(),
            "12.50"
        );
        let day = NaiveDate::from_ymd_opt(2026, 3, 1).expect("date");
        assert_eq!(Value::from(day), Value::Date(day));
    }

    #[test]
    fn values_come_out_exactly_or_say_why_not() {
        let big = Value::from(u64::MAX);
        assert_eq!(u64::try_from(&big), Ok(u64::MAX));
        assert_eq!(i64::try_from(&big), Err(err("i64", "integer out of range")));
        assert_eq!(i64::try_from(&Value::Int(-3)), Ok(-3));
        assert_eq!(
            u64::try_from(&Value::Int(-3)),
            Err(err("u64", "integer out of range"))
        );
        assert_eq!(
            i32::try_from(&Value::Int(1 << 40)),
            Err(err("i32", "integer out of range"))
        );
        let money = Value::Decimal(Decimal::new(1250, 2));
        assert_eq!(
            i64::try_from(&money),
            Err(err("i64", "decimal with a fraction"))
        );
        assert_eq!(
            i64::try_from(&Value::Decimal(Decimal::new(1200, 2))),
            Ok(12)
        );
        assert_eq!(i64::try_from(&Value::Float(1.0)), Err(err("i64", "float")));
        assert_eq!(f64::try_from(&money), Ok(12.5));
        assert_eq!(f64::try_from(&Value::Int(2)), Ok(2.0));
        assert_eq!(
            Decimal::try_from(&Value::Float(0.1)),
            Ok(Decimal::new(1, 1))
        );
        assert_eq!(
            Decimal::try_from(&Value::Float(1e20)).map(|d| d.to_string()),
            Ok("100000000000000000000".into())
        );
        assert_eq!(
            Decimal::try_from(&Value::Float(1e30)),
            Err(err("Decimal", "float out of range"))
        );
        assert_eq!(Decimal::try_from(&Value::Int(5)), Ok(Decimal::from(5)));
        assert_eq!(bool::try_from(&Value::Bool(true)), Ok(true));
        assert_eq!(
            bool::try_from(&Value::from("true")),
            Err(err("bool", "string"))
        );
        let name = Value::from("Ada");
        assert_eq!(<&str>::try_from(&name), Ok("Ada"));
        assert_eq!(String::try_from(&name).as_deref(), Ok("Ada"));
        assert_eq!(
            String::try_from(&Value::Int(1)),
            Err(err("a string", "integer"))
        );
        let ts = DateTime::parse_from_rfc3339("2026-03-01T12:00:00+02:00").expect("ts");
        let utc = DateTime::<Utc>::try_from(&Value::Timestamp(ts)).expect("timestamp");
        assert_eq!(utc.to_rfc3339(), "2026-03-01T10:00:00+00:00");
        let day = NaiveDate::from_ymd_opt(2026, 3, 1).expect("date");
        assert_eq!(NaiveDate::try_from(&Value::Date(day)), Ok(day));
        assert_eq!(
            NaiveDate::try_from(&Value::Null),
            Err(err("NaiveDate", "null"))
        );
        assert_eq!(
            err("i64", "string").to_string(),
            "expected i64, found string"
        );
    }

    #[test]
    fn records_index_by_column() {
        let r = record! {"id" => 7, "name" => "Ada"};
        assert_eq!(r["id"], Value::Int(7));
        assert_eq!(i64::try_from(&r["id"]), Ok(7));
        let missing = std::panic::catch_unwind(|| r["nope"].clone());
        assert!(
            missing.is_err(),
            "a missing column panics, as HashMap's Index"
        );
    }

    #[test]
    fn records_round_trip_through_serde_json() {
        let json = serde_json::json!({
            "id": 1, "big": 18446744073709551615u64, "price": 12.5, "ok": true, "none": null,
            "name": "Zoë", "tags": ["a", {"b": [1, 2]}], "nested": {"x": -1}
        });
        let record = Record::try_from(json.clone()).expect("an object");
        assert_eq!(record["big"], Value::Decimal(Decimal::from(u64::MAX)));
        let keys: Vec<&str> = record.keys().map(|k| k.as_str()).collect();
        assert_eq!(
            keys,
            ["id", "big", "price", "ok", "none", "name", "tags", "nested"]
        );
        let back = serde_json::Value::from(record.clone());
        assert_eq!(back, record.to_json());
        // Decimals come back as their exact text; JSON's own kinds as they were.
        let mut expected = json;
        expected["big"] = "18446744073709551615".into();
        assert_eq!(back, expected);
        let typed = record! {"day" => NaiveDate::from_ymd_opt(2026, 3, 1).expect("date"), "nan" => f64::NAN};
        assert_eq!(
            serde_json::Value::from(typed),
            serde_json::json!({"day": "2026-03-01", "nan": null})
        );
        assert_eq!(
            Record::try_from(serde_json::json!([1])),
            Err(err("a JSON object", "array"))
        );
    }
}
