//! OpenLineage run events as JSON: what a START, COMPLETE or FAIL event of a run holds.

use dataforge_core::observe::{LineageDataset, ObservedRun};
use dataforge_core::{RunReport, RunStatus, chrono};
use serde_json::{Map, Value, json};

/// The `producer` of every event and facet: this code, at this version.
pub const PRODUCER: &str = concat!(
    "https://github.com/dataforge-rs/dataforge/tree/v",
    env!("CARGO_PKG_VERSION")
);
/// The spec version the events follow.
pub const SCHEMA_URL: &str = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent";
const SCHEMA_FACET_URL: &str =
    "https://openlineage.io/spec/facets/1-2-0/SchemaDatasetFacet.json#/$defs/SchemaDatasetFacet";
const OUTPUT_STATISTICS_FACET_URL: &str = "https://openlineage.io/spec/facets/1-0-2/OutputStatisticsOutputDatasetFacet.json#/$defs/OutputStatisticsOutputDatasetFacet";

/// The namespace of the UUIDv5s made from run ids that are not UUIDs.
const RUN_ID_NAMESPACE: uuid::Uuid =
    uuid::Uuid::from_u128(0x6d1f_3c2a_8b4e_4f6a_9c0d_2e7b_5a81_f3c4);

/// The run's OpenLineage `runId`: its id when that is a UUID (DataForge's are UUIDv7s), else a
/// UUIDv5 of it, so one run always gets the same id.
pub fn run_uuid(run_id: &str) -> uuid::Uuid {
    uuid::Uuid::parse_str(run_id)
        .unwrap_or_else(|_| uuid::Uuid::new_v5(&RUN_ID_NAMESPACE, run_id.as_bytes()))
}

/// The event of `run` in `job_namespace`: `START` without a report; `COMPLETE` or `FAIL` (a
/// cancelled run is `ABORT`) with it, the output then carrying the columns written (schema
/// facet) and the rows loaded (output statistics facet).
pub fn run_event(job_namespace: &str, run: &ObservedRun, report: Option<&RunReport>) -> Value {
    let event_type = match report.map(|r| r.status) {
        None => "START",
        Some(RunStatus::Succeeded) => "COMPLETE",
        Some(RunStatus::Cancelled) => "ABORT",
        Some(_) => "FAIL",
    };
    let inputs: Vec<Value> = run.input.iter().map(dataset).collect();
    let outputs: Vec<Value> = run
        .output
        .iter()
        .map(|d| {
            let mut out = dataset(d);
            if let Some(report) = report.filter(|r| r.is_success()) {
                add_output_facets(&mut out, report);
            }
            out
        })
        .collect();
    json!({
        "eventType": event_type,
        "eventTime": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "producer": PRODUCER,
        "schemaURL": SCHEMA_URL,
        "run": {"runId": run_uuid(&run.run_id).to_string()},
        "job": {"namespace": job_namespace, "name": run.pipeline_id},
        "inputs": inputs,
        "outputs": outputs,
    })
}

fn dataset(d: &LineageDataset) -> Value {
    json!({"namespace": d.namespace, "name": d.name})
}

/// The schema facet (when the destination said its columns) and the row count.
fn add_output_facets(out: &mut Value, report: &RunReport) {
    let Some(object) = out.as_object_mut() else {
        return;
    };
    let columns = report.load.as_ref().map(|l| &l.columns);
    if let Some(columns) = columns.filter(|c| !c.is_empty()) {
        let fields: Vec<Value> = columns
            .iter()
            .enumerate()
            .map(|(i, c)| json!({"name": c.name, "type": c.data_type, "ordinal_position": i + 1}))
            .collect();
        let mut facets = Map::new();
        facets.insert(
            "schema".into(),
            json!({"_producer": PRODUCER, "_schemaURL": SCHEMA_FACET_URL, "fields": fields}),
        );
        object.insert("facets".into(), Value::Object(facets));
    }
    object.insert(
        "outputFacets".into(),
        json!({"outputStatistics": {
            "_producer": PRODUCER,
            "_schemaURL": OUTPUT_STATISTICS_FACET_URL,
            "rowCount": report.rows_loaded,
        }}),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_uuid_run_id_is_kept_and_another_maps_to_the_same_uuid_each_time() {
        let id = "0190a8e4-5b6c-7d8e-9f00-112233445566";
        assert_eq!(run_uuid(id).to_string(), id);
        assert_eq!(run_uuid("manual-1"), run_uuid("manual-1"));
        assert_ne!(run_uuid("manual-1"), run_uuid("manual-2"));
        assert_eq!(run_uuid("manual-1").get_version_num(), 5);
    }
}
