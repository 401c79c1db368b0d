//! `deduplicate` with `keep: "last"` through the real runner: rows are held to the end of the
//! stream, then go through the rest of the chain.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use dataforge_core::config::DefaultArgs;
use dataforge_core::test_utils::{CollectingDestination, MemorySource};
use dataforge_core::{
    BatchSender, ComponentError, Pipeline, Record, Registry, RunContext, RunOptions, Source, Value,
    async_trait, record,
};
use serde_json::json;

fn pipeline(source: MemorySource, dest: &CollectingDestination) -> Pipeline {
    let mut registry = Registry::new();
    dataforge_transforms::register(&mut registry).expect("registers");
    let t = |c: serde_json::Value| registry.build_transform(&c).expect("valid config");
    Pipeline::builder("dedup")
        .source(source)
        .batch_size(2)
        .built_transform(t(
            json!({"type": "deduplicate", "keys": ["id"], "keep": "last"}),
        ))
        .built_transform(t(json!({"type": "filter", "expr": "n != 0"})))
        .built_transform(t(
            json!({"type": "add_column", "name": "twice", "expr": "n * 2"}),
        ))
        .destination(dest.clone())
        .default_args(DefaultArgs {
            retries: 1,
            retry_delay: Duration::from_millis(1),
            ..DefaultArgs::default()
        })
        .build()
        .expect("pipeline")
}

fn rows() -> Vec<Record> {
    vec![
        record! {"id" => 2, "n" => 1},
        record! {"id" => 1, "n" => 2},
        record! {"id" => 2, "n" => 3},
        record! {"id" => 3, "n" => 4},
        record! {"id" => 4, "n" => 5},
        record! {"id" => 1, "n" => 6},
        record! {"id" => 4, "n" => 0},
    ]
}

fn pairs(rows: &[Record]) -> Vec<(i64, i64, i64)> {
    rows.iter()
        .map(|r| {
            let get = |k| r.get(k).and_then(Value::as_i64).unwrap_or(-1);
            (get("id"), get("n"), get("twice"))
        })
        .collect()
}

async fn run(p: &Pipeline) -> dataforge_core::RunReport {
    p.run(&RunOptions::in_memory()).await
}

#[tokio::test]
async fn keeps_the_last_row_of_each_key_in_first_seen_order_through_the_rest_of_the_chain() {
    let dest = CollectingDestination::new();
    let p = pipeline(MemorySource::new(rows()), &dest);
    let report = run(&p).await;
    assert!(report.is_success(), "{:?}", report.error);
    // Key 4's last row has n = 0: the filter after deduplicate drops it.
    assert_eq!(pairs(&dest.rows()), [(2, 3, 6), (1, 6, 12), (3, 4, 8)]);
    assert_eq!(report.rows_loaded, 3);
    // A second run starts afresh: nothing is left over from the first.
    let dest2 = CollectingDestination::new();
    let p = pipeline(MemorySource::new(rows()), &dest2);
    assert!(run(&p).await.is_success());
    assert_eq!(pairs(&dest2.rows()), [(2, 3, 6), (1, 6, 12), (3, 4, 8)]);
}

/// Sends every row, in batches of two; the first attempt sends a row of its own (id 9) and
/// fails after two batches.
struct FlakySource {
    attempts: AtomicU32,
}

#[async_trait]
impl Source for FlakySource {
    async fn extract(
        &self,
        _ctx: &RunContext,
        out: &mut BatchSender,
    ) -> Result<(), ComponentError> {
        let attempt = self.attempts.fetch_add(1, Ordering::SeqCst) + 1;
        if attempt == 1 {
            out.send(vec![record! {"id" => 9, "n" => 9}]).await?;
        }
        for (i, chunk) in rows().chunks(2).enumerate() {
            if attempt == 1 && i == 2 {
                return Err(ComponentError::retryable_msg(
                    "planned failure after two batches",
                ));
            }
            out.send(chunk.to_vec()).await?;
        }
        Ok(())
    }
}

#[tokio::test]
async fn a_retried_attempt_does_not_see_the_rows_of_the_failed_one() {
    let dest = CollectingDestination::new();
    let mut registry = Registry::new();
    dataforge_transforms::register(&mut registry).expect("registers");
    let p = Pipeline::builder("dedup")
        .source(FlakySource {
            attempts: AtomicU32::new(0),
        })
        .batch_size(2)
        .built_transform(
            registry
                .build_transform(&json!({"type": "deduplicate", "keys": ["id"], "keep": "last"}))
                .expect("valid"),
        )
        .destination(dest.clone())
        .default_args(DefaultArgs {
            retries: 1,
            retry_delay: Duration::from_millis(1),
            ..DefaultArgs::default()
        })
        .build()
        .expect("pipeline");
    let report = run(&p).await;
    assert!(report.is_success(), "{:?}", report.error);
    let ids: Vec<(i64, i64)> = pairs(&dest.rows())
        .iter()
        .map(|(id, n, _)| (*id, *n))
        .collect();
    assert_eq!(ids, [(2, 3), (1, 6), (3, 4), (4, 0)]);
}
