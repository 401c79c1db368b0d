//! End to end: a pipeline file whose rejected rows land in a dead-letter JSONL file.

use dataforge_core::registry::Registration;
use dataforge_core::{
    BatchSender, ComponentError, ConfigErrors, Pipeline, PipelineConfig, Registry, RunContext,
    RunOptions, Source, SourceFactory, Value, async_trait, schemars,
};
use serde::Deserialize;
use serde_json::json;

// Name both component crates, as the linking rule asks.
use dataforge_destinations as _;
use dataforge_transforms as _;

/// A source that sends the rows written in its config (`{"type": "test_rows", "rows": [..]}`).
struct TestRowsFactory;

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct TestRowsConfig {
    rows: Vec<serde_json::Value>,
}

struct TestRows(Vec<serde_json::Value>);

#[async_trait]
impl Source for TestRows {
    async fn extract(&self, ctx: &RunContext, out: &mut BatchSender) -> Result<(), ComponentError> {
        for chunk in self.0.chunks(ctx.batch_size()) {
            let batch = chunk
                .iter()
                .filter_map(|v| match Value::from(v.clone()) {
                    Value::Object(r) => Some(r),
                    _ => None,
                })
                .collect();
            out.send(batch).await?;
        }
        Ok(())
    }
}

impl SourceFactory for TestRowsFactory {
    const NAME: &'static str = "test_rows";
    const DESCRIPTION: &'static str = "Rows from the config (tests)";
    type Config = TestRowsConfig;
    fn build(config: TestRowsConfig) -> Result<impl Source, ConfigErrors> {
        Ok(TestRows(config.rows))
    }
}

fn read_jsonl(path: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .expect("file written")
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

#[tokio::test]
async fn rejected_rows_go_to_the_dead_letter_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("orders.jsonl");
    let dead = dir.path().join("rejected.jsonl");
    let config = json!({
        "dag_id": "orders_with_dead_letters",
        "batch_size": 2,
        "source": {"type": "test_rows", "rows": [
            {"id": 1, "financial_status": "paid", "total_price": "150.00", "customer": {"email": "ADA@example.com "}},
            {"id": 2, "financial_status": "paid", "total_price": "oops", "customer": {"email": "b@example.com"}},
            {"id": 3, "financial_status": "paid", "total_price": "20.00", "customer": {"email": "c@example.com"}},
            {"id": 4, "financial_status": "pending", "total_price": "500", "customer": {"email": null}},
            {"id": 5, "financial_status": "paid", "total_price": "101", "customer": {"email": "e@example.com"}}
        ]},
        "transforms": [
            {"type": "flatten"},
            {"type": "cast", "columns": {"total_price": "float"}, "on_error": "dead_letter"},
            {"type": "validate", "rules": {"customer_email": {"required": true}}, "on_error": "dead_letter"},
            {"type": "filter", "expr": "financial_status == \"paid\" && total_price > 100.0"},
            {"type": "string", "columns": ["customer_email"], "op": "trim"},
            {"type": "add_column", "name": "run", "expr": "run.id"}
        ],
        "destination": {"type": "file", "path": out, "format": "jsonl"},
        "dead_letter": {"type": "file", "path": dead, "format": "jsonl", "write_mode": "append"}
    });
    let parsed = PipelineConfig::from_json_str(&config.to_string()).expect("valid pipeline file");
    let mut registry = Registry::new();
    dataforge_transforms::register(&mut registry).expect("transforms");
    dataforge_destinations::register(&mut registry).expect("destinations");
    registry
        .register(Registration::source::<TestRowsFactory>(module_path!()))
        .expect("test source");
    let pipeline = Pipeline::from_config(&parsed.config, &registry).expect("builds");
    let report = pipeline.run(&RunOptions::in_memory()).await;
    assert!(report.is_success(), "{:?}", report.error);

    let loaded = read_jsonl(&out);
    let ids: Vec<i64> = loaded.iter().filter_map(|r| r["id"].as_i64()).collect();
    assert_eq!(ids, [1, 5]);
    assert_eq!(loaded[0]["customer_email"], "ADA@example.com");
    assert_eq!(loaded[0]["total_price"], 150.0);
    assert_eq!(loaded[0]["run"], report.run_id.as_str());

    let rejected = read_jsonl(&dead);
    assert_eq!(rejected.len(), 2);
    assert_eq!(rejected[0]["pipeline"], "orders_with_dead_letters");
    assert_eq!(rejected[0]["run_id"], report.run_id.as_str());
    assert_eq!(rejected[0]["transform"], "transforms[1] cast");
    assert_eq!(
        rejected[0]["reason"],
        "cannot cast column `total_price` from string to float: not a number"
    );
    assert_eq!(rejected[0]["record"]["id"], 2);
    assert_eq!(rejected[0]["record"]["customer_email"], "b@example.com");
    assert_eq!(rejected[1]["transform"], "transforms[2] validate");
    assert_eq!(
        rejected[1]["reason"],
        "column `customer_email` breaks rule `required`: value is missing or null"
    );
    assert_eq!(rejected[1]["record"]["id"], 4);
    assert_eq!(
        report.rejected_by_transform.get("transforms[1] cast"),
        Some(&1)
    );
    assert_eq!(
        report.rejected_by_transform.get("transforms[2] validate"),
        Some(&1)
    );
}

#[test]
fn an_expression_syntax_error_is_a_config_error_with_its_path() {
    let config = json!({
        "dag_id": "bad",
        "source": {"type": "test_rows", "rows": []},
        "transforms": [
            {"type": "flatten"},
            {"type": "filter", "expr": "total_price >"},
            {"type": "cast", "columns": {"x": "float"}, "colums": {}}
        ],
        "destination": {"type": "file", "path": "/tmp/never-written.jsonl"}
    });
    let parsed = PipelineConfig::from_json_str(&config.to_string()).expect("valid file shape");
    let mut registry = Registry::new();
    dataforge_transforms::register(&mut registry).expect("transforms");
    dataforge_destinations::register(&mut registry).expect("destinations");
    registry
        .register(Registration::source::<TestRowsFactory>(module_path!()))
        .expect("test source");
    let errors = Pipeline::from_config(&parsed.config, &registry).expect_err("invalid");
    let paths: Vec<&str> = errors.issues().iter().map(|i| i.path.as_str()).collect();
    assert_eq!(paths, ["transforms[1].expr", "transforms[2].colums"]);
    assert!(
        errors.issues()[0].message.starts_with("invalid expression"),
        "{errors}"
    );
}
