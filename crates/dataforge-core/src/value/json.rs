//! JSON text into records and values with `sonic-rs`, keeping integers beyond 64 bits exact.
//!
//! Parsers give an integer literal beyond `u64` (or below `i64::MIN`) as a float, rounded, just
//! as they give `1e30`: the visitor cannot tell them apart. So the `Deserialize` impls refuse
//! every float from 2^63 on in magnitude (a comparison, on floats only: nothing else on the hot
//! path), and [`Record::from_json`] and [`Value::from_json`] then parse the text again in an
//! *exact* mode that finds each number's text by counting the numbers of the text in the
//! order the parser visits them: an integer literal becomes a [`Decimal`] when it fits one
//! (up to ±79228162514264337593543950335: every 28-digit integer, most of 29) and is an error
//! naming it otherwise; a float literal (`1e30`, `1.0e29`) stays a float.

use std::cell::Cell;
use std::ops::Range;

use rust_decimal::Decimal;
use serde::de::{self, DeserializeSeed};

use super::{
    BEYOND_64_BITS, LastShape, Numbers, ProjectedRecordSeed, Record, RecordSeed, Value, ValueSeed,
};
use crate::projection::Projection;

/// The message of the `Deserialize` impls for floats from 2^63 on.
pub(super) const MAYBE_BEYOND_64_BITS: &str = "a number of 2^63 or more in magnitude may be an \
    integer beyond 64 bits that the parser rounded: parse with Record::from_json or \
    Value::from_json to keep it exact";

/// The message for an integer beyond the largest decimal that a parser gave as an `i128`.
pub(super) const BEYOND_DECIMAL: &str = "an integer beyond the largest decimal \
    (79228162514264337593543950335): refused rather than rounded";

/// The longest number an error shows whole; longer ones are cut.
const SHOWN_DIGITS: usize = 40;

/// Why JSON text did not become a record or a value.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JsonError {
    /// The text is not valid JSON, or not of the kind asked for (an object for a record).
    #[error(transparent)]
    Invalid(#[from] sonic_rs::Error),
    /// An integer literal beyond the largest decimal: refused rather than rounded to a float.
    #[error(
        "the integer {number} ({digits} digits, line {line} column {column}) is beyond the \
         largest decimal ({max}): refused rather than rounded; to keep it exactly, quote it in \
         the input (\"…\") so that it loads as a string",
        max = Decimal::MAX
    )]
    IntegerTooLarge {
        /// The literal, cut after 40 characters.
        number: String,
        /// Its number of digits.
        digits: usize,
        /// Its line within the text, from 1.
        line: u64,
        /// Its byte column within the line, from 1.
        column: u64,
    },
}

impl Record {
    /// Parses one JSON object, keeping every integer literal exact: beyond `i64` as a
    /// [`Value::Decimal`], beyond a decimal as [`JsonError::IntegerTooLarge`], never a float.
    /// Float literals stay floats, integral or not (`1e30`).
    ///
    /// # Errors
    /// Invalid JSON, not an object, or an integer beyond the largest decimal.
    // Inlined: the parse is then compiled in the caller, as when it called sonic-rs itself
    // (compiled here, it costs the file source ~500 instructions more per order, callgrind).
    #[inline]
    pub fn from_json(text: &[u8]) -> Result<Record, JsonError> {
        match sonic_rs::from_slice::<Record>(text) {
            Ok(record) => Ok(record),
            Err(e) => exact(text, e, |de, n| RecordSeed(n).deserialize(de)),
        }
    }

    /// Parses one JSON object as [`Record::from_json`] does, keeping only the top-level fields
    /// `projection` keeps: the others are checked as JSON but not built (projection pushdown).
    /// A number too large to keep in a field that is skipped is not an error: it is never read.
    /// To parse many rows, a [`ProjectedParser`] is faster.
    ///
    /// # Errors
    /// As [`Record::from_json`].
    #[inline]
    pub fn from_json_projected(text: &[u8], projection: &Projection) -> Result<Record, JsonError> {
        ProjectedParser::new(projection).parse(text)
    }
}

/// Parses JSON objects one after another as [`Record::from_json_projected`] does, remembering
/// the last row's keys: rows of the same shape (most rows of a file) skip the projection's
/// look-ups and share their column names without comparing them.
pub struct ProjectedParser<'p> {
    projection: &'p Projection,
    shape: LastShape,
}

impl<'p> ProjectedParser<'p> {
    /// A parser keeping the fields `projection` keeps.
    pub fn new(projection: &'p Projection) -> Self {
        Self {
            projection,
            shape: LastShape::default(),
        }
    }

    /// Parses one JSON object, as [`Record::from_json_projected`].
    ///
    /// # Errors
    /// As [`Record::from_json`].
    #[inline]
    pub fn parse(&mut self, text: &[u8]) -> Result<Record, JsonError> {
        let projection = self.projection;
        if projection.is_all() {
            return Record::from_json(text);
        }
        // Skipped strings are not checked as UTF-8 by the parser: the whole text is, first
        // (as `from_json` does); invalid text takes the full parse, which names the error.
        let Ok(valid) = simdutf8::basic::from_utf8(text) else {
            return Record::from_json(text);
        };
        let mut de = sonic_rs::Deserializer::from_str(valid);
        let fast = ProjectedRecordSeed::new(super::Fast, projection, &mut self.shape)
            .deserialize(&mut de)
            .and_then(|r| de.end().map(|()| r));
        match fast {
            Ok(record) => Ok(record),
            // The exact mode counts every number of the text, so it parses every field; the
            // skipped ones are then dropped.
            Err(e) => exact(text, e, |de, n| RecordSeed(n).deserialize(de)).map(|mut record| {
                record.retain(|name, _| projection.keeps(name));
                record
            }),
        }
    }
}

impl Value {
    /// Parses one JSON value, keeping every integer literal exact, as [`Record::from_json`].
    ///
    /// # Errors
    /// Invalid JSON, or an integer beyond the largest decimal.
    pub fn from_json(text: &str) -> Result<Value, JsonError> {
        match sonic_rs::from_str::<Value>(text) {
            Ok(value) => Ok(value),
            Err(e) => exact(text.as_bytes(), e, |de, n| ValueSeed(n).deserialize(de)),
        }
    }
}

/// Parses `text`, which the fast mode refused with `refused`, again in the exact mode: the
/// value, the integer that is too large, or `refused` (the text is invalid: the exact mode
/// then fails too, or, for invalid UTF-8, which it does not check, it is not asked).
#[cold]
fn exact<'a, T>(
    text: &'a [u8],
    refused: sonic_rs::Error,
    parse: impl for<'n> FnOnce(
        &mut sonic_rs::Deserializer<sonic_rs::Read<'a>>,
        Exact<'n>,
    ) -> sonic_rs::Result<T>,
) -> Result<T, JsonError> {
    let Ok(valid) = std::str::from_utf8(text) else {
        return Err(refused.into());
    };
    let numbers = NumberTexts {
        text,
        at: Cell::new(0),
        too_large: Cell::new(None),
    };
    let mut de = sonic_rs::Deserializer::from_str(valid);
    let result = parse(&mut de, Exact(&numbers)).and_then(|v| de.end().map(|()| v));
    match (result, numbers.too_large.take()) {
        (Ok(v), _) => Ok(v),
        (Err(_), Some(at)) => Err(too_large(text, at)),
        (Err(_), None) => Err(refused.into()),
    }
}

/// The error for the integer literal at `at` in `text`.
fn too_large(text: &[u8], at: Range<usize>) -> JsonError {
    let before = text.get(..at.start).unwrap_or_default();
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    let literal = String::from_utf8_lossy(text.get(at).unwrap_or_default());
    let digits = literal.bytes().filter(u8::is_ascii_digit).count();
    let number = match literal.char_indices().nth(SHOWN_DIGITS) {
        Some((cut, _)) => format!("{}…", &literal[..cut]),
        None => literal.into_owned(),
    };
    JsonError::IntegerTooLarge {
        number,
        digits,
        line: 1 + before.iter().filter(|&&b| b == b'\n').count() as u64,
        column: 1 + (before.len() - line_start) as u64,
    }
}

/// The numbers of a JSON text, found one after the other as the parser visits them.
struct NumberTexts<'t> {
    text: &'t [u8],
    /// Where the search for the next number starts: never inside a string.
    at: Cell<usize>,
    /// The integer literal beyond a decimal that stopped the parse.
    too_large: Cell<Option<Range<usize>>>,
}

impl NumberTexts<'_> {
    /// Where the next number is. The parser visits the numbers of valid JSON in the order of
    /// the text, each once; a number starts with `-` or a digit outside strings (keys are
    /// strings and `true`, `false` and `null` hold neither).
    fn next(&self) -> Option<Range<usize>> {
        let text = self.text;
        let mut i = self.at.get();
        while let Some(&b) = text.get(i) {
            match b {
                b'"' => {
                    i += 1;
                    while let Some(&c) = text.get(i) {
                        i += if c == b'\\' { 2 } else { 1 };
                        if c == b'"' {
                            break;
                        }
                    }
                }
                b'-' | b'0'..=b'9' => {
                    let start = i;
                    while text.get(i).is_some_and(|c| {
                        matches!(c, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E')
                    }) {
                        i += 1;
                    }
                    self.at.set(i);
                    return Some(start..i);
                }
                _ => i += 1,
            }
        }
        self.at.set(i);
        None
    }
}

/// The exact mode: numbers from their text (see the module docs).
#[derive(Clone, Copy)]
struct Exact<'n>(&'n NumberTexts<'n>);

impl Numbers for Exact<'_> {
    fn float<E: de::Error>(self, v: f64) -> Result<Value, E> {
        let numbers = self.0;
        let Some(at) = numbers.next() else {
            return Err(E::custom("a number the parser read is not in the text"));
        };
        let literal = numbers.text.get(at.clone()).unwrap_or_default();
        // A float literal, or an integer the fast mode keeps as the parser gave it (`-0`,
        // which parsers give as a float): the same value as the fast mode's.
        if literal.iter().any(|b| matches!(b, b'.' | b'e' | b'E')) || v.abs() < BEYOND_64_BITS {
            return Ok(Value::Float(v));
        }
        // An integer literal: ASCII digits after an optional `-`, so UTF-8.
        let exact = std::str::from_utf8(literal)
            .ok()
            .and_then(|s| Decimal::from_str_exact(s).ok());
        match exact {
            Some(d) => Ok(Value::Decimal(d)),
            None => {
                numbers.too_large.set(Some(at));
                Err(E::custom(BEYOND_DECIMAL))
            }
        }
    }

    fn integer(self) {
        self.0.next();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(r: &Record) -> Vec<&str> {
        r.keys().map(|k| k.as_str()).collect()
    }

    #[test]
    fn a_projection_keeps_its_fields_whole_and_in_order() {
        let text = br#"{"id":1,"items":[{"a":1},{"b":[2,3]}],"c":{"x":1,"y":{"z":"s"}},"id":2,"note":"\u00e9"}"#;
        let full = Record::from_json(text).expect("valid");
        let only =
            Record::from_json_projected(text, &Projection::only(["c", "id"])).expect("valid");
        assert_eq!(names(&only), ["id", "c"]);
        assert_eq!(
            only.get("id"),
            Some(&Value::Int(2)),
            "the last duplicate wins"
        );
        assert_eq!(only.get("c"), full.get("c"));
        let except =
            Record::from_json_projected(text, &Projection::All.without(["items"])).expect("valid");
        assert_eq!(names(&except), ["id", "c", "note"]);
        assert_eq!(except.get("note"), Some(&Value::from("é")));
        let all = Record::from_json_projected(text, &Projection::All).expect("valid");
        assert_eq!(all, full);
    }

    #[test]
    fn skipped_fields_are_still_checked_as_json() {
        let only = Projection::only(["id"]);
        for bad in [
            &br#"{"id":1,"x":[1,}"#[..],
            br#"{"id":1,"x":tru}"#,
            br#"{"id":1,"x":"\q"}"#,
            b"{\"id\":1,\"x\":\"\xff\"}",
            br#"{"id":1,"x":1} x"#,
        ] {
            let text = String::from_utf8_lossy(bad);
            assert!(Record::from_json(bad).is_err(), "{text}");
            assert!(Record::from_json_projected(bad, &only).is_err(), "{text}");
        }
    }

    #[test]
    fn numbers_beyond_64_bits_stay_exact_where_they_are_read() {
        let text = br#"{"big":18446744073709551616,"id":1}"#;
        let r = Record::from_json_projected(text, &Projection::only(["big", "id"])).expect("valid");
        assert_eq!(names(&r), ["big", "id"]);
        assert_eq!(
            r.get("big"),
            Some(&Value::Decimal(
                Decimal::from_str_exact("18446744073709551616").expect("d")
            ))
        );
        // `-0` reads the same whether or not another number sends the parse to the exact mode.
        let text = br#"{"skip":-9223372036854775809,"z":-0}"#;
        let r = Record::from_json(text).expect("valid");
        assert_eq!(
            format!("{:?}", r.get("z")),
            format!("{:?}", Some(Value::Float(0.0)))
        );
        let r = Record::from_json_projected(text, &Projection::only(["z"])).expect("valid");
        assert_eq!(
            format!("{:?}", r.get("z")),
            format!("{:?}", Some(Value::Float(0.0)))
        );
        let text = br#"{"skip":123456789012345678901234567890123,"id":1}"#;
        assert!(Record::from_json(text).is_err(), "too large to read");
        let r = Record::from_json_projected(text, &Projection::only(["id"])).expect("never read");
        assert_eq!(r.get("id"), Some(&Value::Int(1)));
        let e = Record::from_json_projected(text, &Projection::All.without(["id"]))
            .expect_err("read, too large");
        assert!(matches!(e, JsonError::IntegerTooLarge { .. }), "{e}");
    }

    /// JSON text built from pieces that the two parsers might read differently: number
    /// literals at the edges of i64, u64, decimals and floats, escapes, surrogates, control
    /// characters, nesting, duplicate keys; some of it invalid.
    fn json_text() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let atom = prop_oneof![
            Just("null".to_owned()),
            Just("true".to_owned()),
            Just("tru".to_owned()),
            prop::sample::select(vec![
                "0",
                "-0",
                "0.0",
                "-0.0",
                "1e2",
                "1E-2",
                "-1.5e+3",
                "01",
                "1.",
                ".5",
                "1e400",
                "-1e400",
                "5e-324",
                "2.2250738585072011e-308",
                "1.7976931348623157e308",
                "0.1",
                "3.141592653589793238462643383279",
                "9223372036854775807",
                "9223372036854775808",
                "-9223372036854775808",
                "-9223372036854775809",
                "18446744073709551615",
                "18446744073709551616",
                "123456789012345678901234567890",
                "79228162514264337593543950335",
                "79228162514264337593543950336",
                "12345678901234567890123456789012345",
                "1e19",
                "9.999999999999999e22",
            ])
            .prop_map(str::to_owned),
            any::<f64>().prop_map(|f| format!("{f:e}")),
            any::<i64>().prop_map(|i| i.to_string()),
            prop::sample::select(vec![
                r#""""#,
                r#""plain""#,
                r#""\u00e9\n\t\\\/\"""#,
                r#""\ud83d\ude00""#,
                r#""\ud800""#,
                r#""\udc00x""#,
                "\"tab\there\"",
                "\"raw\u{1}ctl\"",
                r#""\q""#,
                r#""Zoë 陈 🎉""#,
                r#""2022-04-06T02:23:39+10:00""#,
            ])
            .prop_map(str::to_owned),
        ];
        atom.prop_recursive(4, 24, 5, |inner| {
            let key = prop::sample::select(vec!["a", "b", "id", "a_b", "é", "", "\\u0061"]);
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5)
                    .prop_map(|v| format!("[{}]", v.join(","))),
                prop::collection::vec((key, inner), 0..5).prop_map(|kv| {
                    let fields: Vec<String> = kv
                        .into_iter()
                        .map(|(k, v)| format!("\"{k}\": {v}"))
                        .collect();
                    format!("{{{}}}", fields.join(", "))
                }),
            ]
        })
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2048))]
        /// The projected parse gives what `from_json` gives, bit for bit, or fails where it
        /// fails; with a field skipped, the rest of what it gives.
        #[test]
        fn the_projected_parse_reads_exactly_as_the_full_parse(
            fields in proptest::collection::vec(
                (proptest::sample::select(vec!["a", "b", "id", "a_b", "skip"]), json_text()),
                0..6,
            ),
        ) {
            let body: Vec<String> = fields.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
            let text = format!("{{{}}}", body.join(","));
            let full = Record::from_json(text.as_bytes());
            let every = Record::from_json_projected(
                text.as_bytes(),
                &Projection::Except(Default::default()),
            );
            match (&full, &every) {
                (Ok(a), Ok(b)) => {
                    proptest::prop_assert_eq!(format!("{a:?}"), format!("{b:?}"), "{}", text);
                }
                (Err(a), Err(b)) => {
                    proptest::prop_assert_eq!(a.to_string(), b.to_string(), "{}", text);
                }
                _ => proptest::prop_assert!(false, "{text}: {full:?} vs {every:?}"),
            }
            let skip = Projection::All.without(["skip"]);
            match (full, Record::from_json_projected(text.as_bytes(), &skip)) {
                (Ok(mut a), Ok(b)) => {
                    a.retain(|k, _| k != "skip");
                    proptest::prop_assert_eq!(format!("{a:?}"), format!("{b:?}"), "{}", text);
                }
                // Invalid text fails either way; a number too large to keep may sit in the
                // skipped field, which is never read.
                (Err(_), _) => {}
                (Ok(a), Err(b)) => proptest::prop_assert!(false, "{text}: {a:?} vs {b}"),
            }
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(400))]
        /// Rows parsed one after another by one [`ProjectedParser`] (which reuses the last
        /// row's shape) read as each parsed alone with the full parse, whatever the sequence:
        /// the same keys again, a prefix, more keys, another order, duplicate keys, an escaped
        /// key equal to a plain one, invalid rows in between.
        #[test]
        fn a_parser_reusing_shapes_reads_each_row_as_the_full_parse(
            base in proptest::collection::vec(
                proptest::sample::select(vec!["a", "b", "id", "a_b", "skip", "\\u0061"]),
                0..6,
            ),
            rows in proptest::collection::vec(
                (
                    0usize..5,
                    proptest::collection::vec(json_text(), 8),
                    proptest::sample::select(vec!["a", "skip", "id", "c"]),
                ),
                1..8,
            ),
        ) {
            let projections = [
                Projection::All.without(["skip"]),
                Projection::only(["a", "id"]),
                Projection::only(["nothing"]),
            ];
            for projection in &projections {
                let mut parser = ProjectedParser::new(projection);
                for (variant, values, extra) in &rows {
                    let mut keys: Vec<&str> = base.clone();
                    match variant {
                        0 => {}
                        1 => { keys.truncate(keys.len() / 2); }
                        2 => keys.push(extra),
                        3 => keys.reverse(),
                        _ => keys.insert(keys.len() / 2, extra),
                    }
                    let body: Vec<String> = keys
                        .iter()
                        .zip(values)
                        .map(|(k, v)| format!("\"{k}\":{v}"))
                        .collect();
                    let text = format!("{{{}}}", body.join(","));
                    let full = Record::from_json(text.as_bytes());
                    match (full, parser.parse(text.as_bytes())) {
                        (Ok(mut a), Ok(b)) => {
                            a.retain(|k, _| projection.keeps(k));
                            proptest::prop_assert_eq!(
                                format!("{a:?}"), format!("{b:?}"), "{} ({})", text, projection
                            );
                        }
                        (Err(_), _) => {}
                        // Invalid text fails either way (or, for a number too large to keep in
                        // a skipped field, not); valid text never fails.
                        (Ok(a), Err(b)) => proptest::prop_assert!(false, "{text}: {a:?} vs {b}"),
                    }
                }
            }
        }
    }
}
