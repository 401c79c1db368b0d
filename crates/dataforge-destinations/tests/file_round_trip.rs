//! End to end through the runner: `file` source → `file` destination, and an aborted run.

use std::path::Path;

use dataforge_core::test_utils::MemorySource;
use dataforge_core::{Pipeline, Record, Registry, RunOptions, RunStatus, record};
use serde_json::json;

fn registry() -> Registry {
    let mut r = Registry::new();
    dataforge_sources::register(&mut r).expect("sources");
    dataforge_destinations::register(&mut r).expect("destinations");
    r
}

fn options() -> RunOptions {
    RunOptions::in_memory()
}

fn lines(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .expect("read")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect()
}

#[tokio::test]
async fn jsonl_to_csv_to_jsonl_round_trip() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("in.jsonl");
    let mut text = String::new();
    for i in 0..2_500 {
        text.push_str(&format!(
            "{{\"id\":{i},\"name\":\"Zoë {i}\",\"nested\":{{\"a\":[{i},null]}}}}\n"
        ));
    }
    std::fs::write(&input, &text).expect("input");
    let csv = dir.path().join("out/mid.csv");
    let output = dir.path().join("out/final.jsonl");
    let registry = registry();

    let first = Pipeline::builder("to_csv")
        .source(
            registry
                .build_source(&json!({"type": "file", "path": input.to_string_lossy()}))
                .expect("source"),
        )
        .destination(
            registry
                .build_destination(&json!({"type": "file", "path": csv.to_string_lossy()}))
                .expect("destination"),
        )
        .batch_size(300)
        .build()
        .expect("pipeline");
    let report = first.run(&options()).await;
    assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.error);
    assert_eq!(report.rows_loaded, 2_500);

    let second = Pipeline::builder("to_jsonl")
        .source(
            registry
                .build_source(&json!({"type": "file", "path": csv.to_string_lossy()}))
                .expect("source"),
        )
        .destination(
            registry
                .build_destination(&json!({"type": "file", "path": output.to_string_lossy()}))
                .expect("destination"),
        )
        .batch_size(100)
        .build()
        .expect("pipeline");
    let report = second.run(&options()).await;
    assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.error);
    assert_eq!(report.rows_loaded, 2_500);

    // CSV carries strings: numbers come back as text, nested values as JSON text.
    let rows = lines(&output);
    assert_eq!(rows.len(), 2_500);
    assert_eq!(
        rows[7],
        json!({"id": "7", "name": "Zoë 7", "nested": "{\"a\":[7,null]}"})
    );
    // JSONL lines are encoded on the runner's workers, batches in parallel: order is kept.
    let ids: Vec<&str> = rows.iter().filter_map(|r| r["id"].as_str()).collect();
    let want: Vec<String> = (0..2_500).map(|i| i.to_string()).collect();
    assert_eq!(ids, want);
}

#[tokio::test]
async fn a_failed_run_leaves_the_old_file_and_no_temp_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let output = dir.path().join("orders.jsonl");
    std::fs::write(&output, "{\"old\":true}\n").expect("old file");
    let rows: Vec<Record> = (0..100).map(|i| record! {"id" => i}).collect();
    let pipeline = Pipeline::builder("fails")
        .source(MemorySource::new(rows).fail_after_batches(3).fatal())
        .destination(
            registry()
                .build_destination(&json!({"type": "file", "path": output.to_string_lossy()}))
                .expect("destination"),
        )
        .batch_size(10)
        .build()
        .expect("pipeline");
    let report = pipeline.run(&options()).await;
    assert_eq!(report.status, RunStatus::Failed);
    assert_eq!(lines(&output), [json!({"old": true})]);
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .expect("dir")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(names, ["orders.jsonl"]);
}

/// Rows with ids 1..=40 after the cursor in state, four at a time, 20 ms apart; stages the
/// last id sent as the cursor.
struct SlowIncremental;

#[dataforge_core::async_trait]
impl dataforge_core::Source for SlowIncremental {
    async fn extract(
        &self,
        ctx: &dataforge_core::RunContext,
        out: &mut dataforge_core::BatchSender,
    ) -> Result<(), dataforge_core::ComponentError> {
        let after = ctx
            .state()
            .get("last_id")
            .and_then(|v| v.as_i64())
            .unwrap_or(0);
        let ids: Vec<i64> = (after + 1..=40).collect();
        for chunk in ids.chunks(4) {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            out.send(chunk.iter().map(|id| record! {"id" => *id}).collect())
                .await?;
            ctx.state().set("last_id", json!(chunk[chunk.len() - 1]));
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_run_appends_nothing_and_a_rerun_appends_each_row_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let output = dir.path().join("out.jsonl");
    std::fs::write(&output, "{\"id\":0}\n").expect("existing file");
    let registry = registry();
    let p = Pipeline::builder("dropped_append")
        .source(SlowIncremental)
        .destination(
            registry
                .build_destination(&json!({
                    "type": "file", "path": output.to_string_lossy(), "write_mode": "append"
                }))
                .expect("destination"),
        )
        .batch_size(4)
        .build()
        .expect("pipeline");
    let opts = options();
    // The run takes about 200 ms: the timeout drops it half-way.
    let dropped = tokio::time::timeout(std::time::Duration::from_millis(50), p.run(&opts)).await;
    assert!(dropped.is_err(), "the run ended before the timeout");
    // Long enough for a run left going in the background to finish and commit.
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    assert_eq!(lines(&output), [json!({"id": 0})], "a dropped run appended");
    let report = p.run(&opts).await;
    assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.error);
    let again = p.run(&opts).await;
    assert_eq!(again.status, RunStatus::Succeeded, "{:?}", again.error);
    assert_eq!(again.rows_loaded, 0, "the cursor was saved with the load");
    let ids: Vec<i64> = lines(&output)
        .iter()
        .map(|l| l["id"].as_i64().unwrap_or(-1))
        .collect();
    assert_eq!(ids, (0..=40).collect::<Vec<_>>(), "each row once");
}
