//! Field-by-field parsing of a JSON object, so that every bad field is reported, not the first.

use serde::de::DeserializeOwned;

use crate::error::{ConfigIssue, join_path};
use crate::registry::json_kind;

/// The fields of one JSON object, taken one at a time; errors collect in a shared list.
pub(crate) struct Fields<'e> {
    map: serde_json::Map<String, serde_json::Value>,
    prefix: String,
    errors: &'e mut Vec<ConfigIssue>,
}

impl<'e> Fields<'e> {
    /// The fields of `value` at `prefix`; `None` (with an error) when it is not an object.
    pub(crate) fn new(
        value: serde_json::Value,
        prefix: &str,
        errors: &'e mut Vec<ConfigIssue>,
    ) -> Option<Self> {
        match value {
            serde_json::Value::Object(map) => Some(Self {
                map,
                prefix: prefix.to_owned(),
                errors,
            }),
            other => {
                errors.push(ConfigIssue::at(
                    prefix,
                    format!("expected an object, found {}", json_kind(&other)),
                ));
                None
            }
        }
    }

    fn path(&self, key: &str) -> String {
        join_path(&self.prefix, key)
    }

    /// Takes and parses `key`; `None` when absent or invalid (the error is recorded).
    pub(crate) fn take<T: DeserializeOwned>(&mut self, key: &str) -> Option<T> {
        let value = self.map.remove(key)?;
        match serde_path_to_error::deserialize::<_, T>(value) {
            Ok(v) => Some(v),
            Err(e) => {
                let inner = e.path().to_string();
                let path = if inner == "." {
                    self.path(key)
                } else {
                    join_path(&self.path(key), &inner)
                };
                self.errors
                    .push(ConfigIssue::at(path, e.into_inner().to_string()));
                None
            }
        }
    }

    /// Takes and parses a required `key`; a missing one is an error.
    pub(crate) fn require<T: DeserializeOwned>(&mut self, key: &str) -> Option<T> {
        if !self.map.contains_key(key) {
            self.errors.push(ConfigIssue::at(
                &self.prefix,
                format!("missing field `{key}`"),
            ));
            return None;
        }
        self.take(key)
    }

    /// Takes `key` as raw JSON.
    pub(crate) fn take_raw(&mut self, key: &str) -> Option<serde_json::Value> {
        self.map.remove(key)
    }

    /// Whether `key` is there and not taken yet.
    pub(crate) fn has(&self, key: &str) -> bool {
        self.map.contains_key(key)
    }

    /// The keys not taken yet.
    pub(crate) fn remaining_keys(&self) -> Vec<String> {
        self.map.keys().cloned().collect()
    }

    /// The shared error list.
    pub(crate) fn errors(&mut self) -> &mut Vec<ConfigIssue> {
        self.errors
    }
}
