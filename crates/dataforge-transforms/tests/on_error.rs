//! Each `on_error` policy, through the real runner.

use dataforge_core::pipeline::Named;
use dataforge_core::test_utils::{CollectingDestination, MemorySource};
use dataforge_core::{
    OnError, Pipeline, Record, Registry, RunOptions, RunReport, Transform, Value, error_chain,
    record,
};
use serde_json::json;

fn registry() -> Registry {
    let mut r = Registry::new();
    dataforge_transforms::register(&mut r).expect("registers");
    r
}

fn transform(config: serde_json::Value) -> Named<dyn Transform> {
    let (transform, on_error) = registry()
        .build_transform(&config)
        .expect("valid config")
        .into_parts();
    assert_eq!(
        on_error,
        OnError::Fail,
        "the tests give on_error to transform_with"
    );
    transform
}

fn orders() -> Vec<Record> {
    vec![
        record! {"id" => 1, "total_price" => "12.50"},
        record! {"id" => 2, "total_price" => "n/a"},
        record! {"id" => 3, "total_price" => "99"},
        record! {"id" => 4, "total_price" => "—"},
    ]
}

fn cast() -> Named<dyn Transform> {
    transform(json!({"type": "cast", "columns": {"total_price": "float"}}))
}

async fn run(pipeline: &Pipeline) -> RunReport {
    pipeline.run(&RunOptions::in_memory()).await
}

fn ids(rows: &[Record]) -> Vec<i64> {
    rows.iter()
        .filter_map(|r| r.get("id").and_then(Value::as_i64))
        .collect()
}

#[tokio::test]
async fn fail_stops_the_run_naming_the_row_and_the_reason() {
    let dest = CollectingDestination::new();
    let pipeline = Pipeline::builder("orders")
        .source(MemorySource::new(orders()))
        .transform_with(cast(), OnError::Fail)
        .destination(dest.clone())
        .build()
        .expect("pipeline");
    let report = run(&pipeline).await;
    assert!(!report.is_success());
    let error = report.error.as_ref().expect("an error");
    let text = error_chain(error);
    assert!(
        text.contains("transform `transforms[0] cast` rejected a row"),
        "{text}"
    );
    assert!(
        text.contains("cannot cast column `total_price` from string to float: not a number"),
        "{text}"
    );
    assert!(text.contains(r#""id":2"#), "{text}");
    assert!(dest.rows().is_empty(), "nothing is committed");
}

#[tokio::test]
async fn skip_drops_rejected_rows_and_counts_them() {
    let dest = CollectingDestination::new();
    let pipeline = Pipeline::builder("orders")
        .source(MemorySource::new(orders()))
        .transform_with(cast(), OnError::Skip)
        .destination(dest.clone())
        .batch_size(3)
        .build()
        .expect("pipeline");
    let report = run(&pipeline).await;
    assert!(report.is_success(), "{:?}", report.error);
    assert_eq!(ids(&dest.rows()), [1, 3]);
    assert_eq!(dest.rows()[0].get("total_price"), Some(&Value::Float(12.5)));
    assert_eq!(
        report.rejected_by_transform.get("transforms[0] cast"),
        Some(&2)
    );
    assert_eq!(report.rows_rejected, 2);
}

#[tokio::test]
async fn dead_letter_sends_row_transform_and_reason() {
    let dest = CollectingDestination::new();
    let dl = CollectingDestination::new();
    let pipeline = Pipeline::builder("orders")
        .source(MemorySource::new(orders()))
        .transform_with(transform(json!({"type": "flatten"})), OnError::Fail)
        .transform_with(cast(), OnError::DeadLetter)
        .transform_with(
            transform(json!({"type": "filter", "expr": "total_price > 50.0"})),
            OnError::Fail,
        )
        .destination(dest.clone())
        .dead_letter(dl.clone())
        .build()
        .expect("pipeline");
    let report = run(&pipeline).await;
    assert!(report.is_success(), "{:?}", report.error);
    assert_eq!(ids(&dest.rows()), [3]);
    assert_eq!(
        report.rejected_by_transform.get("transforms[1] cast"),
        Some(&2)
    );
    assert_eq!(report.rows_dead_lettered, 2);
    let dead = dl.rows();
    assert_eq!(dead.len(), 2);
    let first = dead[0].to_json();
    assert_eq!(first["pipeline"], "orders");
    assert_eq!(first["run_id"], report.run_id.as_str());
    assert_eq!(first["transform"], "transforms[1] cast");
    assert_eq!(
        first["reason"],
        "cannot cast column `total_price` from string to float: not a number"
    );
    assert_eq!(first["record"], json!({"id": 2, "total_price": "n/a"}));
    assert_eq!(dead[1].to_json()["record"]["id"], 4);
}

#[tokio::test]
async fn a_filter_type_error_is_a_row_error_under_each_policy() {
    let rows = vec![
        record! {"id" => 1, "financial_status" => "paid", "total_price" => 150.0},
        record! {"id" => 2, "financial_status" => "paid", "total_price" => "150"},
        record! {"id" => 3, "financial_status" => "pending", "total_price" => 150.0},
    ];
    let filter = || {
        transform(
            json!({"type": "filter", "expr": "financial_status == \"paid\" && total_price > 100.0"}),
        )
    };
    let dest = CollectingDestination::new();
    let skip = Pipeline::builder("f")
        .source(MemorySource::new(rows.clone()))
        .transform_with(filter(), OnError::Skip)
        .destination(dest.clone())
        .build()
        .expect("pipeline");
    let report = run(&skip).await;
    assert!(report.is_success());
    assert_eq!(ids(&dest.rows()), [1]);
    assert_eq!(
        report.rejected_by_transform.get("transforms[0] filter"),
        Some(&1)
    );

    let fail = Pipeline::builder("f")
        .source(MemorySource::new(rows))
        .transform_with(filter(), OnError::Fail)
        .destination(CollectingDestination::new())
        .build()
        .expect("pipeline");
    let report = run(&fail).await;
    let text = error_chain(report.error.as_ref().expect("fails"));
    assert!(text.contains("expression failed"), "{text}");
}

#[tokio::test]
async fn parallel_batches_keep_their_order_and_ordered_transforms_see_every_batch() {
    let rows: Vec<Record> = (0..5_000)
        .map(|i| record! {"id" => i, "k" => i % 1_000, "nested" => record! {"v" => i}})
        .collect();
    let dest = CollectingDestination::new();
    let pipeline = Pipeline::builder("order")
        .source(MemorySource::new(rows.clone()))
        .transform(transform(json!({"type": "flatten"})))
        .transform(transform(
            json!({"type": "filter", "expr": "nested_v % 2 == 0"}),
        ))
        .destination(dest.clone())
        .batch_size(64)
        .build()
        .expect("pipeline");
    let report = run(&pipeline).await;
    assert!(report.is_success(), "{:?}", report.error);
    let want: Vec<i64> = (0..5_000).filter(|i| i % 2 == 0).collect();
    assert_eq!(ids(&dest.rows()), want);

    let dest = CollectingDestination::new();
    let pipeline = Pipeline::builder("dedup")
        .source(MemorySource::new(rows))
        .transform(transform(json!({"type": "deduplicate", "keys": ["k"]})))
        .destination(dest.clone())
        .batch_size(64)
        .build()
        .expect("pipeline");
    let report = run(&pipeline).await;
    assert!(report.is_success(), "{:?}", report.error);
    let want: Vec<i64> = (0..1_000).collect();
    assert_eq!(ids(&dest.rows()), want);
}
