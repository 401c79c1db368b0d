//! Schema inference shared by the SQL destinations: logical column types from many rows,
//! mapped to PostgreSQL and SQLite types.
//!
//! Rules (each non-null value votes; a column's type is the narrowest type every vote fits):
//! - booleans → [`ColumnType::Boolean`]; integers → [`ColumnType::BigInt`] (always 64 bits: a
//!   narrower column would fail a load whose large values come after the rows looked at);
//!   floats, or integers mixed with floats → [`ColumnType::Double`]; decimals (also mixed with
//!   integers or floats) → [`ColumnType::Numeric`];
//! - timestamps, and strings in ISO-8601 / RFC 3339 form with an offset
//!   (`2024-05-01T10:00:00+02:00`, `...Z`) → [`ColumnType::TimestampTz`]; dates and `YYYY-MM-DD`
//!   strings → [`ColumnType::Date`]; dates mixed with timestamps → `TimestampTz`;
//! - objects and arrays → [`ColumnType::Json`] (scalars mixed in are stored as JSON scalars);
//! - any other mix, and other strings → [`ColumnType::Text`]; a column with only nulls → `Text`.
//!
//! A user's `columns` override always wins (see the destinations' configs).

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate};
use dataforge_core::value::CompactString;
use dataforge_core::{Record, Value};

#[cfg(test)]
mod tests;

/// Rows the SQL destinations look at before creating or altering a table.
pub const INFER_ROWS: usize = 10_000;

/// A column's logical type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ColumnType {
    /// true / false.
    Boolean,
    /// A 64-bit whole number.
    BigInt,
    /// A 64-bit float.
    Double,
    /// An exact decimal.
    Numeric,
    /// Text.
    Text,
    /// A point in time with an offset.
    TimestampTz,
    /// A calendar date.
    Date,
    /// A JSON document (objects, arrays).
    Json,
}

impl ColumnType {
    /// The PostgreSQL type name used in `CREATE TABLE` and `ADD COLUMN`.
    pub fn postgres(self) -> &'static str {
        match self {
            ColumnType::Boolean => "BOOLEAN",
            ColumnType::BigInt => "BIGINT",
            ColumnType::Double => "DOUBLE PRECISION",
            ColumnType::Numeric => "NUMERIC",
            ColumnType::Text => "TEXT",
            ColumnType::TimestampTz => "TIMESTAMPTZ",
            ColumnType::Date => "DATE",
            ColumnType::Json => "JSONB",
        }
    }

    /// The SQLite declared type (its affinity keeps the stored values as written).
    pub fn sqlite(self) -> &'static str {
        match self {
            ColumnType::Boolean => "BOOLEAN",
            ColumnType::BigInt => "INTEGER",
            ColumnType::Double => "REAL",
            ColumnType::Numeric => "NUMERIC",
            ColumnType::Text => "TEXT",
            ColumnType::TimestampTz => "TIMESTAMP",
            ColumnType::Date => "DATE",
            ColumnType::Json => "JSON",
        }
    }

    /// The type of one value (`None` for null).
    pub fn of(value: &Value) -> Option<ColumnType> {
        Some(match value {
            Value::Null => return None,
            Value::Bool(_) => ColumnType::Boolean,
            Value::Int(_) => ColumnType::BigInt,
            Value::Float(_) => ColumnType::Double,
            Value::Decimal(_) => ColumnType::Numeric,
            Value::String(s) => string_type(s),
            Value::Timestamp(_) => ColumnType::TimestampTz,
            Value::Date(_) => ColumnType::Date,
            Value::Array(_) | Value::Object(_) => ColumnType::Json,
        })
    }

    /// The narrowest type both `self` and `other` fit.
    pub fn merge(self, other: ColumnType) -> ColumnType {
        use ColumnType::*;
        if self == other {
            return self;
        }
        match (self, other) {
            (Json, _) | (_, Json) => Json,
            (Text, _) | (_, Text) => Text,
            (BigInt, Double) | (Double, BigInt) => Double,
            (BigInt | Double, Numeric) | (Numeric, BigInt | Double) => Numeric,
            (Date, TimestampTz) | (TimestampTz, Date) => TimestampTz,
            _ => Text,
        }
    }
}

/// True when `s` is an RFC 3339 timestamp with an offset (`T` or space between date and time).
pub fn is_timestamp_tz(s: &str) -> bool {
    looks_dated(s) && s.len() > 10 && DateTime::parse_from_rfc3339(s).is_ok()
}

/// True when `s` is a `YYYY-MM-DD` date.
pub fn is_date(s: &str) -> bool {
    s.len() == 10 && looks_dated(s) && NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok()
}

fn looks_dated(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 10 && b[4] == b'-' && b[7] == b'-' && b[..4].iter().all(u8::is_ascii_digit)
}

fn string_type(s: &str) -> ColumnType {
    if is_date(s) {
        ColumnType::Date
    } else if is_timestamp_tz(s) {
        ColumnType::TimestampTz
    } else {
        ColumnType::Text
    }
}

/// Collects votes from rows and settles each column's type.
#[derive(Debug, Default, Clone)]
pub struct Inferrer {
    columns: Vec<(CompactString, Option<ColumnType>)>,
    index: HashMap<CompactString, usize>,
}

impl Inferrer {
    /// No rows seen yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts one row's votes; new columns are added in first-seen order.
    pub fn observe(&mut self, record: &Record) {
        for (name, value) in record.iter() {
            let i = match self.index.get(name.as_str()) {
                Some(i) => *i,
                None => {
                    self.index.insert(name.clone(), self.columns.len());
                    self.columns.push((name.clone(), None));
                    self.columns.len() - 1
                }
            };
            if let Some(t) = ColumnType::of(value) {
                let slot = &mut self.columns[i].1;
                *slot = Some(slot.map_or(t, |s| s.merge(t)));
            }
        }
    }

    /// Counts every row of `rows`.
    pub fn observe_all<'a>(&mut self, rows: impl IntoIterator<Item = &'a Record>) {
        for r in rows {
            self.observe(r);
        }
    }

    /// The columns seen, in first-seen order, with their types (all-null columns are `Text`).
    pub fn columns(&self) -> Vec<(CompactString, ColumnType)> {
        self.columns
            .iter()
            .map(|(n, t)| (n.clone(), t.unwrap_or(ColumnType::Text)))
            .collect()
    }
}

/// Infers the columns of `rows` in one call.
pub fn infer<'a>(rows: impl IntoIterator<Item = &'a Record>) -> Vec<(CompactString, ColumnType)> {
    let mut inf = Inferrer::new();
    inf.observe_all(rows);
    inf.columns()
}

/// True when a user's column type override is safe to place in DDL: letters, digits, spaces,
/// underscores, parentheses, commas, dots and brackets (`NUMERIC(12,2)`, `TEXT[]`,
/// `timestamp with time zone`), nothing that could end a statement or open a comment.
pub fn is_safe_type_name(t: &str) -> bool {
    !t.trim().is_empty()
        && t.len() <= 100
        && !t.contains("--")
        && t.chars().all(|c| {
            c.is_ascii_alphanumeric() || matches!(c, ' ' | '_' | '(' | ')' | ',' | '.' | '[' | ']')
        })
}

/// Receives batches until at least [`INFER_ROWS`] rows (or the end of the stream) and counts
/// their votes: the rows the SQL destinations infer column types from.
///
/// # Errors
/// The receiver's error (the upstream stage failed or the run was cancelled): nothing has been
/// written yet.
pub async fn buffer_for_inference(
    input: &mut dataforge_core::BatchReceiver,
) -> Result<(Vec<dataforge_core::Batch>, Inferrer), dataforge_core::ComponentError> {
    let mut buffer = Vec::new();
    let mut buffered = 0;
    let mut inf = Inferrer::new();
    while buffered < INFER_ROWS {
        match input.recv().await? {
            Some(batch) => {
                buffered += batch.len();
                inf.observe_all(&batch);
                buffer.push(batch);
            }
            None => break,
        }
    }
    Ok((buffer, inf))
}

/// The first key column absent from `columns`, with the columns seen (for the error), or `None`
/// when every key column is there.
pub(crate) fn missing_key_column(
    keys: &[String],
    columns: &[(CompactString, ColumnType)],
) -> Option<(String, String)> {
    let missing = keys
        .iter()
        .find(|k| !columns.iter().any(|(n, _)| n == k.as_str()))?;
    let seen: Vec<&str> = columns.iter().map(|(n, _)| n.as_str()).collect();
    Some((missing.clone(), seen.join(", ")))
}
