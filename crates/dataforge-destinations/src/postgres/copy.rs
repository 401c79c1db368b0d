//! Binary `COPY` encoding: records to PostgreSQL's binary copy format, column by column, with
//! each value converted to the column's server type (or a precise "does not fit" error).

use std::borrow::Cow;
use std::fmt::Write as _;

use bytes::{BufMut, BytesMut};
use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, Utc};
use dataforge_core::Value;
use rust_decimal::{Decimal, RoundingStrategy};
use tokio_postgres::types::{ToSql, Type};

use crate::schema::is_date;

/// The binary COPY header: signature, flags, header extension length.
pub(crate) const HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";
/// The binary COPY trailer: a field count of -1.
pub(crate) const TRAILER: &[u8] = &[0xff, 0xff];

/// Microseconds between the Unix epoch and PostgreSQL's epoch (2000-01-01).
const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;
/// `num_days_from_ce` of 2000-01-01, PostgreSQL's day zero.
const PG_EPOCH_DAYS_FROM_CE: i32 = 730_120;

/// How one column's values are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Encoder {
    Bool,
    Int2,
    Int4,
    Int8,
    Float4,
    Float8,
    Numeric,
    Text,
    TimestampTz,
    Timestamp,
    Date,
    Json,
    Jsonb,
    Uuid,
}

impl Encoder {
    /// The encoder for a server type, or `None` when the binary path cannot write it.
    pub(crate) fn for_type(t: &Type) -> Option<Encoder> {
        Some(match *t {
            Type::BOOL => Encoder::Bool,
            Type::INT2 => Encoder::Int2,
            Type::INT4 => Encoder::Int4,
            Type::INT8 => Encoder::Int8,
            Type::FLOAT4 => Encoder::Float4,
            Type::FLOAT8 => Encoder::Float8,
            Type::NUMERIC => Encoder::Numeric,
            Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => Encoder::Text,
            Type::TIMESTAMPTZ => Encoder::TimestampTz,
            Type::TIMESTAMP => Encoder::Timestamp,
            Type::DATE => Encoder::Date,
            Type::JSON => Encoder::Json,
            Type::JSONB => Encoder::Jsonb,
            Type::UUID => Encoder::Uuid,
            _ => return None,
        })
    }

    /// Appends one non-null value (length prefix included).
    ///
    /// # Errors
    /// [`Misfit`] when the value cannot be stored in this column type.
    pub(crate) fn encode(self, v: &Value, buf: &mut BytesMut) -> Result<(), Misfit> {
        match self {
            Encoder::Bool => {
                let b = match v {
                    Value::Bool(b) => *b,
                    Value::String(s) => match s.as_str() {
                        "true" | "t" | "TRUE" | "True" => true,
                        "false" | "f" | "FALSE" | "False" => false,
                        _ => return Err(Misfit::of(v)),
                    },
                    _ => return Err(Misfit::of(v)),
                };
                buf.put_i32(1);
                buf.put_u8(u8::from(b));
            }
            Encoder::Int2 => {
                let i =
                    i16::try_from(wide_int_of(v)?).map_err(|_| Misfit::widen(v, Widen::Bigint))?;
                buf.put_i32(2);
                buf.put_i16(i);
            }
            Encoder::Int4 => {
                let i =
                    i32::try_from(wide_int_of(v)?).map_err(|_| Misfit::widen(v, Widen::Bigint))?;
                buf.put_i32(4);
                buf.put_i32(i);
            }
            Encoder::Int8 => {
                let i = wide_int_of(v)?;
                buf.put_i32(8);
                buf.put_i64(i);
            }
            Encoder::Float4 => {
                let f = float_of(v)?;
                buf.put_i32(4);
                buf.put_f32(f as f32);
            }
            Encoder::Float8 => {
                let f = float_of(v)?;
                buf.put_i32(8);
                buf.put_f64(f);
            }
            Encoder::Numeric => {
                let d = decimal_of(v)?;
                with_length(buf, |b| {
                    // Encoding a Decimal as NUMERIC cannot fail (rust_decimal's impl is total).
                    let _ = d.to_sql(&Type::NUMERIC, b);
                });
            }
            Encoder::Text => with_length(buf, |b| write_text(v, b)),
            Encoder::TimestampTz | Encoder::Timestamp => {
                let micros = match self {
                    Encoder::TimestampTz => timestamptz_of(v)?,
                    _ => timestamp_of(v)?,
                };
                buf.put_i32(8);
                buf.put_i64(micros - PG_EPOCH_MICROS);
            }
            Encoder::Date => {
                let d = date_of(v)?;
                buf.put_i32(4);
                buf.put_i32(d.num_days_from_ce() - PG_EPOCH_DAYS_FROM_CE);
            }
            Encoder::Json => with_length(buf, |b| write_json(v, b)),
            Encoder::Jsonb => with_length(buf, |b| {
                b.put_u8(1);
                write_json(v, b);
            }),
            Encoder::Uuid => {
                let u = match v {
                    Value::String(s) => uuid::Uuid::parse_str(s).map_err(|_| Misfit::of(v))?,
                    _ => return Err(Misfit::of(v)),
                };
                buf.put_i32(16);
                buf.put_slice(u.as_bytes());
            }
        }
        Ok(())
    }
}

/// The wider integer type that holds a value an integer column cannot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Widen {
    /// `bigint`: the value fits 64 bits.
    Bigint,
    /// `numeric`: the value is a whole number beyond 64 bits.
    Numeric,
}

impl Widen {
    /// The SQL type name.
    pub(crate) fn sql(self) -> &'static str {
        match self {
            Widen::Bigint => "bigint",
            Widen::Numeric => "numeric",
        }
    }

    /// The encoder of the widened column.
    pub(crate) fn encoder(self) -> Encoder {
        match self {
            Widen::Bigint => Encoder::Int8,
            Widen::Numeric => Encoder::Numeric,
        }
    }
}

/// Why a value does not fit a column (the caller adds the column and the row).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Misfit {
    /// The value's kind (`string`, `float`, ...).
    pub(crate) value_type: &'static str,
    /// Extra detail (` (out of range)`), starting with a space when not empty.
    pub(crate) detail: Cow<'static, str>,
    /// Set when the value is a whole number that a wider integer type would hold.
    pub(crate) widen: Option<Widen>,
}

impl Misfit {
    fn of(v: &Value) -> Self {
        Misfit {
            value_type: v.type_name(),
            detail: Cow::Borrowed(""),
            widen: None,
        }
    }
    fn range(v: &Value) -> Self {
        Misfit {
            value_type: v.type_name(),
            detail: Cow::Borrowed(" (out of range)"),
            widen: None,
        }
    }
    fn widen(v: &Value, to: Widen) -> Self {
        Misfit {
            widen: Some(to),
            ..Misfit::range(v)
        }
    }
    fn because(v: &Value, detail: String) -> Self {
        Misfit {
            value_type: v.type_name(),
            detail: Cow::Owned(detail),
            widen: None,
        }
    }
}

/// A column's type-modifier limit (`varchar(10)`, `numeric(12,2)`), checked before the value
/// reaches the server so the error can name the row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Limit {
    /// No limit the encoder checks.
    #[default]
    None,
    /// At most this many characters (`varchar(n)`, `char(n)`).
    Chars(usize),
    /// `numeric(precision, scale)`, with `0 <= scale <= 28`.
    Numeric {
        /// Total significant digits.
        precision: u32,
        /// Digits after the point.
        scale: u32,
    },
}

impl Limit {
    /// The limit of a server type with its `atttypmod` (-1 when it has none).
    pub(crate) fn of(ty: &Type, typmod: i32) -> Limit {
        // PostgreSQL stores both modifiers with VARHDRSZ (4) added.
        const VARHDRSZ: i32 = 4;
        if typmod < VARHDRSZ {
            return Limit::None;
        }
        let m = typmod - VARHDRSZ;
        match *ty {
            Type::VARCHAR | Type::BPCHAR => usize::try_from(m).map_or(Limit::None, Limit::Chars),
            Type::NUMERIC => {
                let precision = ((m >> 16) & 0xffff) as u32;
                // The scale is an 11-bit signed field (negative scales exist since PG 15).
                let scale = ((m & 0x7ff) ^ 0x400) - 0x400;
                match u32::try_from(scale) {
                    Ok(scale) if scale <= 28 && scale <= precision => {
                        Limit::Numeric { precision, scale }
                    }
                    // Exotic scales: the server checks, and its error is mapped to the row.
                    _ => Limit::None,
                }
            }
            _ => Limit::None,
        }
    }
}

impl Encoder {
    /// Appends one non-null value like [`Encoder::encode`], then checks what PostgreSQL would
    /// refuse: a NUL character in text or `jsonb`, a string longer than `varchar(n)`, a number
    /// beyond `numeric(p,s)`. On error the buffer may hold part of the value: the caller drops
    /// the row's bytes.
    ///
    /// # Errors
    /// [`Misfit`] when the value cannot be stored in this column.
    pub(crate) fn encode_checked(
        self,
        limit: Limit,
        v: &Value,
        buf: &mut BytesMut,
    ) -> Result<(), Misfit> {
        if let (Encoder::Numeric, Limit::Numeric { precision, scale }) = (self, limit) {
            check_numeric(v, decimal_of(v)?, precision, scale)?;
        }
        let at = buf.len();
        self.encode(v, buf)?;
        // The value's bytes, after the 4-byte length.
        let bytes = &buf[at + 4..];
        match self {
            Encoder::Text => {
                if super::row_check::has_nul(bytes) {
                    return Err(Misfit::because(v, NUL.to_owned()));
                }
                if let Limit::Chars(n) = limit {
                    check_chars(v, bytes, n)?;
                }
            }
            // serde_json writes a NUL as `\u0000`; only then look for the real thing.
            Encoder::Jsonb if contains(bytes, b"u0000") && has_nul(v) => {
                return Err(Misfit::because(v, NUL.to_owned()));
            }
            _ => {}
        }
        Ok(())
    }
}

/// The detail of a value holding a NUL character.
const NUL: &str =
    " containing a NUL character (\\0), which PostgreSQL cannot store in text or jsonb";

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Whether a string anywhere in the value (object keys included) holds a NUL.
fn has_nul(v: &Value) -> bool {
    match v {
        Value::String(s) => s.contains('\0'),
        Value::Array(a) => a.iter().any(has_nul),
        Value::Object(o) => o.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
        _ => false,
    }
}

/// `varchar(n)`: at most `n` characters, except that PostgreSQL cuts trailing spaces beyond.
fn check_chars(v: &Value, bytes: &[u8], n: usize) -> Result<(), Misfit> {
    // Characters are the bytes that do not continue a UTF-8 sequence.
    let is_start = |b: &u8| (*b & 0xc0) != 0x80;
    let chars = bytes.iter().filter(|b| is_start(b)).count();
    if chars <= n {
        return Ok(());
    }
    // The byte where character n+1 starts.
    let cut = bytes
        .iter()
        .enumerate()
        .filter(|(_, b)| is_start(b))
        .nth(n)
        .map_or(bytes.len(), |(i, _)| i);
    if bytes[cut..].iter().all(|b| *b == b' ') {
        return Ok(());
    }
    Err(Misfit::because(
        v,
        format!(" of {chars} characters (value too long: at most {n})"),
    ))
}

/// `numeric(p,s)`: rounded to `s` places (half away from zero, as PostgreSQL does), the value
/// must stay below `10^(p-s)`.
fn check_numeric(v: &Value, d: Decimal, precision: u32, scale: u32) -> Result<(), Misfit> {
    let whole_digits = precision - scale;
    if whole_digits > 28 {
        return Ok(()); // beyond any Decimal
    }
    let rounded = d.round_dp_with_strategy(scale, RoundingStrategy::MidpointAwayFromZero);
    let bound = Decimal::from_i128_with_scale(10i128.pow(whole_digits), 0);
    if rounded.abs() < bound {
        return Ok(());
    }
    Err(Misfit::because(
        v,
        format!(
            " of {} (numeric field overflow: at most {whole_digits} digits before the point)",
            cut(&d.to_string(), 100)
        ),
    ))
}

/// At most `max` characters of `s`, with `…` when cut.
pub(crate) fn cut(s: &str, max: usize) -> Cow<'_, str> {
    match s.char_indices().nth(max) {
        None => Cow::Borrowed(s),
        Some((i, _)) => Cow::Owned(format!("{}…", &s[..i])),
    }
}

/// Writes a length placeholder, the value, then patches the length.
fn with_length(buf: &mut BytesMut, write: impl FnOnce(&mut BytesMut)) {
    let at = buf.len();
    buf.put_i32(0);
    write(buf);
    let len = (buf.len() - at - 4) as i32;
    buf[at..at + 4].copy_from_slice(&len.to_be_bytes());
}

/// [`int_of`], but a whole number beyond 64 bits asks for a `numeric` column.
fn wide_int_of(v: &Value) -> Result<i64, Misfit> {
    int_of(v).map_err(|m| {
        if beyond_i64(v) {
            Misfit::widen(v, Widen::Numeric)
        } else {
            m
        }
    })
}

/// A whole number that `i64` cannot hold: an integral decimal, or a string of digits.
fn beyond_i64(v: &Value) -> bool {
    match v {
        Value::Decimal(d) => d.fract().is_zero() && i64::try_from(*d).is_err(),
        Value::String(s) => {
            let t = s.trim();
            let digits = t.strip_prefix(['-', '+']).unwrap_or(t);
            !digits.is_empty()
                && digits.bytes().all(|b| b.is_ascii_digit())
                && t.parse::<i64>().is_err()
                && t.parse::<Decimal>().is_ok()
        }
        _ => false,
    }
}

fn int_of(v: &Value) -> Result<i64, Misfit> {
    match v {
        Value::Int(i) => Ok(*i),
        Value::Float(f) if f.fract() == 0.0 && f.abs() < 9.2e18 => Ok(*f as i64),
        Value::Decimal(d) if d.fract().is_zero() => i64::try_from(*d).map_err(|_| Misfit::range(v)),
        Value::String(s) => s.trim().parse::<i64>().map_err(|_| Misfit::of(v)),
        _ => Err(Misfit::of(v)),
    }
}

fn float_of(v: &Value) -> Result<f64, Misfit> {
    match v {
        Value::Int(i) => Ok(*i as f64),
        Value::Float(f) => Ok(*f),
        Value::Decimal(d) => d.to_string().parse().map_err(|_| Misfit::of(v)),
        Value::String(s) => s.trim().parse::<f64>().map_err(|_| Misfit::of(v)),
        _ => Err(Misfit::of(v)),
    }
}

fn decimal_of(v: &Value) -> Result<Decimal, Misfit> {
    match v {
        Value::Int(i) => Ok(Decimal::from(*i)),
        Value::Decimal(d) => Ok(*d),
        Value::Float(f) if f.is_finite() => {
            // The shortest text that round-trips, not the binary expansion (0.1, not 0.1000…055).
            let s = f.to_string();
            s.parse::<Decimal>()
                .or_else(|_| Decimal::from_scientific(&s))
                .map_err(|_| Misfit::range(v))
        }
        Value::String(s) => {
            let t = s.trim();
            t.parse::<Decimal>()
                .or_else(|_| Decimal::from_scientific(t))
                .map_err(|_| Misfit::of(v))
        }
        _ => Err(Misfit::of(v)),
    }
}

fn parse_timestamptz(s: &str) -> Option<DateTime<chrono::FixedOffset>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .or_else(|| DateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f%#z").ok())
}

fn parse_naive(s: &str) -> Option<NaiveDateTime> {
    NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
        .ok()
        .or_else(|| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f").ok())
}

fn midnight(d: NaiveDate) -> NaiveDateTime {
    d.and_time(chrono::NaiveTime::MIN)
}

fn timestamptz_of(v: &Value) -> Result<i64, Misfit> {
    let utc: DateTime<Utc> = match v {
        Value::Timestamp(t) => t.to_utc(),
        Value::Date(d) => midnight(*d).and_utc(),
        Value::String(s) => {
            let s = s.trim();
            if let Some(t) = parse_timestamptz(s) {
                t.to_utc()
            } else if is_date(s) {
                let d = NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| Misfit::of(v))?;
                midnight(d).and_utc()
            } else {
                return Err(Misfit::of(v));
            }
        }
        _ => return Err(Misfit::of(v)),
    };
    Ok(utc.timestamp_micros())
}

fn timestamp_of(v: &Value) -> Result<i64, Misfit> {
    let naive = match v {
        Value::Timestamp(t) => t.naive_utc(),
        Value::Date(d) => midnight(*d),
        Value::String(s) => {
            let s = s.trim();
            if let Some(t) = parse_timestamptz(s) {
                t.naive_utc()
            } else if let Some(t) = parse_naive(s) {
                t
            } else if is_date(s) {
                midnight(NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| Misfit::of(v))?)
            } else {
                return Err(Misfit::of(v));
            }
        }
        _ => return Err(Misfit::of(v)),
    };
    Ok(naive.and_utc().timestamp_micros())
}

fn date_of(v: &Value) -> Result<NaiveDate, Misfit> {
    match v {
        Value::Date(d) => Ok(*d),
        Value::String(s) if is_date(s.trim()) => {
            NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").map_err(|_| Misfit::of(v))
        }
        _ => Err(Misfit::of(v)),
    }
}

/// The text form: strings as they are, numbers and dates in their usual form, nested values
/// as JSON.
fn write_text(v: &Value, buf: &mut BytesMut) {
    match v {
        Value::String(s) => buf.put_slice(s.as_bytes()),
        Value::Array(_) | Value::Object(_) => write_json(v, buf),
        Value::Int(i) => {
            let mut b = itoa_buf(*i);
            buf.put_slice(b.as_bytes_mut());
        }
        other => {
            // Writing into a BytesMut cannot fail.
            let _ = write!(buf, "{other}");
        }
    }
}

/// Formats an integer without going through `fmt` machinery for the common case.
struct IntText {
    bytes: [u8; 20],
    start: usize,
}

impl IntText {
    fn as_bytes_mut(&mut self) -> &[u8] {
        &self.bytes[self.start..]
    }
}

fn itoa_buf(i: i64) -> IntText {
    let mut bytes = [0u8; 20];
    let mut pos = 20;
    let neg = i < 0;
    let mut n = i.unsigned_abs();
    loop {
        pos -= 1;
        bytes[pos] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if neg {
        pos -= 1;
        bytes[pos] = b'-';
    }
    IntText { bytes, start: pos }
}

fn write_json(v: &Value, buf: &mut BytesMut) {
    // Serialising a Value cannot fail (non-finite floats become null), nor can writing to memory.
    let _ = serde_json::to_writer(buf.writer(), v);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(e: Encoder, v: Value) -> Result<Vec<u8>, Misfit> {
        let mut b = BytesMut::new();
        e.encode(&v, &mut b)?;
        Ok(b.to_vec())
    }

    #[test]
    fn integers_check_their_range() {
        assert_eq!(
            enc(Encoder::Int4, Value::Int(7)).expect("fits"),
            [0, 0, 0, 4, 0, 0, 0, 7]
        );
        let e = enc(Encoder::Int4, Value::Int(1 << 40)).expect_err("too big");
        assert_eq!(e.value_type, "integer");
        assert!(e.detail.contains("range"));
        assert_eq!(
            enc(Encoder::Int8, Value::Float(3.0))
                .expect("whole float")
                .len(),
            12
        );
        assert_eq!(
            enc(Encoder::Int8, Value::Float(3.5))
                .expect_err("fraction")
                .value_type,
            "float"
        );
        assert_eq!(
            enc(Encoder::Int8, "abc".into())
                .expect_err("text")
                .value_type,
            "string"
        );
    }

    #[test]
    fn text_forms() {
        assert_eq!(
            &enc(Encoder::Text, Value::Int(-120)).expect("ok")[4..],
            b"-120"
        );
        assert_eq!(
            &enc(Encoder::Text, Value::Int(i64::MIN)).expect("ok")[4..],
            i64::MIN.to_string().as_bytes()
        );
        assert_eq!(
            &enc(Encoder::Text, "héllo".into()).expect("ok")[4..],
            "héllo".as_bytes()
        );
        let obj = Value::Object(dataforge_core::record! {"a" => 1});
        assert_eq!(
            &enc(Encoder::Text, obj.clone()).expect("ok")[4..],
            br#"{"a":1}"#
        );
        let jsonb = enc(Encoder::Jsonb, obj).expect("ok");
        assert_eq!(&jsonb[..5], &[0, 0, 0, 8, 1]);
        assert_eq!(&jsonb[5..], br#"{"a":1}"#);
    }

    #[test]
    fn timestamps_from_strings_and_values() {
        // 2000-01-01T00:00:00Z is PostgreSQL's zero.
        let z = enc(Encoder::TimestampTz, "2000-01-01T02:00:00+02:00".into()).expect("ok");
        assert_eq!(z, [0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0]);
        let d = enc(Encoder::Date, "2000-01-02".into()).expect("ok");
        assert_eq!(d, [0, 0, 0, 4, 0, 0, 0, 1]);
        assert_eq!(
            enc(Encoder::Date, "yesterday".into())
                .expect_err("x")
                .value_type,
            "string"
        );
        assert_eq!(
            enc(Encoder::TimestampTz, Value::Bool(true))
                .expect_err("x")
                .value_type,
            "boolean"
        );
    }

    #[test]
    fn numeric_keeps_short_decimal_form() {
        assert_eq!(
            decimal_of(&Value::Float(0.1)).expect("ok").to_string(),
            "0.1"
        );
        assert_eq!(
            decimal_of(&"12.30".into()).expect("ok").to_string(),
            "12.30"
        );
        assert!(decimal_of(&Value::Float(f64::NAN)).is_err());
    }

    fn checked(e: Encoder, limit: Limit, v: Value) -> Result<Vec<u8>, Misfit> {
        let mut b = BytesMut::new();
        e.encode_checked(limit, &v, &mut b)?;
        Ok(b.to_vec())
    }

    #[test]
    fn integers_ask_for_the_wider_type_that_holds_them() {
        let m = enc(Encoder::Int4, Value::Int(1 << 40)).expect_err("too big");
        assert_eq!(m.widen, Some(Widen::Bigint));
        let m = enc(Encoder::Int2, Value::Int(70_000)).expect_err("too big");
        assert_eq!(m.widen, Some(Widen::Bigint));
        let huge = Value::Decimal("18446744073709551615".parse().expect("decimal"));
        assert_eq!(
            enc(Encoder::Int8, huge.clone()).expect_err("x").widen,
            Some(Widen::Numeric)
        );
        assert_eq!(
            enc(Encoder::Int4, huge).expect_err("x").widen,
            Some(Widen::Numeric)
        );
        assert_eq!(
            enc(Encoder::Int8, "-18446744073709551615".into())
                .expect_err("x")
                .widen,
            Some(Widen::Numeric)
        );
        // Not whole numbers: no wider integer type helps.
        let frac = Value::Decimal("1.5".parse().expect("decimal"));
        assert_eq!(enc(Encoder::Int4, frac).expect_err("x").widen, None);
        assert_eq!(enc(Encoder::Int8, "12a".into()).expect_err("x").widen, None);
    }

    #[test]
    fn limits_come_from_the_typmod() {
        // varchar(10) and numeric(12,2) as pg_attribute stores them.
        assert_eq!(Limit::of(&Type::VARCHAR, 14), Limit::Chars(10));
        assert_eq!(Limit::of(&Type::BPCHAR, 5), Limit::Chars(1));
        assert_eq!(Limit::of(&Type::VARCHAR, -1), Limit::None);
        assert_eq!(
            Limit::of(&Type::NUMERIC, (12 << 16 | 2) + 4),
            Limit::Numeric {
                precision: 12,
                scale: 2
            }
        );
        // numeric(3,-2) (PG 15): the server checks.
        assert_eq!(
            Limit::of(&Type::NUMERIC, (3 << 16 | (0x7ff & -2i32)) + 4),
            Limit::None
        );
        assert_eq!(Limit::of(&Type::NUMERIC, -1), Limit::None);
        assert_eq!(Limit::of(&Type::TEXT, 14), Limit::None);
    }

    #[test]
    fn text_checks_nul_and_length() {
        let m = checked(Encoder::Text, Limit::None, "a\0b".into()).expect_err("NUL");
        assert!(m.detail.contains("NUL"), "{m:?}");
        checked(Encoder::Text, Limit::Chars(3), "héé".into()).expect("3 characters");
        let m = checked(Encoder::Text, Limit::Chars(3), "héé!".into()).expect_err("4");
        assert!(m.detail.contains("4 characters"), "{m:?}");
        // Spaces beyond the limit are cut by PostgreSQL, as in `'ab  '::varchar(3)`.
        checked(Encoder::Text, Limit::Chars(3), "abc   ".into()).expect("trailing spaces");
        checked(Encoder::Text, Limit::Chars(3), Value::Int(123)).expect("3 digits");
        assert!(checked(Encoder::Text, Limit::Chars(3), Value::Int(-123)).is_err());
    }

    #[test]
    fn jsonb_refuses_a_nul_anywhere_and_json_escapes_it() {
        let nested = Value::Array(vec![Value::Object(dataforge_core::record! {"a\0" => 1})]);
        assert!(checked(Encoder::Jsonb, Limit::None, nested.clone()).is_err());
        checked(Encoder::Json, Limit::None, nested).expect("json keeps \\u0000");
        checked(Encoder::Jsonb, Limit::None, "\\u0000".into()).expect("an escaped backslash");
    }

    #[test]
    fn numeric_checks_precision_after_rounding() {
        let lim = Limit::Numeric {
            precision: 5,
            scale: 2,
        };
        checked(Encoder::Numeric, lim, "999.994".into()).expect("rounds to 999.99");
        checked(Encoder::Numeric, lim, "-999.99".into()).expect("fits");
        let m = checked(Encoder::Numeric, lim, "999.995".into()).expect_err("1000.00");
        assert!(m.detail.contains("overflow"), "{m:?}");
        assert!(checked(Encoder::Numeric, lim, Value::Int(1000)).is_err());
        let frac = Limit::Numeric {
            precision: 2,
            scale: 2,
        };
        checked(Encoder::Numeric, frac, Value::Float(0.994)).expect("0.99");
        assert!(checked(Encoder::Numeric, frac, Value::Float(0.995)).is_err());
    }
}
