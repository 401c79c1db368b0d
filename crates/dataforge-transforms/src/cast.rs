//! `cast`: converts column values to a type.

use chrono::format::{Item, StrftimeItems};
use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, Utc};
use compact_str::CompactString;
use dataforge_core::{
    Batch, Columns, ComponentError, ConfigErrors, JsonError, Projection, Record, RowContext,
    Transform, TransformFactory, Value,
};
use rust_decimal::Decimal;
use rust_decimal::prelude::{FromPrimitive, ToPrimitive};
use schemars::JsonSchema;
use serde::{Deserialize, Deserializer};

use crate::config::{Issues, OrderedMap};
use crate::error::TransformError;
use crate::names::NameSet;
use crate::rows::{Reach, for_each_row};
use crate::shape::ShapeCache;

/// Config of `cast`: column → type.
///
/// ```json
/// {"type": "cast",
///  "columns": {"total_price": "float", "amount": "decimal", "created_at": "timestamp",
///              "shipped_on": {"type": "date", "format": "%d/%m/%Y"}},
///  "format": "%Y-%m-%d %H:%M:%S"}
/// ```
///
/// Null stays null. A value that cannot be converted rejects the row (no silent truncation:
/// `"12.5"` is not an integer). What converts:
/// - `string`: any value, by its text form (nested values as JSON).
/// - `integer`: integers, integral floats and decimals, strings like `"42"` or `"42.0"`,
///   booleans (0/1).
/// - `float`: numbers, numeric strings (`"12.50"` → 12.5), booleans; not NaN or infinity.
/// - `decimal`: numbers and numeric strings, exactly (`"12.50"` keeps its scale), up to 28 digits.
/// - `boolean`: `true/false`, `1/0`, `yes/no`, `y/n`, `t/f`, `on/off` (any case), and the
///   integers 1 and 0.
/// - `timestamp`: RFC 3339 / ISO 8601 strings (`2026-08-01T10:14:09+02:00`, `…Z`, a space for
///   `T`, fractions of seconds); without an offset the time is UTC; a date alone is midnight
///   UTC; integers and floats are Unix seconds; dates are midnight UTC. With `format` (chrono's
///   `strftime` syntax), strings are parsed with it instead.
/// - `date`: `YYYY-MM-DD` strings (or `format`), timestamps (their date in their own offset) and
///   timestamp strings.
/// - `json`: a string holding JSON becomes that value; other values stay as they are.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CastConfig {
    /// Column → type name, or `{"type": .., "format": ..}`.
    pub columns: OrderedMap<ColumnCast>,
    /// The `strftime` format for the `timestamp` and `date` columns that do not give their own.
    #[serde(default)]
    pub format: Option<String>,
    /// Reject rows that lack a listed column (default false: the column is skipped).
    #[serde(default)]
    pub strict: bool,
}

/// The type a column is cast to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum CastType {
    /// Text.
    String,
    /// A 64-bit integer.
    Integer,
    /// A 64-bit float.
    Float,
    /// An exact decimal.
    Decimal,
    /// A boolean.
    Boolean,
    /// A point in time with an offset.
    Timestamp,
    /// A calendar date.
    Date,
    /// A value parsed from JSON text.
    Json,
}

impl CastType {
    fn name(self) -> &'static str {
        match self {
            CastType::String => "string",
            CastType::Integer => "integer",
            CastType::Float => "float",
            CastType::Decimal => "decimal",
            CastType::Boolean => "boolean",
            CastType::Timestamp => "timestamp",
            CastType::Date => "date",
            CastType::Json => "json",
        }
    }
}

/// One column's cast: a type name, or a type with its own format.
#[derive(Debug, Clone, PartialEq, JsonSchema)]
#[schemars(untagged)]
pub enum ColumnCast {
    /// `"float"`.
    Type(CastType),
    /// `{"type": "date", "format": "%d/%m/%Y"}`.
    Spec(CastSpec),
}

/// A cast with its own `format`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CastSpec {
    /// The type.
    #[serde(rename = "type")]
    pub to: CastType,
    /// The `strftime` format (timestamps and dates only).
    #[serde(default)]
    pub format: Option<String>,
}

impl<'de> Deserialize<'de> for ColumnCast {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        match serde_json::Value::deserialize(d)? {
            serde_json::Value::String(s) => serde_json::from_value(serde_json::Value::String(s))
                .map(ColumnCast::Type)
                .map_err(D::Error::custom),
            v @ serde_json::Value::Object(_) => serde_json::from_value(v)
                .map(ColumnCast::Spec)
                .map_err(D::Error::custom),
            _ => Err(D::Error::custom(
                "expected a type name (string integer float decimal boolean timestamp date json) \
                 or an object with `type` and `format`",
            )),
        }
    }
}

/// Registers `cast`.
pub struct CastFactory;

impl TransformFactory for CastFactory {
    const NAME: &'static str = "cast";
    const DESCRIPTION: &'static str =
        "Converts columns to string, integer, float, decimal, boolean, timestamp, date or json";
    type Config = CastConfig;

    fn build(config: Self::Config) -> Result<impl Transform, ConfigErrors> {
        Cast::new(config)
    }
}

dataforge_core::register_transform!(CastFactory);

/// How timestamps and dates are parsed from strings.
#[derive(Debug, Clone)]
enum TimeFormat {
    Iso,
    Custom { format: String, has_offset: bool },
}

#[derive(Debug)]
struct ColumnPlan {
    column: CompactString,
    to: CastType,
    format: TimeFormat,
}

/// Casts of up to this many columns find them once per row shape (see `shape.rs`); more are
/// looked up by name in each row.
const FAST_COLUMNS: usize = 8;

/// The `cast` transform.
#[derive(Debug)]
pub struct Cast {
    columns: Vec<ColumnPlan>,
    /// The columns' names, tagged with their index in `columns`.
    names: NameSet,
    strict: bool,
}

fn check_format(format: &str) -> Result<(), String> {
    if format.is_empty() {
        return Err("format must not be empty".into());
    }
    if StrftimeItems::new(format).any(|i| matches!(i, Item::Error)) {
        return Err(format!("invalid strftime format `{format}`"));
    }
    Ok(())
}

impl Cast {
    /// Validates the config.
    ///
    /// # Errors
    /// No columns, an invalid format, or a format on a column that is not a timestamp or date.
    pub fn new(config: CastConfig) -> Result<Self, ConfigErrors> {
        let mut issues = Issues::default();
        if config.columns.is_empty() {
            issues.push("columns", "must cast at least one column");
        }
        if let Some(f) = &config.format {
            if let Err(m) = check_format(f) {
                issues.push("format", m);
            }
            let uses = config.columns.iter().any(|(_, c)| match c {
                ColumnCast::Type(t) => matches!(t, CastType::Timestamp | CastType::Date),
                ColumnCast::Spec(s) => {
                    s.format.is_none() && matches!(s.to, CastType::Timestamp | CastType::Date)
                }
            });
            if !uses {
                issues.push(
                    "format",
                    "applies to timestamp and date columns, and none uses it",
                );
            }
        }
        let mut columns = Vec::with_capacity(config.columns.len());
        for (name, c) in config.columns.iter() {
            if name.is_empty() {
                issues.push("columns", "column names must not be empty");
            }
            let (to, own) = match c {
                ColumnCast::Type(t) => (*t, None),
                ColumnCast::Spec(s) => (s.to, s.format.as_ref()),
            };
            if let Some(f) = own {
                if !matches!(to, CastType::Timestamp | CastType::Date) {
                    issues.push(
                        format!("columns.{name}.format"),
                        "only timestamp and date casts take a format",
                    );
                } else if let Err(m) = check_format(f) {
                    issues.push(format!("columns.{name}.format"), m);
                }
            }
            let format = match own.or(config.format.as_ref()) {
                Some(f) if matches!(to, CastType::Timestamp | CastType::Date) => {
                    TimeFormat::Custom {
                        format: f.clone(),
                        has_offset: StrftimeItems::new(f).any(|i| {
                            matches!(
                                i,
                                Item::Fixed(
                                    chrono::format::Fixed::TimezoneOffset
                                        | chrono::format::Fixed::TimezoneOffsetColon
                                        | chrono::format::Fixed::TimezoneOffsetColonZ
                                        | chrono::format::Fixed::TimezoneOffsetZ
                                        | chrono::format::Fixed::TimezoneOffsetDoubleColon
                                        | chrono::format::Fixed::TimezoneOffsetTripleColon
                                        | chrono::format::Fixed::RFC3339
                                        | chrono::format::Fixed::RFC2822
                                )
                            )
                        }),
                    }
                }
                _ => TimeFormat::Iso,
            };
            columns.push(ColumnPlan {
                column: name.into(),
                to,
                format,
            });
        }
        let names = NameSet::new(
            columns
                .iter()
                .enumerate()
                .map(|(i, p)| (p.column.as_str(), i)),
        );
        issues.finish(Self {
            columns,
            names,
            strict: config.strict,
        })
    }

    /// Where each listed column is in rows of `columns` (the first of that name).
    fn positions(&self, columns: &Columns) -> Vec<Option<usize>> {
        let mut at = vec![None; self.columns.len()];
        for (i, k) in columns.as_slice().iter().enumerate() {
            if let Some(j) = self.names.first_match(k)
                && let Some(slot @ None) = at.get_mut(j)
            {
                *slot = Some(i);
            }
        }
        at
    }

    /// Casts a row whose listed columns are at `at` (from [`Cast::positions`] for its shape);
    /// `pending` is a buffer reused from row to row.
    fn cast_row(
        &self,
        r: &mut Record,
        at: &[Option<usize>],
        pending: &mut Vec<(usize, Value)>,
    ) -> Result<(), TransformError> {
        // Every value is converted before any is written, so a rejected row leaves unchanged.
        pending.clear();
        for (plan, &i) in self.columns.iter().zip(at) {
            let Some((i, v)) = i.and_then(|i| Some((i, r.values().get(i)?))) else {
                if self.strict {
                    return Err(TransformError::MissingColumn {
                        column: plan.column.to_string(),
                    });
                }
                continue;
            };
            match cast_value(v, plan.to, &plan.format) {
                Ok(Some(value)) => pending.push((i, value)),
                Ok(None) => {}
                Err(reason) => {
                    return Err(TransformError::Cast {
                        column: plan.column.to_string(),
                        from: v.type_name(),
                        to: plan.to.name(),
                        reason,
                    });
                }
            }
        }
        let values = r.values_mut();
        for (i, value) in pending.drain(..) {
            if let Some(slot) = values.get_mut(i) {
                *slot = value;
            }
        }
        Ok(())
    }

    fn cast_row_general(
        &self,
        r: &mut Record,
        pending: &mut Vec<Value>,
    ) -> Result<(), TransformError> {
        pending.clear();
        // First convert every column, then write: a rejected row leaves unchanged.
        for plan in &self.columns {
            let Some(v) = r.get(&plan.column) else {
                if self.strict {
                    return Err(TransformError::MissingColumn {
                        column: plan.column.to_string(),
                    });
                }
                continue;
            };
            match cast_value(v, plan.to, &plan.format) {
                Ok(Some(new)) => pending.push(new),
                Ok(None) => {}
                Err(reason) => {
                    return Err(TransformError::Cast {
                        column: plan.column.to_string(),
                        from: v.type_name(),
                        to: plan.to.name(),
                        reason,
                    });
                }
            }
        }
        if pending.is_empty() {
            return Ok(());
        }
        let mut next = pending.drain(..);
        for plan in &self.columns {
            let Some(v) = r.get_mut(&plan.column) else {
                continue;
            };
            if needs_change(v, plan.to)
                && let Some(new) = next.next()
            {
                *v = new;
            }
        }
        Ok(())
    }
}

impl Transform for Cast {
    fn transform(&self, batch: Batch, rows: &mut RowContext<'_>) -> Result<Batch, ComponentError> {
        if self.columns.len() > FAST_COLUMNS {
            let mut pending = Vec::with_capacity(self.columns.len());
            return Ok(for_each_row(batch, rows, Reach::Columns, |r| {
                self.cast_row_general(r, &mut pending).map(|()| true)
            }));
        }
        let mut plans = ShapeCache::default();
        let mut pending = Vec::with_capacity(self.columns.len());
        Ok(for_each_row(batch, rows, Reach::Columns, |r| {
            let at = plans.get(r.columns(), |c| self.positions(c));
            self.cast_row(r, at, &mut pending).map(|()| true)
        }))
    }

    /// Reads the listed columns (their values, and with `strict` their presence) besides `output`.
    fn input_projection(&self, output: &Projection) -> Projection {
        output.clone().with(self.columns.iter().map(|p| &p.column))
    }
}

/// True when `cast_value` returns a new value for `v` (the two must agree).
fn needs_change(v: &Value, to: CastType) -> bool {
    !matches!(
        (v, to),
        (Value::Null, _)
            | (Value::String(_), CastType::String)
            | (Value::Int(_), CastType::Integer)
            | (Value::Float(_), CastType::Float)
            | (Value::Decimal(_), CastType::Decimal)
            | (Value::Bool(_), CastType::Boolean)
            | (Value::Timestamp(_), CastType::Timestamp)
            | (Value::Date(_), CastType::Date)
            | (
                Value::Int(_)
                    | Value::Float(_)
                    | Value::Decimal(_)
                    | Value::Bool(_)
                    | Value::Timestamp(_)
                    | Value::Date(_)
                    | Value::Array(_)
                    | Value::Object(_),
                CastType::Json
            )
    )
}

/// Converts `v`; `Ok(None)` when it already has the type (or is null).
fn cast_value(v: &Value, to: CastType, format: &TimeFormat) -> Result<Option<Value>, String> {
    if !needs_change(v, to) {
        return Ok(None);
    }
    let out = match to {
        CastType::String => Value::String(match v {
            Value::Array(_) | Value::Object(_) => v.to_json().to_string().into(),
            other => CompactString::from(other.to_string()),
        }),
        CastType::Integer => Value::Int(to_integer(v)?),
        CastType::Float => Value::Float(to_float(v)?),
        CastType::Decimal => Value::Decimal(to_decimal(v)?),
        CastType::Boolean => Value::Bool(to_bool(v)?),
        CastType::Timestamp => Value::Timestamp(to_timestamp(v, format)?),
        CastType::Date => Value::Date(to_date(v, format)?),
        CastType::Json => match v {
            // Integers beyond 64 bits stay exact (decimals) or reject the row, never floats.
            Value::String(s) => Value::from_json(s).map_err(|e| match e {
                JsonError::Invalid(e) => format!("invalid JSON: {e}"),
                other => other.to_string(),
            })?,
            other => other.clone(),
        },
    };
    Ok(Some(out))
}

fn unsupported() -> String {
    "unsupported conversion".into()
}

fn to_integer(v: &Value) -> Result<i64, String> {
    match v {
        Value::Bool(b) => Ok(i64::from(*b)),
        Value::Float(f) => float_to_i64(*f),
        Value::Decimal(d) => decimal_to_i64(d),
        Value::String(s) => {
            let t = trim(s);
            if let Ok(i) = t.parse::<i64>() {
                return Ok(i);
            }
            if is_integer_literal(t) {
                return Err(OUT_OF_RANGE.into());
            }
            match parse_decimal(t) {
                Some(d) => decimal_to_i64(&d),
                None => Err("not an integer".into()),
            }
        }
        _ => Err(unsupported()),
    }
}

const OUT_OF_RANGE: &str = "out of the 64-bit integer range";

/// True for digits after an optional sign: an integer however long.
fn is_integer_literal(s: &str) -> bool {
    let digits = s.strip_prefix(['-', '+']).unwrap_or(s);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

fn float_to_i64(f: f64) -> Result<i64, String> {
    // 2^63 is exactly representable; every float below it in magnitude that is integral fits.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    if !f.is_finite() || f.fract() != 0.0 {
        return Err("not an integral number".into());
    }
    if !(-LIMIT..LIMIT).contains(&f) {
        return Err(OUT_OF_RANGE.into());
    }
    Ok(f as i64)
}

fn decimal_to_i64(d: &Decimal) -> Result<i64, String> {
    if !d.fract().is_zero() {
        return Err("not an integral number".into());
    }
    d.to_i64().ok_or_else(|| OUT_OF_RANGE.into())
}

/// `s` without leading and trailing whitespace, as `str::trim`; a string that starts and ends
/// with a visible ASCII character (nearly every cell) is returned as it is, unscanned.
fn trim(s: &str) -> &str {
    let visible = |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_graphic());
    if visible(s.as_bytes().first()) && visible(s.as_bytes().last()) {
        s
    } else {
        s.trim()
    }
}

/// `s` as a decimal, exactly: a number with more digits than a decimal keeps is `None`, not
/// rounded (`from_scientific` rounds its mantissa, so the mantissa is checked first).
fn parse_decimal(s: &str) -> Option<Decimal> {
    Decimal::from_str_exact(s).ok().or_else(|| {
        let (mantissa, _) = s.split_once(['e', 'E'])?;
        Decimal::from_str_exact(mantissa).ok()?;
        Decimal::from_scientific(s).ok()
    })
}

fn to_float(v: &Value) -> Result<f64, String> {
    let f = match v {
        Value::Bool(b) => f64::from(u8::from(*b)),
        Value::Int(i) => *i as f64,
        Value::Decimal(d) => d.to_f64().ok_or_else(unsupported)?,
        Value::String(s) => trim(s)
            .parse::<f64>()
            .map_err(|_| "not a number".to_string())?,
        _ => return Err(unsupported()),
    };
    if f.is_finite() {
        Ok(f)
    } else {
        Err("not a finite number".into())
    }
}

fn to_decimal(v: &Value) -> Result<Decimal, String> {
    match v {
        Value::Bool(b) => Ok(Decimal::from(u8::from(*b))),
        Value::Int(i) => Ok(Decimal::from(*i)),
        Value::Float(f) => Decimal::from_f64(*f).ok_or_else(|| "out of the decimal range".into()),
        Value::String(s) => parse_decimal(trim(s))
            .ok_or_else(|| "not a decimal number (or more than 28 digits)".into()),
        _ => Err(unsupported()),
    }
}

fn to_bool(v: &Value) -> Result<bool, String> {
    match v {
        Value::Int(0) => Ok(false),
        Value::Int(1) => Ok(true),
        Value::Float(f) if *f == 0.0 => Ok(false),
        Value::Float(f) if *f == 1.0 => Ok(true),
        Value::Decimal(d) if d.is_zero() => Ok(false),
        Value::Decimal(d) if *d == Decimal::ONE => Ok(true),
        Value::String(s) => {
            let t = trim(s);
            const TRUE: &[&str] = &["true", "1", "yes", "y", "t", "on"];
            const FALSE: &[&str] = &["false", "0", "no", "n", "f", "off"];
            if TRUE.iter().any(|w| w.eq_ignore_ascii_case(t)) {
                Ok(true)
            } else if FALSE.iter().any(|w| w.eq_ignore_ascii_case(t)) {
                Ok(false)
            } else {
                Err("not a boolean".into())
            }
        }
        Value::Int(_) | Value::Float(_) | Value::Decimal(_) => {
            Err("only 0 and 1 are booleans".into())
        }
        _ => Err(unsupported()),
    }
}

fn utc(t: NaiveDateTime) -> DateTime<FixedOffset> {
    t.and_utc().fixed_offset()
}

/// The common shape `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`, parsed by hand; `None` for
/// anything else (then chrono decides). Gives what `DateTime::parse_from_rfc3339` gives.
fn fast_rfc3339(s: &str) -> Option<DateTime<FixedOffset>> {
    let b = s.as_bytes();
    if b.len() < 20 {
        return None;
    }
    let digit = |i: usize| -> Option<u32> {
        let c = b.get(i)?.wrapping_sub(b'0');
        (c < 10).then_some(u32::from(c))
    };
    let two = |i: usize| Some(digit(i)? * 10 + digit(i + 1)?);
    if b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let year = two(0)? * 100 + two(2)?;
    let (month, day) = (two(5)?, two(8)?);
    let (hour, minute, second) = (two(11)?, two(14)?, two(17)?);
    if second > 59 {
        return None; // leap seconds: chrono's rules
    }
    let mut i = 19;
    let mut nanos = 0;
    if b[i] == b'.' {
        i += 1;
        let start = i;
        while let Some(d) = digit(i) {
            if i - start == 9 {
                return None;
            }
            nanos = nanos * 10 + d;
            i += 1;
        }
        let n = i - start;
        if n == 0 {
            return None;
        }
        nanos *= 10u32.pow(9 - n as u32);
    }
    let offset = match *b.get(i)? {
        b'Z' => {
            i += 1;
            0
        }
        sign @ (b'+' | b'-') => {
            if b.get(i + 3) != Some(&b':') {
                return None;
            }
            let (h, m) = (two(i + 1)?, two(i + 4)?);
            if h > 23 || m > 59 {
                return None;
            }
            i += 6;
            let secs = (h * 3600 + m * 60) as i32;
            if sign == b'-' { -secs } else { secs }
        }
        _ => return None,
    };
    if i != b.len() {
        return None;
    }
    let local = NaiveDate::from_ymd_opt(year as i32, month, day)?.and_time(
        chrono::NaiveTime::from_hms_nano_opt(hour, minute, second, nanos)?,
    );
    let offset = FixedOffset::east_opt(offset)?;
    Some(DateTime::from_naive_utc_and_offset(
        local.checked_sub_offset(offset)?,
        offset,
    ))
}

fn parse_iso_timestamp(s: &str) -> Option<DateTime<FixedOffset>> {
    if let Some(t) = fast_rfc3339(s) {
        return Some(t);
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t);
    }
    for f in ["%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%d %H:%M:%S%.f%z"] {
        if let Ok(t) = DateTime::parse_from_str(s, f) {
            return Some(t);
        }
    }
    for f in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, f) {
            return Some(utc(t));
        }
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(utc)
}

fn parse_custom_timestamp(
    s: &str,
    format: &str,
    has_offset: bool,
) -> Result<DateTime<FixedOffset>, String> {
    if has_offset {
        return DateTime::parse_from_str(s, format)
            .map_err(|e| format!("does not match `{format}`: {e}"));
    }
    match NaiveDateTime::parse_from_str(s, format) {
        Ok(t) => Ok(utc(t)),
        Err(e) => NaiveDate::parse_from_str(s, format)
            .ok()
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(utc)
            .ok_or_else(|| format!("does not match `{format}`: {e}")),
    }
}

fn to_timestamp(v: &Value, format: &TimeFormat) -> Result<DateTime<FixedOffset>, String> {
    match v {
        Value::String(s) => {
            let t = trim(s);
            match format {
                TimeFormat::Iso => {
                    parse_iso_timestamp(t).ok_or_else(|| "not an ISO 8601 timestamp".into())
                }
                TimeFormat::Custom { format, has_offset } => {
                    parse_custom_timestamp(t, format, *has_offset)
                }
            }
        }
        Value::Int(secs) => DateTime::<Utc>::from_timestamp(*secs, 0)
            .map(|t| t.fixed_offset())
            .ok_or_else(|| "out of the timestamp range".into()),
        Value::Float(f) if f.is_finite() => {
            let secs = f.floor();
            let nanos = ((f - secs) * 1e9).round() as u32;
            if secs.abs() > 1e15 {
                return Err("out of the timestamp range".into());
            }
            DateTime::<Utc>::from_timestamp(secs as i64, nanos.min(999_999_999))
                .map(|t| t.fixed_offset())
                .ok_or_else(|| "out of the timestamp range".into())
        }
        Value::Date(d) => d
            .and_hms_opt(0, 0, 0)
            .map(utc)
            .ok_or_else(|| "out of the timestamp range".into()),
        _ => Err(unsupported()),
    }
}

fn to_date(v: &Value, format: &TimeFormat) -> Result<NaiveDate, String> {
    match v {
        Value::Timestamp(t) => Ok(t.date_naive()),
        Value::String(s) => {
            let t = trim(s);
            match format {
                TimeFormat::Iso => NaiveDate::parse_from_str(t, "%Y-%m-%d")
                    .ok()
                    .or_else(|| parse_iso_timestamp(t).map(|ts| ts.date_naive()))
                    .ok_or_else(|| "not an ISO 8601 date".into()),
                TimeFormat::Custom { format, has_offset } => NaiveDate::parse_from_str(t, format)
                    .or_else(|_| {
                        parse_custom_timestamp(t, format, *has_offset).map(|ts| ts.date_naive())
                    })
                    .map_err(|_| format!("does not match `{format}`")),
            }
        }
        _ => Err(unsupported()),
    }
}

#[cfg(test)]
mod tests;
