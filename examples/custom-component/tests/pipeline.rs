//! A pipeline JSON that uses the downstream components, found through link-time registration.

// Integration tests are separate binaries: name every component crate, this one included,
// or the linker drops it and its registrations (see dataforge-core's `registry` docs).
use dataforge_example_custom_component as _;
use dataforge_sources as _;

use dataforge_core::{Pipeline, PipelineConfig, Registry, RunOptions, error_chain};

#[tokio::test]
async fn a_pipeline_json_runs_with_downstream_components() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("people.jsonl");
    std::fs::write(
        &input,
        "{\"name\":\"ada\",\"lang\":\"en\"}\n{\"name\":\"zoë\",\"lang\":\"fr\"}\n{\"name\":7}\n",
    )
    .expect("write input");
    let output = dir.path().join("out/people.md");
    let json = serde_json::json!({
        "dag_id": "custom_components",
        "source": {"type": "file", "path": input},
        "transforms": [{"type": "uppercase", "columns": ["name"], "on_error": "skip"}],
        "destination": {"type": "markdown_table", "path": output}
    });
    let parsed = PipelineConfig::from_json(json).expect("valid config");
    let registry = Registry::global().expect("registry");
    let pipeline = Pipeline::from_config(&parsed.config, registry).expect("components resolve");
    let report = pipeline.run(&RunOptions::in_memory()).await;
    assert!(
        report.is_success(),
        "{}",
        report
            .error
            .as_ref()
            .map(|e| error_chain(e))
            .unwrap_or_default()
    );
    assert_eq!(report.rows_loaded, 2);
    assert_eq!(report.rows_rejected, 1);
    let table = std::fs::read_to_string(&output).expect("output written");
    assert_eq!(
        table,
        "| name | lang |\n|---|---|\n| ADA | en |\n| ZOË | fr |\n"
    );
}

#[test]
fn link_time_and_explicit_registration_agree() {
    let global = Registry::global().expect("registry");
    assert!(
        global
            .get(dataforge_core::ComponentKind::Transform, "uppercase")
            .is_some()
    );
    assert!(
        global
            .get(dataforge_core::ComponentKind::Destination, "markdown_table")
            .is_some()
    );

    let mut explicit = Registry::new();
    dataforge_example_custom_component::register(&mut explicit).expect("register");
    assert_eq!(
        explicit.names(dataforge_core::ComponentKind::Transform),
        ["uppercase"]
    );
    assert_eq!(
        explicit.names(dataforge_core::ComponentKind::Destination),
        ["markdown_table"]
    );
}

#[test]
fn a_bad_config_names_the_json_path() {
    let json = serde_json::json!({
        "dag_id": "bad",
        "source": {"type": "file", "path": "x.jsonl"},
        "transforms": [{"type": "uppercase", "columns": []}],
        "destination": {"type": "markdown_table", "path": "x.md", "colour": "red"}
    });
    let parsed = PipelineConfig::from_json(json).expect("top level valid");
    let e = Pipeline::from_config(&parsed.config, Registry::global().expect("registry"))
        .expect_err("invalid");
    let text = e.to_string();
    assert!(
        text.contains("transforms[0].columns: name at least one column"),
        "{text}"
    );
    assert!(
        text.contains("destination.colour: unknown field `colour`"),
        "{text}"
    );
}
