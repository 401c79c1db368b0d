//! The JSON Schema of a pipeline file, with one branch per registered component type.

use serde_json::{Value, json};

use crate::registry::{ComponentKind, Registry};

fn component_schemas(registry: &Registry, kind: ComponentKind, on_error: bool) -> Value {
    let branches: Vec<Value> = registry
        .iter()
        .filter(|r| r.kind == kind)
        .map(|r| {
            let mut schema = r.schema().to_value();
            if let Some(obj) = schema.as_object_mut() {
                obj.remove("$schema");
                let props = obj.entry("properties").or_insert_with(|| json!({}));
                if let Some(props) = props.as_object_mut() {
                    props.insert(
                        "type".into(),
                        json!({"const": r.name, "description": r.description}),
                    );
                    if on_error {
                        props.insert(
                            "on_error".into(),
                            json!({"enum": ["fail", "skip", "dead_letter"], "default": "fail"}),
                        );
                    }
                }
                let required = obj.entry("required").or_insert_with(|| json!([]));
                if let Some(req) = required.as_array_mut() {
                    req.push(json!("type"));
                }
            }
            schema
        })
        .collect();
    json!({ "oneOf": branches })
}

/// The JSON Schema (draft 2020-12) of a pipeline file for the components in `registry`.
pub fn pipeline_schema(registry: &Registry) -> Value {
    let duration = json!({
        "description": "seconds, or a duration such as \"5m\" or \"30s\"; at most 365 days",
        "oneOf": [
            {"type": "number", "minimum": 0, "maximum": super::MAX_DURATION.as_secs()},
            {"type": "string"}
        ]
    });
    let date = json!({"type": "string", "description": "YYYY-MM-DD (midnight in `timezone`), a date-time without offset (in `timezone`) or RFC 3339"});
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "DataForge pipeline",
        "type": "object",
        "additionalProperties": false,
        "required": ["dag_id", "source", "destination"],
        "properties": {
            "dag_id": {"type": "string", "pattern": "^[A-Za-z0-9_.-]{1,250}$"},
            "description": {"type": ["string", "null"]},
            "schedule_interval": {
                "type": ["string", "null"],
                "description": "a cron expression or @once, @hourly, @daily, @weekly, @monthly, @quarterly, @yearly"
            },
            "start_date": date,
            "end_date": date,
            "catchup": {"type": "boolean", "default": false},
            "timezone": {
                "type": "string",
                "default": "UTC",
                "description": "IANA time zone (e.g. Europe/Berlin) the schedule and naive dates are read in"
            },
            "max_active_runs": {"type": "integer", "minimum": 1, "default": super::DEFAULT_MAX_ACTIVE_RUNS},
            "tags": {"type": "array", "items": {"type": "string"}},
            "default_args": {
                "type": "object",
                "properties": {
                    "owner": {"type": "string"},
                    "retries": {"type": "integer", "minimum": 0, "maximum": super::MAX_RETRIES},
                    "retry_delay": duration,
                    "retry_exponential_backoff": {"type": "boolean"},
                    "max_retry_delay": duration,
                    "execution_timeout": duration
                }
            },
            "source": component_schemas(registry, ComponentKind::Source, false),
            "transforms": {"type": "array", "items": component_schemas(registry, ComponentKind::Transform, true)},
            "destination": component_schemas(registry, ComponentKind::Destination, true),
            "dead_letter": component_schemas(registry, ComponentKind::Destination, false),
            "batch_size": {"type": "integer", "minimum": 1, "maximum": super::MAX_BATCH_SIZE},
            "max_rejected": {
                "description": "A run with more rejected rows than this fails and commits nothing: a number of rows, or a percentage of the rows read (\"5%\").",
                "oneOf": [
                    {"type": "integer", "minimum": 0},
                    {"type": "string", "pattern": "^\\s*[0-9]{1,3}(\\.[0-9]{1,4})?\\s*%\\s*$"}
                ]
            },
            "params": {"type": "object"},
            "tests": tests_schema()
        }
    })
}

/// The schema of the `tests` array (apart: one `json!` would nest past the macro's limit).
fn tests_schema() -> serde_json::Value {
    serde_json::json!({
                "description": "Tests of the transform chain, run by `dataforge test`: input rows and what must come out.",
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["name", "input"],
                    "additionalProperties": false,
                    "anyOf": [
                        {"required": ["expect"]},
                        {"required": ["expect_count"]},
                        {"required": ["expect_rejected"]}
                    ],
                    "properties": {
                        "name": {"type": "string", "minLength": 1},
                        "input": {
                            "description": "Rows, or the path (relative to the pipeline file) of a JSON array or JSON Lines file.",
                            "oneOf": [
                                {"type": "array", "items": {"type": "object"}},
                                {"type": "string"}
                            ]
                        },
                        "params": {"type": "object"},
                        "logical_date": {"type": "string"},
                        "expect": {"type": "array", "items": {"type": "object"}},
                        "ordered": {"type": "boolean", "default": false},
                        "expect_count": {"type": "integer", "minimum": 0},
                        "expect_rejected": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "additionalProperties": false,
                                "properties": {
                                    "row": {"type": "object"},
                                    "reason": {"type": "string"},
                                    "transform": {"type": "string"}
                                }
                            }
                        }
                    }
                }
    })
}
