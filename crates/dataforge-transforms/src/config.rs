//! Config helpers shared by the transforms: ordered maps and column-list checks.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use dataforge_core::schemars::{self, JsonSchema, Schema, SchemaGenerator};
use dataforge_core::{ConfigErrors, ConfigIssue};
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};

/// A JSON object read in document order (`{"a": .., "b": ..}` keeps `a` before `b`).
///
/// Order matters for configs like `cast.columns` and `fill_null.values`, where the order of
/// the keys is the order of the work or of appended columns. A repeated key is an error.
#[derive(Clone, Debug, PartialEq)]
pub struct OrderedMap<V>(pub Vec<(String, V)>);

impl<V> Default for OrderedMap<V> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

impl<V> OrderedMap<V> {
    /// The entries, in document order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &V)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<'de, V: Deserialize<'de>> Deserialize<'de> for OrderedMap<V> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V2<V>(PhantomData<V>);
        impl<'de, V: Deserialize<'de>> Visitor<'de> for V2<V> {
            type Value = OrderedMap<V>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out: Vec<(String, V)> = Vec::with_capacity(map.size_hint().unwrap_or(4));
                while let Some(key) = map.next_key::<String>()? {
                    if out.iter().any(|(k, _)| *k == key) {
                        return Err(serde::de::Error::custom(format!("duplicate key `{key}`")));
                    }
                    let value = map.next_value()?;
                    out.push((key, value));
                }
                Ok(OrderedMap(out))
            }
        }
        d.deserialize_map(V2(PhantomData))
    }
}

impl<V: JsonSchema> JsonSchema for OrderedMap<V> {
    fn schema_name() -> Cow<'static, str> {
        format!("Map_of_{}", V::schema_name()).into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let inner = generator.subschema_for::<V>();
        schemars::json_schema!({
            "type": "object",
            "additionalProperties": inner,
        })
    }
}

/// Collects config issues and turns them into a result.
#[derive(Default)]
pub(crate) struct Issues(Vec<ConfigIssue>);

impl Issues {
    /// Records an issue at `path`.
    pub(crate) fn push(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(ConfigIssue::at(path, message));
    }

    /// Checks a list of column names: not empty, no empty names, no repeats.
    pub(crate) fn columns(&mut self, path: &str, columns: &[String]) {
        if columns.is_empty() {
            self.push(path, "must name at least one column");
        }
        for (i, c) in columns.iter().enumerate() {
            if c.is_empty() {
                self.push(format!("{path}[{i}]"), "column name must not be empty");
            } else if columns[..i].contains(c) {
                self.push(
                    format!("{path}[{i}]"),
                    format!("column `{c}` is listed twice"),
                );
            }
        }
    }

    /// `Ok(value)` when no issue was recorded.
    pub(crate) fn finish<T>(self, value: T) -> Result<T, ConfigErrors> {
        if self.0.is_empty() {
            Ok(value)
        } else {
            Err(ConfigErrors(self.0))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordered_map_keeps_document_order_and_refuses_repeats() {
        let m: OrderedMap<i32> =
            serde_json::from_str(r#"{"z": 1, "a": 2, "ü": 3}"#).expect("parses");
        let keys: Vec<&str> = m.iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["z", "a", "ü"]);
        let e = serde_json::from_str::<OrderedMap<i32>>(r#"{"a": 1, "a": 2}"#).expect_err("repeat");
        assert!(e.to_string().contains("duplicate key `a`"), "{e}");
    }
}
