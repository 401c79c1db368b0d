//! Reading a pipeline file's JSON strictly: a leading byte-order mark is skipped, text that is
//! not UTF-8 is an error at its line and column, and a key repeated in any object is an error
//! at its JSON path with the line and column of both places (serde_json would silently keep the
//! last one: a second `"destination"` would load somewhere else).
//!
//! The document is read through a [`DeserializeSeed`] that builds the same
//! [`serde_json::Value`] as serde_json does, keeping serde_json's recursion limit (128 levels).

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::fmt;
use std::rc::Rc;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use crate::error::{ConfigErrors, ConfigIssue, clip, join_path};

/// Parses `bytes` as a pipeline document: UTF-8, with or without a byte-order mark.
///
/// # Errors
/// Text that is not UTF-8, invalid JSON, or every repeated key.
pub(crate) fn parse_slice(bytes: &[u8]) -> Result<Value, ConfigErrors> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match std::str::from_utf8(bytes) {
        Ok(text) => parse_str(text),
        Err(e) => {
            let (line, column) = line_column(bytes, e.valid_up_to() + 1);
            Err(ConfigIssue::at(
                "",
                format!(
                    "invalid UTF-8 at line {line} column {column}: a pipeline file is UTF-8 text"
                ),
            )
            .into())
        }
    }
}

/// Parses `text` as a pipeline document, skipping a leading byte-order mark.
///
/// # Errors
/// Invalid JSON, or every repeated key.
pub(crate) fn parse_str(text: &str) -> Result<Value, ConfigErrors> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    // Fast, from the text; only a document with a repeated key is read again, slowly, through
    // a reader that tells where the repeats are.
    let state = State::default();
    let mut de = serde_json::Deserializer::from_str(text);
    let value = read(&mut de, &state)?;
    if state.repeats.borrow().is_empty() {
        return Ok(value);
    }
    let consumed = Rc::new(Cell::new(0));
    let reader = Counting {
        rest: text.as_bytes(),
        consumed: consumed.clone(),
    };
    let state = State {
        position: Some((text.as_bytes(), consumed)),
        repeats: RefCell::default(),
    };
    read(&mut serde_json::Deserializer::from_reader(reader), &state)?;
    Err(ConfigErrors(state.repeats.into_inner()))
}

/// Reads one document, to its end.
fn read<'de, R: serde_json::de::Read<'de>>(
    de: &mut serde_json::Deserializer<R>,
    state: &State<'_>,
) -> Result<Value, ConfigErrors> {
    ValueSeed {
        state,
        at: &Segment::Root,
    }
    .deserialize(&mut *de)
    .and_then(|v| de.end().map(|()| v))
    .map_err(|e| {
        ConfigIssue::at(
            "",
            format!(
                "invalid JSON at line {} column {}: {e}",
                e.line(),
                e.column()
            ),
        )
        .into()
    })
}

/// The text, as a reader that counts what serde_json has taken (one byte per read, as serde_json
/// reads), so that the visitor knows where it is. Slow: for documents with repeated keys only.
struct Counting<'t> {
    rest: &'t [u8],
    consumed: Rc<Cell<usize>>,
}

impl std::io::Read for Counting<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(self.rest.len()).min(1);
        buf[..n].copy_from_slice(&self.rest[..n]);
        self.rest = &self.rest[n..];
        self.consumed.set(self.consumed.get() + n);
        Ok(n)
    }
}

/// What the visitors share: the repeats found, and when the positions are wanted, the text
/// and how far serde_json has read it.
#[derive(Default)]
struct State<'t> {
    position: Option<(&'t [u8], Rc<Cell<usize>>)>,
    repeats: RefCell<Vec<ConfigIssue>>,
}

impl State<'_> {
    /// The line and column (from 1, as serde_json counts them) of the last byte read.
    fn here(&self) -> (usize, usize) {
        self.position
            .as_ref()
            .map_or((0, 0), |(text, consumed)| line_column(text, consumed.get()))
    }
}

/// The line and column (from 1; the column in bytes, as serde_json counts) of the byte before
/// `offset` in `text`.
fn line_column(text: &[u8], offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = 1 + before.iter().filter(|&&b| b == b'\n').count();
    let start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    (line, before.len() - start)
}

/// Where a value is in the document, as a chain back to the root: built on the stack as the
/// visitors descend, turned into a path (`transforms[0].mapping`) only for an error.
enum Segment<'p> {
    Root,
    Key(&'p Segment<'p>, &'p str),
    Index(&'p Segment<'p>, usize),
}

impl Segment<'_> {
    fn path(&self) -> String {
        match self {
            Segment::Root => String::new(),
            Segment::Key(parent, key) => join_path(&parent.path(), key),
            Segment::Index(parent, i) => format!("{}[{i}]", parent.path()),
        }
    }
}

/// Deserialises one value at `at`.
struct ValueSeed<'s, 't, 'p> {
    state: &'s State<'t>,
    at: &'p Segment<'p>,
}

impl<'de> DeserializeSeed<'de> for ValueSeed<'_, '_, '_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValueSeed<'_, '_, '_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        loop {
            let at = Segment::Index(self.at, out.len());
            let seed = ValueSeed {
                state: self.state,
                at: &at,
            };
            match seq.next_element_seed(seed)? {
                Some(v) => out.push(v),
                None => return Ok(Value::Array(out)),
            }
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        // Where each key was first seen, when positions are wanted (for a repeat's message).
        let mut seen: HashMap<String, (usize, usize)> = HashMap::new();
        while let Some(key) = map.next_key::<String>()? {
            let here = self.state.here();
            let at = Segment::Key(self.at, &key);
            let value = map.next_value_seed(ValueSeed {
                state: self.state,
                at: &at,
            })?;
            if out.contains_key(&key) {
                let (line, column) = seen.get(&key).copied().unwrap_or_default();
                self.state.repeats.borrow_mut().push(ConfigIssue::at(
                    at.path(),
                    format!(
                        "repeated key `{}`: first at line {line} column {column}, again at line \
                         {} column {} (the last one would silently win)",
                        clip(&key),
                        here.0,
                        here.1
                    ),
                ));
                continue;
            }
            if self.state.position.is_some() {
                seen.insert(key.clone(), here);
            }
            out.insert(key, value);
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_what_serde_json_builds() {
        let text = r#"{"b": [1, -2, 3.5, 18446744073709551615, 1e300, null, true, "x\u00e9"],
                       "a": {"z": {}, "y": []}}"#;
        let expected: Value = serde_json::from_str(text).expect("valid");
        let got = parse_str(text).expect("valid");
        assert_eq!(got, expected);
        let keys: Vec<&String> = got.as_object().expect("object").keys().collect();
        assert_eq!(keys, ["b", "a"], "document order is kept");
    }

    #[test]
    fn repeats_name_path_and_both_places() {
        let e = parse_str("{\"a\": [{\"k\": 1,\n  \"k\": 2}],\n \"a\": 3}").expect_err("repeats");
        let found: Vec<(&str, &str)> = e
            .issues()
            .iter()
            .map(|i| (i.path.as_str(), i.message.as_str()))
            .collect();
        assert_eq!(
            found,
            [
                (
                    "a[0].k",
                    "repeated key `k`: first at line 1 column 11, again at line 2 column 5 \
                     (the last one would silently win)"
                ),
                (
                    "a",
                    "repeated key `a`: first at line 1 column 4, again at line 3 column 4 \
                     (the last one would silently win)"
                ),
            ]
        );
    }

    #[test]
    fn syntax_errors_bom_and_utf8() {
        let e = parse_str("{\"a\": 1,}").expect_err("trailing comma");
        assert!(
            e.issues()[0]
                .message
                .starts_with("invalid JSON at line 1 column 9"),
            "{e}"
        );
        assert!(parse_str("{} x").is_err(), "trailing characters");
        assert_eq!(parse_str("\u{feff}{}").expect("bom"), serde_json::json!({}));
        assert_eq!(
            parse_slice(b"\xEF\xBB\xBF{\"a\": 1}").expect("bom"),
            serde_json::json!({"a": 1})
        );
        let e = parse_slice(b"{\"a\":\n \"\xff\"}").expect_err("not UTF-8");
        assert_eq!(
            e.issues()[0].message,
            "invalid UTF-8 at line 2 column 3: a pipeline file is UTF-8 text"
        );
    }

    #[test]
    fn the_recursion_limit_holds() {
        for deep in [
            format!("{}{}", "[".repeat(100_000), "]".repeat(100_000)),
            "{\"a\":".repeat(100_000),
        ] {
            let e = parse_str(&deep).expect_err("too deep");
            assert!(e.to_string().contains("recursion limit exceeded"), "{e}");
        }
        let ok = format!("{}{}", "[".repeat(100), "]".repeat(100));
        assert!(parse_str(&ok).is_ok());
    }
}
