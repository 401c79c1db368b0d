//! The data model: [`Value`], one JSON-like value, and [`Record`], one row as an ordered map.
//!
//! Records are deserialised straight from JSON (any serde deserializer; the file source uses
//! `sonic-rs`) without an intermediate tree. A record keeps its column names apart from its
//! values, as [`Columns`] that the rows of one shape share (see `value/columns.rs`): a row
//! costs one allocation for its values. Names are [`CompactString`]s (inline up to 24 bytes).
//!
//! A parsed object's values, and an array's elements, end in a vector of exactly their length
//! (see `value/parse_buffers.rs` for why and how).
//!
//! Rust values go in with `From` (`Value::from(12u64)`, `record! {"id" => 12u64}`) and come out
//! with `TryFrom<&Value>` (`i64::try_from(&record["id"])?`), exactly or with a
//! [`ValueTypeError`]; `record["id"]` indexes by column name (panicking when it is absent, as
//! `HashMap` does: [`Record::get`] is the fallible lookup); `serde_json::Value::from(record)`
//! and `Record::try_from(json)` convert whole rows (see `value/convert.rs`).

use std::fmt;

use chrono::{DateTime, FixedOffset, NaiveDate, SecondsFormat};
pub use compact_str::CompactString;
use rust_decimal::Decimal;
use serde::de::{self, Deserialize, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

use crate::projection::Projection;

mod columns;
mod convert;
mod json;
mod parse_buffers;

pub use columns::Columns;
pub use convert::ValueTypeError;
pub use json::{JsonError, ProjectedParser};

/// One value of a record: JSON's kinds plus the typed values a `cast` produces.
#[derive(Clone, Debug, PartialEq, Default)]
pub enum Value {
    /// No value.
    #[default]
    Null,
    /// A boolean.
    Bool(bool),
    /// A 64-bit signed integer.
    Int(i64),
    /// A 64-bit float.
    Float(f64),
    /// An exact decimal (money); JSON integers beyond `i64` also land here.
    Decimal(Decimal),
    /// A UTF-8 string.
    String(CompactString),
    /// A point in time with its original UTC offset.
    Timestamp(DateTime<FixedOffset>),
    /// A calendar date.
    Date(NaiveDate),
    /// An ordered list of values.
    Array(Vec<Value>),
    /// A nested object.
    Object(Record),
}

impl Value {
    /// The name of this value's kind, as used in error messages and `validate` rules.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Int(_) => "integer",
            Value::Float(_) => "float",
            Value::Decimal(_) => "decimal",
            Value::String(_) => "string",
            Value::Timestamp(_) => "timestamp",
            Value::Date(_) => "date",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        }
    }

    /// True for [`Value::Null`].
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// The string, if this is a [`Value::String`].
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The integer, if this is a [`Value::Int`].
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// The number as a float, if this is an integer, float or decimal.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(i) => Some(*i as f64),
            Value::Float(f) => Some(*f),
            Value::Decimal(d) => d.to_string().parse().ok(),
            _ => None,
        }
    }

    /// The boolean, if this is a [`Value::Bool`].
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The nested record, if this is a [`Value::Object`].
    pub fn as_object(&self) -> Option<&Record> {
        match self {
            Value::Object(r) => Some(r),
            _ => None,
        }
    }

    /// Converts to a `serde_json::Value` (timestamps, dates and decimals become strings).
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Null => serde_json::Value::Null,
            Value::Bool(b) => (*b).into(),
            Value::Int(i) => (*i).into(),
            Value::Float(f) => serde_json::Number::from_f64(*f)
                .map(serde_json::Value::Number)
                .unwrap_or(serde_json::Value::Null),
            Value::Decimal(_) | Value::Timestamp(_) | Value::Date(_) => {
                serde_json::Value::String(self.to_string())
            }
            Value::String(s) => serde_json::Value::String(s.to_string()),
            Value::Array(a) => serde_json::Value::Array(a.iter().map(Value::to_json).collect()),
            Value::Object(r) => serde_json::Value::Object(
                r.iter()
                    .map(|(k, v)| (k.to_string(), v.to_json()))
                    .collect(),
            ),
        }
    }
}

/// Displays the value as text: strings unquoted, nested values as JSON (the CSV cell form).
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => Ok(()),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(x) => write!(f, "{x}"),
            Value::Decimal(d) => write!(f, "{d}"),
            Value::String(s) => f.write_str(s),
            Value::Timestamp(t) => f.write_str(&t.to_rfc3339_opts(SecondsFormat::AutoSi, true)),
            Value::Date(d) => write!(f, "{}", d.format("%Y-%m-%d")),
            Value::Array(_) | Value::Object(_) => write!(f, "{}", self.to_json()),
        }
    }
}

impl From<serde_json::Value> for Value {
    fn from(v: serde_json::Value) -> Self {
        match v {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(b) => Value::Bool(b),
            serde_json::Value::Number(n) => {
                if let Some(i) = n.as_i64() {
                    Value::Int(i)
                } else if let Some(u) = n.as_u64() {
                    Value::Decimal(Decimal::from(u))
                } else {
                    Value::Float(n.as_f64().unwrap_or(f64::NAN))
                }
            }
            serde_json::Value::String(s) => Value::String(s.into()),
            serde_json::Value::Array(a) => Value::Array(a.into_iter().map(Value::from).collect()),
            serde_json::Value::Object(o) => {
                Value::Object(o.into_iter().map(|(k, v)| (k, Value::from(v))).collect())
            }
        }
    }
}

macro_rules! value_from {
    ($($t:ty => $variant:ident $(as $conv:ty)?),* $(,)?) => {$(
        impl From<$t> for Value {
            fn from(v: $t) -> Self { Value::$variant((v $(as $conv)?).into()) }
        }
    )*};
}
value_from!(
    bool => Bool, i64 => Int, i32 => Int as i64, u32 => Int as i64, f64 => Float,
    &str => String, String => String, CompactString => String, Decimal => Decimal,
    NaiveDate => Date, DateTime<FixedOffset> => Timestamp, Record => Object, Vec<Value> => Array,
);

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

/// One row: column names to values, in insertion order.
///
/// The names are kept apart from the values, as [`Columns`] that rows of one shape share (see
/// `value/columns.rs`). Lookups are linear, which beats hashing for the tens of columns a row
/// usually has.
#[derive(Clone, Default)]
pub struct Record {
    columns: Columns,
    values: Vec<Value>,
}

impl Record {
    /// An empty record.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty record with room for `n` fields.
    pub fn with_capacity(n: usize) -> Self {
        Self {
            columns: Columns::default(),
            values: Vec::with_capacity(n),
        }
    }

    /// A record of these columns and values, in order; `None` when their counts differ.
    pub fn from_parts(columns: Columns, values: Vec<Value>) -> Option<Self> {
        (columns.len() == values.len()).then_some(Self { columns, values })
    }

    /// The columns and the values, in order.
    pub fn into_parts(self) -> (Columns, Vec<Value>) {
        (self.columns, self.values)
    }

    /// The column names (shared with the other rows of this shape).
    pub fn columns(&self) -> &Columns {
        &self.columns
    }

    /// The values, in column order.
    pub fn values(&self) -> &[Value] {
        &self.values
    }

    /// The values, mutably, in column order.
    pub fn values_mut(&mut self) -> &mut [Value] {
        &mut self.values
    }

    /// Gives the record new column names (a renaming made once for its shape); returns false,
    /// changing nothing, when their number differs from the record's.
    pub fn set_columns(&mut self, columns: &Columns) -> bool {
        let fits = columns.len() == self.values.len();
        if fits {
            self.columns = columns.clone();
        }
        fits
    }

    /// Appends `value` and gives the record `columns`, which name its columns and then the new
    /// one (made once for its shape); gives `value` back, changing nothing, when `columns` does
    /// not have one name more than the record.
    ///
    /// # Errors
    /// `value`, when the number of names does not fit.
    pub fn push_with_columns(&mut self, columns: &Columns, value: Value) -> Result<(), Value> {
        if columns.len() != self.values.len() + 1 {
            return Err(value);
        }
        self.columns = columns.clone();
        self.values.push(value);
        Ok(())
    }

    /// Number of fields.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// True when the record has no fields.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    fn position(&self, key: &str) -> Option<usize> {
        self.columns.position(key)
    }

    /// The value of `key`, if present.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.position(key).and_then(|i| self.values.get(i))
    }

    /// The value of `key`, mutably, if present.
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Value> {
        self.position(key).and_then(|i| self.values.get_mut(i))
    }

    /// True when `key` is present.
    pub fn contains_key(&self, key: &str) -> bool {
        self.position(key).is_some()
    }

    /// Sets `key` to `value`, keeping its position if it exists (returning the old value) or
    /// appending it.
    pub fn insert(
        &mut self,
        key: impl Into<CompactString>,
        value: impl Into<Value>,
    ) -> Option<Value> {
        let key = key.into();
        let value = value.into();
        match self.position(&key).and_then(|i| self.values.get_mut(i)) {
            Some(slot) => Some(std::mem::replace(slot, value)),
            None => {
                self.columns.make_mut().push(key);
                self.values.push(value);
                None
            }
        }
    }

    /// Appends a field without checking for an existing one with the same key.
    ///
    /// For builders that know their keys are distinct; a duplicate would shadow nothing and
    /// be written twice.
    pub fn push_unchecked(&mut self, key: impl Into<CompactString>, value: impl Into<Value>) {
        self.columns.make_mut().push(key.into());
        self.values.push(value.into());
    }

    /// Makes room for `additional` more fields, exactly (rows are sized to their fields when
    /// parsed: a transform that adds several columns reserves them once).
    pub fn reserve_exact(&mut self, additional: usize) {
        self.values.reserve_exact(additional);
    }

    /// Removes `key`, keeping the order of the other fields.
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        let i = self.position(key)?;
        self.columns.make_mut().remove(i);
        Some(self.values.remove(i))
    }

    /// Renames `from` to `to` in place; returns false when `from` is absent. An existing `to`
    /// is replaced.
    pub fn rename(&mut self, from: &str, to: &str) -> bool {
        let Some(i) = self.position(from) else {
            return false;
        };
        if from == to {
            return true;
        }
        let i = match self.position(to) {
            Some(j) => {
                self.columns.make_mut().remove(j);
                self.values.remove(j);
                if j < i { i - 1 } else { i }
            }
            None => i,
        };
        self.rename_at(i, to)
    }

    /// Renames the field at `index` (the position [`Record::iter`] gives it); returns false when
    /// there is none.
    ///
    /// For callers that know `name` is no other field's name, as with
    /// [`Record::push_unchecked`]: a duplicate would shadow nothing and be written twice.
    pub fn rename_at(&mut self, index: usize, name: impl Into<CompactString>) -> bool {
        if index >= self.values.len() {
            return false;
        }
        match self.columns.make_mut().get_mut(index) {
            Some(k) => {
                *k = name.into();
                true
            }
            None => false,
        }
    }

    /// Removes the fields from position `at` on and returns them in order (none when `at` is
    /// past the end).
    pub fn drain_from(
        &mut self,
        at: usize,
    ) -> impl ExactSizeIterator<Item = (CompactString, Value)> {
        let at = at.min(self.values.len());
        let names = if at == self.values.len() {
            Vec::new()
        } else {
            self.columns.make_mut().split_off(at)
        };
        names.into_iter().zip(self.values.drain(at..))
    }

    /// Keeps only the fields for which `keep` returns true.
    pub fn retain(&mut self, mut keep: impl FnMut(&str, &mut Value) -> bool) {
        let kept: Vec<bool> = self
            .columns
            .as_slice()
            .iter()
            .zip(self.values.iter_mut())
            .map(|(k, v)| keep(k, v))
            .collect();
        if kept.iter().all(|&k| k) {
            return;
        }
        let mut at = kept.iter();
        self.values.retain(|_| at.next().copied().unwrap_or(true));
        let mut at = kept.iter();
        self.columns
            .make_mut()
            .retain(|_| at.next().copied().unwrap_or(true));
    }

    /// Iterates over `(name, value)` in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&CompactString, &Value)> {
        self.columns.as_slice().iter().zip(self.values.iter())
    }

    /// Iterates mutably over `(name, value)` in order.
    pub fn iter_mut(&mut self) -> impl ExactSizeIterator<Item = (&CompactString, &mut Value)> {
        self.columns.as_slice().iter().zip(self.values.iter_mut())
    }

    /// The column names, in order.
    pub fn keys(&self) -> impl ExactSizeIterator<Item = &CompactString> {
        self.columns.as_slice().iter()
    }

    /// The record as a `serde_json::Value` object.
    pub fn to_json(&self) -> serde_json::Value {
        Value::Object(self.clone()).to_json()
    }
}

/// Equal when the names and the values are equal, in order (shared or not).
impl PartialEq for Record {
    fn eq(&self, other: &Self) -> bool {
        self.columns == other.columns && self.values == other.values
    }
}

/// Shows the record as a map of its names to its values.
impl fmt::Debug for Record {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl IntoIterator for Record {
    type Item = (CompactString, Value);
    type IntoIter = std::iter::Zip<std::vec::IntoIter<CompactString>, std::vec::IntoIter<Value>>;
    fn into_iter(self) -> Self::IntoIter {
        self.columns.into_vec().into_iter().zip(self.values)
    }
}

impl<K: Into<CompactString>, V: Into<Value>> FromIterator<(K, V)> for Record {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut r = Record::new();
        for (k, v) in iter {
            r.insert(k, v);
        }
        r
    }
}

/// Builds a [`Record`]: `record! { "id" => 1, "name" => "Ada" }`.
#[macro_export]
macro_rules! record {
    () => { $crate::Record::new() };
    ($($key:expr => $value:expr),+ $(,)?) => {{
        let mut r = $crate::Record::new();
        $( r.insert($key, $crate::Value::from($value)); )+
        r
    }};
}

// ---------- serde ----------

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Null => s.serialize_unit(),
            Value::Bool(b) => s.serialize_bool(*b),
            Value::Int(i) => s.serialize_i64(*i),
            Value::Float(f) if f.is_finite() => s.serialize_f64(*f),
            Value::Float(_) => s.serialize_unit(),
            Value::Decimal(_) | Value::Timestamp(_) | Value::Date(_) => s.collect_str(self),
            Value::String(v) => s.serialize_str(v),
            Value::Array(a) => {
                let mut seq = s.serialize_seq(Some(a.len()))?;
                for v in a {
                    seq.serialize_element(v)?;
                }
                seq.end()
            }
            Value::Object(r) => r.serialize(s),
        }
    }
}

impl Serialize for Record {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.len()))?;
        for (k, v) in self.iter() {
            map.serialize_entry(k.as_str(), v)?;
        }
        map.end()
    }
}

/// How the visitors turn the numbers a parser hands them into values.
///
/// A parser gives integer literals beyond 64 bits as floats, like any float: [`Fast`], the
/// mode of the `Deserialize` impls, refuses floats from 2^63 on (they may be such integers) and
/// [`json::parse`] parses the text again in the exact mode, which reads each number's text.
trait Numbers: Copy {
    /// The value of a float the parser read.
    fn float<E: de::Error>(self, v: f64) -> Result<Value, E>;
    /// Notes that the parser read an integer (the exact mode counts numbers to find its place).
    fn integer(self) {}
}

/// Floats from this magnitude on may be integer literals beyond `i64` (2^63): the parsers give
/// positive ones up to `u64::MAX` as `u64`, every other one as a float.
const BEYOND_64_BITS: f64 = 9_223_372_036_854_775_808.0;

/// The mode of the `Deserialize` impls: numbers as the parser gives them, except floats from
/// 2^63 on, which are refused (see [`Numbers`]).
#[derive(Clone, Copy)]
struct Fast;

impl Numbers for Fast {
    #[inline(always)]
    fn float<E: de::Error>(self, v: f64) -> Result<Value, E> {
        // (JSON parsers never give NaN, which would be refused.)
        if v.abs() < BEYOND_64_BITS {
            Ok(Value::Float(v))
        } else {
            Err(maybe_beyond_64_bits())
        }
    }
}

#[cold]
fn maybe_beyond_64_bits<E: de::Error>() -> E {
    E::custom(json::MAYBE_BEYOND_64_BITS)
}

/// Deserializes one [`Value`] in mode `N`.
#[derive(Clone, Copy)]
struct ValueSeed<N>(N);

impl<'de, N: Numbers> de::DeserializeSeed<'de> for ValueSeed<N> {
    type Value = Value;
    #[inline]
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(ValueVisitor(self.0))
    }
}

/// Deserializes one [`Record`] in mode `N`.
#[derive(Clone, Copy)]
struct RecordSeed<N>(N);

impl<'de, N: Numbers> de::DeserializeSeed<'de> for RecordSeed<N> {
    type Value = Record;
    #[inline]
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Record, D::Error> {
        d.deserialize_map(RecordVisitor(self.0))
    }
}

struct ValueVisitor<N>(N);

impl<'de, N: Numbers> Visitor<'de> for ValueVisitor<N> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        self.0.integer();
        Ok(Value::Int(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        self.0.integer();
        Ok(i64::try_from(v).map_or_else(|_| Value::Decimal(Decimal::from(v)), Value::Int))
    }
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Value, E> {
        self.0.integer();
        Decimal::try_from_i128_with_scale(v, 0)
            .map(Value::Decimal)
            .map_err(|_| E::custom(json::BEYOND_DECIMAL))
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Value, E> {
        self.0.integer();
        i128::try_from(v)
            .ok()
            .and_then(|v| Decimal::try_from_i128_with_scale(v, 0).ok())
            .map(Value::Decimal)
            .ok_or_else(|| E::custom(json::BEYOND_DECIMAL))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        self.0.float(v)
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.into()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v.into()))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        ValueSeed(self.0).deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = parse_buffers::elements();
        while let Some(v) = seq.next_element_seed(ValueSeed(self.0))? {
            out.push(v);
        }
        Ok(Value::Array(parse_buffers::exact_elements(out)))
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Value, A::Error> {
        RecordVisitor(self.0).visit_map(map).map(Value::Object)
    }
}

/// Integer literals beyond 64 bits, and floats from 2^63 on, are refused: a parser gives both
/// as floats, and cannot tell them apart. [`Value::from_json`] keeps such integers exact.
impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        ValueSeed(Fast).deserialize(d)
    }
}

struct RecordVisitor<N>(N);

/// A key that borrows from the input when the deserializer allows it.
struct Key(CompactString);

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string key")
            }
            fn visit_str<E>(self, v: &str) -> Result<Key, E> {
                Ok(Key(v.into()))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

impl<'de, N: Numbers> Visitor<'de> for RecordVisitor<N> {
    type Value = Record;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Record, A::Error> {
        visit_record(self.0, map, |map| Ok(map.next_key::<Key>()?.map(Some)))
    }
}

/// What the last row of a projected parse looked like: its top-level keys in order, whether
/// each was kept, and the columns of the kept ones. Most rows of a file have the shape of the
/// row before, so a row's keys are compared with these first: a key equal to the one at its
/// position takes its decision, and a row equal to the whole shape takes its columns, without
/// asking the projection or building the column names again.
#[derive(Default)]
pub(crate) struct LastShape {
    /// Never holds a key twice: a row with duplicate keys leaves no shape.
    keys: Vec<(CompactString, bool)>,
    /// The kept keys' columns; `None` until a row was read.
    columns: Option<Columns>,
}

/// Deserializes one [`Record`] in mode `N`, keeping only the fields `projection` keeps: the
/// others are skipped (checked as JSON, not built). `shape` is the last row's, updated.
struct ProjectedRecordSeed<'p, 's, N> {
    numbers: N,
    projection: &'p Projection,
    shape: &'s mut LastShape,
}

impl<'p, 's, N> ProjectedRecordSeed<'p, 's, N> {
    pub(crate) fn new(numbers: N, projection: &'p Projection, shape: &'s mut LastShape) -> Self {
        Self {
            numbers,
            projection,
            shape,
        }
    }
}

impl<'de, N: Numbers> de::DeserializeSeed<'de> for ProjectedRecordSeed<'_, '_, N> {
    type Value = Record;
    #[inline]
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Record, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, N: Numbers> Visitor<'de> for ProjectedRecordSeed<'_, '_, N> {
    type Value = Record;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Record, A::Error> {
        let Self {
            numbers,
            projection,
            shape,
        } = self;
        let mut values = parse_buffers::elements();
        // Keys read so far, all equal to the shape's first `read` keys while `diverged` is
        // None; from the first key that differs, the row's own keys and kept names.
        let mut read = 0;
        let mut diverged: Option<Diverged> = None;
        loop {
            let expected = match diverged {
                None => shape.keys.get(read),
                Some(_) => None,
            };
            let Some(key) = map.next_key_seed(ShapeKey {
                expected,
                projection,
            })?
            else {
                break;
            };
            read += 1;
            match key {
                // Same key as the shape's at this position.
                ShapeKeyRead::Known(true) => values.push(map.next_value_seed(ValueSeed(numbers))?),
                ShapeKeyRead::Known(false) => {
                    map.next_value::<de::IgnoredAny>()?;
                }
                ShapeKeyRead::New(name, keep) => {
                    let row = diverged
                        .get_or_insert_with(|| Diverged::from_prefix(&shape.keys[..read - 1]));
                    row.keys.push((name.clone(), keep));
                    if keep {
                        let value: Value = map.next_value_seed(ValueSeed(numbers))?;
                        row.push(name, value, &mut values);
                    } else {
                        map.next_value::<de::IgnoredAny>()?;
                    }
                }
            }
        }
        if diverged.is_none()
            && read == shape.keys.len()
            && let Some(columns) = &shape.columns
        {
            return Ok(Record {
                columns: columns.clone(),
                values: parse_buffers::exact_elements(values),
            });
        }
        // A new shape, or a row that ended before the shape did.
        let mut row = diverged.unwrap_or_else(|| Diverged::from_prefix(&shape.keys[..read]));
        let columns = columns::shared(&mut row.names);
        parse_buffers::give_back_names(row.names);
        if row.duplicates {
            // Positions no longer match names: the next row starts without a shape.
            shape.keys.clear();
            shape.columns = None;
        } else {
            shape.keys = row.keys;
            shape.columns = Some(columns.clone());
        }
        Ok(Record {
            columns,
            values: parse_buffers::exact_elements(values),
        })
    }
}

/// A row's keys from the first one that differs from the last shape's.
struct Diverged {
    /// Every key read, kept or not, with its decision.
    keys: Vec<(CompactString, bool)>,
    /// The kept ones, in the order of their values.
    names: Vec<CompactString>,
    /// A 64-bit signature of `names`, as in [`visit_record`].
    seen: u64,
    duplicates: bool,
}

impl Diverged {
    /// The state after `prefix`, keys equal to the last shape's (which has no duplicates).
    fn from_prefix(prefix: &[(CompactString, bool)]) -> Self {
        let mut names = parse_buffers::names();
        let mut seen = 0;
        for (name, keep) in prefix {
            if *keep {
                seen |= 1u64 << (key_hash(name) & 63);
                names.push(name.clone());
            }
        }
        Self {
            keys: prefix.to_vec(),
            names,
            seen,
            duplicates: false,
        }
    }

    /// Adds a kept field; a duplicate key replaces the earlier value (the last wins).
    fn push(&mut self, name: CompactString, value: Value, values: &mut Vec<Value>) {
        let bit = 1u64 << (key_hash(&name) & 63);
        if self.seen & bit != 0
            && let Some(slot) = self
                .names
                .iter()
                .position(|k| *k == name)
                .and_then(|i| values.get_mut(i))
        {
            *slot = value;
            self.duplicates = true;
            return;
        }
        self.seen |= bit;
        self.names.push(name);
        values.push(value);
    }
}

/// A top-level key, compared first with the key the last shape has at its position.
struct ShapeKey<'a> {
    expected: Option<&'a (CompactString, bool)>,
    projection: &'a Projection,
}

/// What [`ShapeKey`] read.
enum ShapeKeyRead {
    /// The shape's key at this position, kept or not as it was.
    Known(bool),
    /// Another key, and whether the projection keeps it.
    New(CompactString, bool),
}

impl<'de> DeserializeSeed<'de> for ShapeKey<'_> {
    type Value = ShapeKeyRead;
    #[inline]
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<ShapeKeyRead, D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for ShapeKey<'_> {
    type Value = ShapeKeyRead;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string key")
    }
    #[inline]
    fn visit_str<E>(self, v: &str) -> Result<ShapeKeyRead, E> {
        Ok(match self.expected {
            Some((key, keep)) if key.as_str() == v => ShapeKeyRead::Known(*keep),
            _ => ShapeKeyRead::New(v.into(), self.projection.keeps(v)),
        })
    }
}

/// Gathers an object's fields: `next_key` gives the next key, `Some(None)` for a field it
/// skipped (value included), `None` at the end.
#[inline(always)]
fn visit_record<'de, N: Numbers, A: MapAccess<'de>>(
    numbers: N,
    mut map: A,
    mut next_key: impl FnMut(&mut A) -> Result<Option<Option<Key>>, A::Error>,
) -> Result<Record, A::Error> {
    let mut names = parse_buffers::names();
    let mut values = parse_buffers::elements();
    // A 64-bit signature of the keys seen: a duplicate key (JSON allows them; the last
    // wins, as in serde_json) is searched for only when its bit is already set.
    let mut seen: u64 = 0;
    while let Some(next) = next_key(&mut map)? {
        let Some(Key(key)) = next else {
            continue;
        };
        let value: Value = map.next_value_seed(ValueSeed(numbers))?;
        let bit = 1u64 << (key_hash(&key) & 63);
        if seen & bit != 0
            && let Some(slot) = names
                .iter()
                .position(|k| *k == key)
                .and_then(|i| values.get_mut(i))
        {
            *slot = value;
            continue;
        }
        seen |= bit;
        names.push(key);
        values.push(value);
    }
    let columns = columns::shared(&mut names);
    parse_buffers::give_back_names(names);
    Ok(Record {
        columns,
        values: parse_buffers::exact_elements(values),
    })
}

fn key_hash(key: &str) -> u32 {
    let b = key.as_bytes();
    match b.len() {
        0 => 0,
        n => (n as u32)
            .wrapping_mul(31)
            .wrapping_add(u32::from(b[0]).wrapping_mul(7))
            .wrapping_add(u32::from(b[n - 1]).wrapping_mul(13))
            .wrapping_add(u32::from(b[n / 2])),
    }
}

/// Integer literals beyond 64 bits, and floats from 2^63 on, are refused: a parser gives both
/// as floats, and cannot tell them apart. [`Record::from_json`] keeps such integers exact.
impl<'de> Deserialize<'de> for Record {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        RecordSeed(Fast).deserialize(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_nested_json_in_order_with_last_duplicate_winning() {
        let r: Record = serde_json::from_str(
            r#"{"b":1,"a":{"x":[1,2.5,"s",null,true]},"b":2,"big":18446744073709551615}"#,
        )
        .expect("valid json");
        let keys: Vec<_> = r.keys().map(|k| k.as_str()).collect();
        assert_eq!(keys, ["b", "a", "big"]);
        assert_eq!(r.get("b"), Some(&Value::Int(2)));
        assert_eq!(r.get("big"), Some(&Value::Decimal(Decimal::from(u64::MAX))));
        let inner = r.get("a").and_then(Value::as_object).expect("object");
        assert_eq!(
            inner.get("x"),
            Some(&Value::Array(vec![
                Value::Int(1),
                Value::Float(2.5),
                Value::from("s"),
                Value::Null,
                Value::Bool(true)
            ]))
        );
    }

    #[test]
    fn sonic_and_serde_json_agree_and_round_trip() {
        let text = r#"{"id":1,"name":"Zoë","tags":["a"],"c":{"d":null},"f":-1.5e3}"#;
        let a: Record = serde_json::from_str(text).expect("serde_json");
        let b: Record = sonic_rs::from_str(text).expect("sonic");
        assert_eq!(a, b);
        let back = serde_json::to_string(&a).expect("serialise");
        assert_eq!(
            back,
            r#"{"id":1,"name":"Zoë","tags":["a"],"c":{"d":null},"f":-1500.0}"#
        );
    }

    /// Parsing recurses once per nesting level. serde_json stops at 128 levels and sonic-rs
    /// (the file source's parser) at 254; that depth fits the 2 MiB stack of spawned and tokio
    /// blocking threads in optimised builds (it needs under 512 KiB there; unoptimised frames
    /// are several times larger, so a debug build gets 8 MiB), and deeper input is an error,
    /// not a stack overflow.
    #[test]
    fn deepest_nesting_fits_a_thread_stack() {
        // 1 + 2 * levels deep: an object of arrays of objects.
        let nested = |levels: usize| {
            let mut text = String::from("{");
            for _ in 0..levels {
                text.push_str(r#""a":[{"#);
            }
            for _ in 0..levels {
                text.push_str("}]");
            }
            text.push('}');
            text
        };
        let stack = if cfg!(debug_assertions) {
            8 << 20
        } else {
            2 << 20
        };
        let run = std::thread::Builder::new()
            .stack_size(stack)
            .spawn(move || {
                serde_json::from_str::<Record>(&nested(63)).expect("serde_json, 127 levels");
                assert!(serde_json::from_str::<Record>(&nested(64)).is_err());
                sonic_rs::from_str::<Record>(&nested(126)).expect("sonic, 253 levels");
                assert!(sonic_rs::from_str::<Record>(&nested(127)).is_err());
                let far = nested(5000);
                assert!(serde_json::from_str::<Record>(&far).is_err());
                assert!(sonic_rs::from_str::<Record>(&far).is_err());
            })
            .expect("spawn");
        run.join().expect("no stack overflow");
    }

    /// Every object and array of a parsed row, nested or not, holds exactly its items: with
    /// both parsers, for sizes below, at and beyond the buffers' first size (16 fields,
    /// 8 elements) and beyond the largest buffer kept for reuse (256), then small again.
    #[test]
    fn parsed_rows_hold_no_spare_room() {
        fn check(v: &Value) {
            match v {
                Value::Object(r) => {
                    assert_eq!(r.values.capacity(), r.values.len());
                    r.values.iter().for_each(check);
                }
                Value::Array(a) => {
                    assert_eq!(a.capacity(), a.len());
                    a.iter().for_each(check);
                }
                _ => {}
            }
        }
        for n in [0usize, 1, 3, 8, 9, 16, 17, 40, 300, 2] {
            let fields: Vec<String> = (0..n).map(|i| format!(r#""k{i}":{i}"#)).collect();
            let elements: Vec<String> = (0..n).map(|i| i.to_string()).collect();
            let text = format!(
                r#"{{"o":{{{}}},"a":[{}],"nested":[{{{}}}],{}}}"#,
                fields.join(","),
                elements.join(","),
                fields.join(","),
                fields.join(",")
            )
            .replace(",}", "}");
            for row in [
                serde_json::from_str::<Record>(&text).expect("serde_json"),
                sonic_rs::from_str::<Record>(&text).expect("sonic"),
            ] {
                assert_eq!(row.len(), 3 + n, "{text}");
                check(&Value::Object(row));
            }
        }
    }

    /// Integers keep their exact value at every boundary, whatever their sign or nesting:
    /// `i64` as integers, beyond it as decimals, beyond a decimal an error naming them; float
    /// literals stay floats, however large.
    #[test]
    fn integers_beyond_64_bits_stay_exact_or_are_refused() {
        let dec = |s: &str| Value::Decimal(Decimal::from_str_exact(s).expect("decimal"));
        let cases = [
            ("9223372036854775807", Value::Int(i64::MAX)),
            ("-9223372036854775808", Value::Int(i64::MIN)),
            ("9223372036854775808", dec("9223372036854775808")),
            ("-9223372036854775809", dec("-9223372036854775809")),
            ("18446744073709551615", dec("18446744073709551615")),
            ("18446744073709551616", dec("18446744073709551616")),
            ("-18446744073709551616", dec("-18446744073709551616")),
            ("99999999999999999999", dec("99999999999999999999")),
            // 28 digits.
            (
                "1234567890123456789012345678",
                dec("1234567890123456789012345678"),
            ),
            (
                "-1234567890123456789012345678",
                dec("-1234567890123456789012345678"),
            ),
            // 29 digits: the largest decimal.
            (
                "79228162514264337593543950335",
                dec("79228162514264337593543950335"),
            ),
            (
                "-79228162514264337593543950335",
                dec("-79228162514264337593543950335"),
            ),
            // Float literals stay floats.
            ("1e30", Value::Float(1e30)),
            ("1.0e29", Value::Float(1e29)),
            ("-1.5E19", Value::Float(-1.5e19)),
            (
                "123456789012345678901234567890.0",
                Value::Float(1.2345678901234568e29),
            ),
            ("9.3e18", Value::Float(9.3e18)),
            ("2.5", Value::Float(2.5)),
            ("1e2", Value::Float(100.0)),
        ];
        for (number, expected) in cases {
            for text in [
                format!(r#"{{"n":{number}}}"#),
                format!("{{\"s\":\"1 \\\" 2\",\n \"n\" : {number} }}"),
            ] {
                let r = Record::from_json(text.as_bytes()).expect(&text);
                assert_eq!(r.get("n"), Some(&expected), "{text}");
            }
            let nested =
                format!(r#"{{"a":[1,-2.5,{{"b":[{number},"-9",{number}]}}],"c":{number},"d":7}}"#);
            let r = Record::from_json(nested.as_bytes()).expect(&nested);
            let inner =
                record! {"b" => vec![expected.clone(), Value::from("-9"), expected.clone()]};
            let a = Value::Array(vec![
                Value::Int(1),
                Value::Float(-2.5),
                Value::Object(inner),
            ]);
            assert_eq!(r.get("a"), Some(&a), "{nested}");
            assert_eq!(r.get("c"), Some(&expected), "{nested}");
            assert_eq!(r.get("d"), Some(&Value::Int(7)), "{nested}");
            let array = format!("[{number}, {{\"x\": {number}}}]");
            let v = Value::from_json(&array).expect(&array);
            let x = Value::Object(record! {"x" => expected.clone()});
            assert_eq!(v, Value::Array(vec![expected.clone(), x]), "{array}");
        }
        // A duplicate key: the last value wins, exact.
        let r =
            Record::from_json(br#"{"n":18446744073709551616,"m":1e30,"n":-18446744073709551617}"#)
                .expect("valid");
        assert_eq!(r.get("n"), Some(&dec("-18446744073709551617")));
        assert_eq!(r.get("m"), Some(&Value::Float(1e30)));
    }

    #[test]
    fn integers_beyond_a_decimal_are_named_by_line_and_column() {
        let cases = [
            ("79228162514264337593543950336", 29),
            ("123456789012345678901234567890", 30),
            ("-123456789012345678901234567890", 30),
        ];
        for (number, digits) in cases {
            for text in [
                format!("{{\"id\":\"x\",\n  \"n\": [1e30, {{\"v\": {number}}}]}}"),
                format!("{{\"n\":{number}}}"),
            ] {
                let e = Record::from_json(text.as_bytes()).expect_err(&text);
                let (line, column) = if text.contains('\n') { (2, 21) } else { (1, 6) };
                assert!(
                    matches!(&e, JsonError::IntegerTooLarge { number: n, digits: d, line: l, column: c }
                        if n == number && *d == digits && *l == line && *c == column),
                    "{text}: {e:?}"
                );
                let message = e.to_string();
                assert!(message.contains(number), "{message}");
                assert!(message.contains("quote it"), "{message}");
            }
        }
        let long = format!(r#"{{"n":{}}}"#, "9".repeat(300));
        match Record::from_json(long.as_bytes()) {
            Err(JsonError::IntegerTooLarge { number, digits, .. }) => {
                assert_eq!((number.chars().count(), digits), (41, 300), "{number}");
            }
            other => panic!("{other:?}"),
        }
        // Invalid JSON keeps the parser's own error, whatever its numbers.
        for bad in [
            r#"{"n":-1e30,}"#,
            r#"{"n":1e30 "m":2}"#,
            r#"{"n":12,"#,
            "[1]",
        ] {
            let e = Record::from_json(bad.as_bytes()).expect_err(bad);
            assert!(matches!(e, JsonError::Invalid(_)), "{bad}: {e:?}");
        }
        assert!(matches!(
            Record::from_json(b"{\"s\":\"\xff\",\"n\":1e30}"),
            Err(JsonError::Invalid(_))
        ));
    }

    /// A parser gives an integer beyond 64 bits as a float, as it gives `1e30`: deserialized
    /// through serde alone, both are refused rather than rounded.
    #[test]
    fn serde_alone_refuses_what_it_cannot_keep_exact() {
        for text in [
            r#"{"n":123456789012345678901234567890}"#,
            r#"{"a":[-9223372036854775809]}"#,
            r#"{"n":1e30}"#,
        ] {
            let e = sonic_rs::from_str::<Record>(text)
                .expect_err(text)
                .to_string();
            assert!(e.contains("Record::from_json"), "{e}");
            let e = serde_json::from_str::<Record>(text)
                .expect_err(text)
                .to_string();
            assert!(e.contains("Record::from_json"), "{e}");
        }
        let r: Record = serde_json::from_str(r#"{"n":18446744073709551615,"f":9.2e18}"#)
            .expect("within 64 bits");
        assert_eq!(r.get("n"), Some(&Value::Decimal(Decimal::from(u64::MAX))));
        assert_eq!(r.get("f"), Some(&Value::Float(9.2e18)));
    }

    #[test]
    fn insert_rename_remove_keep_order() {
        let mut r = record! {"a" => 1, "b" => 2, "c" => 3};
        assert!(r.rename("a", "c"));
        assert_eq!(r.keys().map(|k| k.as_str()).collect::<Vec<_>>(), ["c", "b"]);
        assert_eq!(r.get("c"), Some(&Value::Int(1)));
        assert!(!r.rename("zz", "y"));
        assert_eq!(r.insert("b", "x"), Some(Value::Int(2)));
        assert_eq!(r.remove("c"), Some(Value::Int(1)));
        assert_eq!(r.to_json(), serde_json::json!({"b": "x"}));
        let mut d = record! {"a" => 1, "b" => 2, "c" => 3};
        let tail: Vec<_> = d.drain_from(1).map(|(k, _)| k).collect();
        assert_eq!((tail, d.len()), (vec!["b".into(), "c".into()], 1));
        assert_eq!(d.drain_from(5).count(), 0);
        assert!(r.rename_at(0, "z"));
        assert!(!r.rename_at(1, "y"), "no field at 1");
        assert_eq!(r.to_json(), serde_json::json!({"z": "x"}));
    }

    #[test]
    fn display_is_the_csv_cell_form() {
        let ts = DateTime::parse_from_rfc3339("2026-08-28T06:59:14+02:00").expect("ts");
        assert_eq!(Value::from(ts).to_string(), "2026-08-28T06:59:14+02:00");
        assert_eq!(Value::Null.to_string(), "");
        assert_eq!(
            Value::Array(vec![Value::Int(1), Value::from("a")]).to_string(),
            r#"[1,"a"]"#
        );
    }
}
