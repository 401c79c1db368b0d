use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;
use serde_json::json;

use super::*;
use crate::component::{RowContext, Transform};
use crate::error::ComponentError;
use crate::pipeline::Pipeline;
use crate::registry::{
    DestinationFactory, Registration, Registry, SourceFactory, TransformFactory,
};
use crate::stream::Batch;
use crate::test_utils::{CollectingDestination, MemorySource};

const ORIGINAL: &str = r#"{
  "dag_id": "shopify_orders_daily",
  "description": "Shopify orders into the warehouse",
  "schedule_interval": "@daily",
  "start_date": "2025-01-01",
  "catchup": false,
  "tags": ["shopify"],
  "default_args": {"owner": "data", "retries": 3, "retry_delay": 300, "retry_exponential_backoff": true,
                   "email_on_failure": false},
  "source": {"type": "mem", "rows": 3},
  "transforms": [
    {"type": "rename", "mapping": {"customer_id": "customer"}},
    {"type": "rename", "mapping": {}, "on_error": "skip"}
  ],
  "destination": {"type": "collect"}
}"#;

#[test]
fn parses_the_original_format() {
    let parsed = PipelineConfig::from_json_str(ORIGINAL).expect("valid");
    let c = parsed.config;
    assert_eq!(c.dag_id, "shopify_orders_daily");
    assert_eq!(
        c.schedule_interval.as_ref().and_then(Schedule::cron),
        Some("0 0 * * *")
    );
    assert_eq!(
        c.start_date.map(|d| d.to_rfc3339()),
        Some("2025-01-01T00:00:00+00:00".into())
    );
    assert!(!c.catchup);
    assert_eq!(c.default_args.retries, 3);
    assert_eq!(
        c.default_args.retry_delay,
        std::time::Duration::from_secs(300)
    );
    assert_eq!(c.transforms.len(), 2);
    assert_eq!(c.transforms[1].on_error, OnError::Skip);
    assert!(c.transforms[1].config.get("on_error").is_none());
    assert_eq!(
        parsed.warnings.len(),
        1,
        "email_on_failure is an ignored Airflow key"
    );
}

#[test]
fn catchup_defaults_to_false_and_nulls_are_allowed() {
    let c = PipelineConfig::from_json(json!({
        "dag_id": "a", "schedule_interval": null, "source": {"type": "mem"},
        "destination": {"type": "collect"}, "transforms": null, "dead_letter": null
    }))
    .expect("valid")
    .config;
    assert!(!c.catchup);
    assert!(c.schedule_interval.is_none());
    assert!(c.transforms.is_empty());
}

fn issues(v: serde_json::Value) -> Vec<(String, String)> {
    PipelineConfig::from_json(v)
        .expect_err("invalid")
        .0
        .into_iter()
        .map(|i| (i.path, i.message))
        .collect()
}

#[test]
fn every_error_in_a_file_is_reported_at_once() {
    let found = issues(json!({
        "dag_id": "bad id!",
        "schedule_interval": "@fortnightly",
        "start_date": "01/02/2025",
        "catchup": "yes",
        "default_args": {"retries": -1},
        "source": {"path": "x"},
        "transforms": [{"type": "a"}, {"type": "b", "on_error": "ignore"}, 3],
        "batch_size": 0,
        "schedul_interval": "@daily"
    }));
    let paths: Vec<&str> = found.iter().map(|(p, _)| p.as_str()).collect();
    for expected in [
        "dag_id",
        "schedule_interval",
        "start_date",
        "catchup",
        "default_args.retries",
        "source",
        "transforms[1].on_error",
        "transforms[2]",
        "batch_size",
        "schedul_interval",
        "",
    ] {
        assert!(
            paths.contains(&expected),
            "missing {expected:?} in {found:#?}"
        );
    }
    let missing_destination = found
        .iter()
        .any(|(p, m)| p.is_empty() && m == "missing field `destination`");
    assert!(missing_destination, "{found:#?}");
}

#[test]
fn dead_letter_policy_needs_a_dead_letter_destination() {
    let found = issues(json!({
        "dag_id": "a", "source": {"type": "mem"}, "destination": {"type": "collect"},
        "transforms": [{"type": "rename", "on_error": "dead_letter"}]
    }));
    assert_eq!(found[0].0, "transforms[0].on_error");
    let found = issues(json!({
        "dag_id": "a", "source": {"type": "mem"},
        "destination": {"type": "collect", "on_error": "dead_letter"}
    }));
    assert_eq!(found[0].0, "destination.on_error");
}

#[test]
fn the_destinations_on_error_is_taken_out_of_its_config() {
    let parsed = PipelineConfig::from_json(json!({
        "dag_id": "a", "source": {"type": "mem"},
        "destination": {"type": "collect", "on_error": "skip"}
    }))
    .expect("valid");
    assert_eq!(parsed.config.destination_on_error, OnError::Skip);
    assert_eq!(parsed.config.destination, json!({"type": "collect"}));
    let found = issues(json!({
        "dag_id": "a", "source": {"type": "mem"},
        "destination": {"type": "collect", "on_error": "later"}
    }));
    assert_eq!(found[0].0, "destination.on_error");
}

#[test]
fn invalid_json_names_line_and_column() {
    let e =
        PipelineConfig::from_json_str("{\n  \"dag_id\": \"a\",\n  oops\n}").expect_err("bad json");
    assert!(e.to_string().contains("line 3 column 3"), "{e}");
}

// ---- components for registry-backed tests ----

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct MemConfig {
    #[serde(default)]
    rows: u32,
}
struct Mem;
impl SourceFactory for Mem {
    const NAME: &'static str = "mem";
    const DESCRIPTION: &'static str = "rows from memory";
    type Config = MemConfig;
    fn build(c: MemConfig) -> Result<impl crate::Source, ConfigErrors> {
        Ok(MemorySource::new(
            (0..c.rows).map(|i| crate::record! {"id" => i}).collect(),
        ))
    }
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct RenameConfig {
    #[serde(default)]
    mapping: BTreeMap<String, String>,
}
struct Rename(BTreeMap<String, String>);
impl Transform for Rename {
    fn transform(&self, mut batch: Batch, _: &mut RowContext<'_>) -> Result<Batch, ComponentError> {
        for r in &mut batch {
            for (from, to) in &self.0 {
                r.rename(from, to);
            }
        }
        Ok(batch)
    }
}
struct RenameFactory;
impl TransformFactory for RenameFactory {
    const NAME: &'static str = "rename";
    const DESCRIPTION: &'static str = "renames columns";
    type Config = RenameConfig;
    fn build(c: RenameConfig) -> Result<impl Transform, ConfigErrors> {
        if c.mapping.values().any(String::is_empty) {
            return Err(ConfigIssue::at("mapping", "empty target name").into());
        }
        Ok(Rename(c.mapping))
    }
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct CollectConfig {}
struct Collect;
impl DestinationFactory for Collect {
    const NAME: &'static str = "collect";
    const DESCRIPTION: &'static str = "collects rows";
    type Config = CollectConfig;
    fn build(_: CollectConfig) -> Result<impl crate::Destination, ConfigErrors> {
        Ok(CollectingDestination::new())
    }
}

fn registry() -> Registry {
    let mut r = Registry::new();
    r.register(Registration::source::<Mem>("tests::mem"))
        .expect("mem");
    r.register(Registration::transform::<RenameFactory>("tests::rename"))
        .expect("rename");
    r.register(Registration::destination::<Collect>("tests::collect"))
        .expect("collect");
    r
}

#[test]
fn component_errors_carry_json_paths() {
    let parsed = PipelineConfig::from_json(json!({
        "dag_id": "a",
        "source": {"type": "mem", "rows": "three"},
        "transforms": [
            {"type": "rename", "mapping": {"a": "b"}},
            {"type": "rename", "mapping": "x"},
            {"type": "renam"},
            {"type": "rename", "mapping": {"a": ""}}
        ],
        "destination": {"type": "collect", "tabel": "t"}
    }))
    .expect("top level is valid");
    let e = Pipeline::from_config(&parsed.config, &registry()).expect_err("components invalid");
    let text = e.to_string();
    for expected in [
        "source.rows: invalid type: string \"three\", expected u32",
        "transforms[1].mapping: invalid type: string \"x\", expected a map",
        "transforms[2].type: unknown transform type `renam` (did you mean `rename`?); known: rename",
        "transforms[3].mapping: empty target name",
        "destination.tabel: unknown field `tabel`, there are no fields",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
}

#[test]
fn an_empty_registry_points_at_the_linking_docs() {
    let parsed = PipelineConfig::from_json_str(ORIGINAL).expect("valid");
    let e = Pipeline::from_config(&parsed.config, &Registry::new()).expect_err("empty");
    assert!(e.to_string().contains("use dataforge_sources as _;"), "{e}");
}

#[test]
fn duplicate_registrations_name_both_modules() {
    let mut r = registry();
    r.register(Registration::source::<Mem>("tests::mem"))
        .expect("same module is a no-op");
    let e = r
        .register(Registration::source::<Mem>("other_crate::mem"))
        .expect_err("duplicate");
    assert_eq!(
        e.to_string(),
        "source type `mem` is registered twice: by tests::mem and by other_crate::mem"
    );
}

fn write(dir: &std::path::Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent).expect("mkdir");
    }
    std::fs::write(&p, text).expect("write");
    p
}

#[test]
fn directory_discovery_reports_bad_files_and_loads_good_ones() {
    let dir = tempfile::tempdir().expect("tempdir");
    let good = r#"{"dag_id": "ID", "source": {"type": "mem"}, "destination": {"type": "collect"}}"#;
    write(dir.path(), "a.json", &good.replace("ID", "alpha"));
    write(dir.path(), "nested/b.json", &good.replace("ID", "beta"));
    write(
        dir.path(),
        "broken.json",
        r#"{"dag_id": "x", "source": {"type": "mem"}, "transforms": [{"type": "rename", "mapping": "x"}], "destination": {"type": "collect"}}"#,
    );
    write(dir.path(), "notes.txt", "not a pipeline");
    let found = load_paths(&[dir.path().to_owned()], &registry());
    let ids: Vec<&str> = found
        .pipelines
        .iter()
        .map(|p| p.config.dag_id.as_str())
        .collect();
    assert_eq!(ids, ["alpha", "beta"]);
    assert_eq!(found.errors.0.len(), 1, "{}", found.errors);
    let line = found.errors.0[0].to_string();
    assert!(
        line.ends_with(
            "broken.json: transforms[0].mapping: invalid type: string \"x\", expected a map"
        ),
        "{line}"
    );
}

#[test]
fn duplicate_dag_ids_reject_both_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let good =
        r#"{"dag_id": "same", "source": {"type": "mem"}, "destination": {"type": "collect"}}"#;
    let a = write(dir.path(), "a.json", good);
    write(dir.path(), "b.json", good);
    write(dir.path(), "c.json", &good.replace("same", "other"));
    let found = load_paths(&[dir.path().to_owned()], &registry());
    assert_eq!(found.pipelines.len(), 1);
    assert_eq!(found.errors.0.len(), 2);
    assert_eq!(found.errors.0[0].file.as_deref(), Some(a.as_path()));
    assert!(
        found.errors.0[0]
            .message
            .contains("duplicate dag_id \"same\"")
    );
    assert!(found.errors.0[0].message.contains("b.json"));
}

#[test]
fn missing_paths_are_reported() {
    let found = load_paths(&[PathBuf::from("/definitely/not/here.json")], &registry());
    assert!(found.pipelines.is_empty());
    assert!(
        found
            .errors
            .to_string()
            .contains("no such file or directory")
    );
}

#[test]
fn schema_lists_every_registered_type() {
    let schema = pipeline_schema(&registry());
    let transforms = &schema["properties"]["transforms"]["items"]["oneOf"];
    assert_eq!(transforms[0]["properties"]["type"]["const"], "rename");
    assert_eq!(
        transforms[0]["properties"]["on_error"]["enum"][2],
        "dead_letter"
    );
    assert_eq!(
        schema["properties"]["source"]["oneOf"][0]["properties"]["type"]["const"],
        "mem"
    );
    assert_eq!(schema["additionalProperties"], false);
}

// ---- hardening: malformed input is a config error with its JSON path, never a panic ----

/// A valid pipeline with `extra` spliced into its top level (`extra` starts with a comma).
fn with(extra: &str) -> String {
    format!(
        r#"{{"dag_id": "a", "source": {{"type": "mem"}}, "destination": {{"type": "collect"}}{extra}}}"#
    )
}

fn issues_of(text: &str) -> Vec<ConfigIssue> {
    PipelineConfig::from_json_str(text).expect_err("invalid").0
}

#[test]
fn huge_durations_are_config_errors_at_their_path() {
    for (key, value) in [
        ("retry_delay", "1e300"),
        ("retry_delay", "18446744073709551616"),
        ("max_retry_delay", "1e300"),
        ("max_retry_delay", "18446744073709551616"),
        ("execution_timeout", "1e300"),
        ("execution_timeout", "18446744073709551616"),
        ("retry_delay", "31536001"),
        ("retry_delay", r#""1000000y""#),
        ("execution_timeout", r#""99999999999999999999999h""#),
        ("retry_delay", "123456789012345678901234567890"),
    ] {
        let text = with(&format!(r#", "default_args": {{"{key}": {value}}}"#));
        let found = issues_of(&text);
        assert_eq!(found.len(), 1, "{value}: {found:?}");
        assert_eq!(found[0].path, format!("default_args.{key}"), "{value}");
        assert!(
            found[0].message.contains("out of range")
                || found[0].message.contains("invalid duration"),
            "{value}: {}",
            found[0].message
        );
    }
    let found = issues_of(&with(r#", "default_args": {"retry_delay": 1e300}"#));
    assert!(
        found[0]
            .message
            .starts_with("1e300 seconds is out of range"),
        "{}",
        found[0].message
    );
    // The largest accepted value loads, and its backoff saturates rather than overflows.
    let ok = with(
        r#", "default_args": {"retries": 1000, "retry_delay": 31536000, "max_retry_delay": "365d",
             "retry_exponential_backoff": true, "execution_timeout": 31536000}"#,
    );
    let args = PipelineConfig::from_json_str(&ok)
        .expect("valid")
        .config
        .default_args;
    assert_eq!(args.delay_before_retry(1000), args.max_retry_delay);
    let found = issues_of(&with(r#", "default_args": {"retries": 4294967295}"#));
    assert_eq!(found[0].path, "default_args.retries");
}

#[test]
fn a_file_with_a_huge_duration_does_not_stop_the_others_loading() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "bad.json",
        &with(r#", "default_args": {"retry_delay": 1e300}"#).replace("\"a\"", "\"bad\""),
    );
    write(dir.path(), "good.json", &with(""));
    let found = load_paths(&[dir.path().to_owned()], &registry());
    assert_eq!(found.pipelines.len(), 1);
    assert_eq!(found.pipelines[0].config.dag_id, "a");
    let e = found.errors.issues();
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(e[0].file.as_ref().is_some_and(|f| f.ends_with("bad.json")));
    assert_eq!(e[0].path, "default_args.retry_delay");
}

#[test]
fn a_repeated_key_is_an_error_naming_its_path_and_both_places() {
    let text = "{\"dag_id\": \"a\", \"source\": {\"type\": \"mem\"},\n \"destination\": {\"type\": \"collect\"},\n \"destination\": {\"type\": \"collect\", \"x\": 1}}";
    let found = issues_of(text);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].path, "destination");
    assert!(
        found[0].message.contains("repeated key `destination`")
            && found[0].message.contains("line 2")
            && found[0].message.contains("line 3"),
        "{}",
        found[0].message
    );
    // In nested objects too, each repeat reported with its own path.
    let found = issues_of(&with(
        r#", "transforms": [{"type": "rename", "mapping": {"a": "b", "a": "c"}}],
            "params": {"p": {"q": 1, "q": 2}}"#,
    ));
    let paths: Vec<&str> = found.iter().map(|i| i.path.as_str()).collect();
    assert_eq!(
        paths,
        ["transforms[0].mapping.a", "params.p.q"],
        "{found:?}"
    );
}

#[test]
fn a_byte_order_mark_is_accepted() {
    let text = format!("\u{feff}{}", with(""));
    assert_eq!(
        PipelineConfig::from_json_str(&text)
            .expect("valid")
            .config
            .dag_id,
        "a"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write(dir.path(), "bom.json", &text);
    assert!(PipelineConfig::from_file(&path).is_ok());
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let found = issues_of(&deep);
    assert!(found[0].message.contains("recursion limit"), "{found:?}");
    let deep = with(&format!(
        r#", "params": {{"p": {}1{}}}"#,
        "[".repeat(100_000),
        "]".repeat(100_000)
    ));
    assert!(issues_of(&deep)[0].message.contains("recursion limit"));
}

#[test]
fn echoed_input_is_cut_to_a_few_hundred_characters() {
    // 10 MB where the probe put it (an unknown key); 100 kB elsewhere, to keep the test quick.
    let huge = "k".repeat(10 * 1024 * 1024);
    let big = "k".repeat(100_000);
    let short = |found: &[ConfigIssue]| {
        assert!(!found.is_empty());
        for i in found {
            assert!(
                i.to_string().chars().count() < 1200,
                "{} characters: {}…",
                i.to_string().len(),
                i.to_string().chars().take(200).collect::<String>()
            );
        }
    };
    // An unknown top-level key, in default_args, in a component and in a component's map.
    short(&issues_of(&with(&format!(r#", "{huge}": 1"#))));
    short(&issues_of(&with(&format!(
        r#", "default_args": {{"{big}": 1}}"#
    ))));
    let found = issues_of(&with(&format!(r#", "catchup": "{big}""#)));
    short(&found);
    let found = issues_of(&with(&format!(r#", "schedule_interval": "{big}""#)));
    short(&found);
    let found = issues_of(&with(&format!(r#", "start_date": "{big}""#)));
    short(&found);
    for component in [
        format!(r#"{{"type": "rename", "mapping": {{}}, "{huge}": 1}}"#),
        format!(r#"{{"type": "rename", "mapping": {{"{big}": 1}}}}"#),
        format!(r#"{{"type": "{big}"}}"#),
    ] {
        let parsed =
            PipelineConfig::from_json_str(&with(&format!(r#", "transforms": [{component}]"#)))
                .expect("top level valid");
        let e = Pipeline::from_config(&parsed.config, &registry()).expect_err("invalid");
        short(&e.0);
        assert!(
            e.0[0].path.starts_with("transforms[0]"),
            "{:?}",
            &e.0[0].path[..40]
        );
    }
}

// ---- scheduling keys: timezone, max_active_runs, dates read in the pipeline's zone ----

fn parse_top(extra: serde_json::Value) -> Result<PipelineConfig, Vec<(String, String)>> {
    let mut doc =
        json!({"dag_id": "a", "source": {"type": "mem"}, "destination": {"type": "collect"}});
    if let (Some(d), Some(e)) = (doc.as_object_mut(), extra.as_object()) {
        d.extend(e.clone());
    }
    PipelineConfig::from_json(doc)
        .map(|p| p.config)
        .map_err(|e| e.0.into_iter().map(|i| (i.path, i.message)).collect())
}

#[test]
fn timezone_defaults_to_utc_and_takes_iana_names() {
    let c = parse_top(json!({})).expect("valid");
    assert_eq!(c.timezone, chrono_tz::Tz::UTC);
    assert_eq!(c.max_active_runs, 1);
    let c = parse_top(json!({"timezone": "Europe/Berlin"})).expect("valid");
    assert_eq!(c.timezone, chrono_tz::Tz::Europe__Berlin);
}

#[test]
fn an_unknown_timezone_is_an_error_at_its_path() {
    let found = parse_top(json!({"timezone": "Mars/Olympus"})).expect_err("invalid");
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].0, "timezone");
    assert!(
        found[0].1.contains("Mars/Olympus") && found[0].1.contains("IANA"),
        "{found:?}"
    );
    let found = parse_top(json!({"timezone": 3})).expect_err("invalid");
    assert_eq!(found[0].0, "timezone");
}

#[test]
fn a_date_means_midnight_in_the_pipelines_timezone() {
    let c = parse_top(json!({
        "timezone": "Europe/Berlin",
        "start_date": "2025-01-01",
        "end_date": "2025-07-01T06:30:00"
    }))
    .expect("valid");
    assert_eq!(
        c.start_date.map(|d| d.to_rfc3339()),
        Some("2024-12-31T23:00:00+00:00".into())
    );
    assert_eq!(
        c.end_date.map(|d| d.to_rfc3339()),
        Some("2025-07-01T04:30:00+00:00".into()),
        "a naive date-time is wall-clock time in the zone (CEST in July)"
    );
    // An explicit offset is an instant whatever the zone.
    let c = parse_top(json!({"timezone": "Europe/Berlin", "start_date": "2025-01-01T00:00:00Z"}))
        .expect("valid");
    assert_eq!(
        c.start_date.map(|d| d.to_rfc3339()),
        Some("2025-01-01T00:00:00+00:00".into())
    );
    // Without a timezone, dates stay UTC midnight.
    let c = parse_top(json!({"start_date": "2025-01-01"})).expect("valid");
    assert_eq!(
        c.start_date.map(|d| d.to_rfc3339()),
        Some("2025-01-01T00:00:00+00:00".into())
    );
}

#[test]
fn a_local_date_time_in_a_dst_gap_is_the_end_of_the_gap() {
    let c = parse_top(json!({"timezone": "Europe/Berlin", "start_date": "2025-03-30T02:30:00"}))
        .expect("valid");
    assert_eq!(
        c.start_date.map(|d| d.to_rfc3339()),
        Some("2025-03-30T01:00:00+00:00".into()),
        "02:30 does not exist on 30 March: 03:00 CEST"
    );
}

#[test]
fn max_active_runs_is_at_least_one() {
    let c = parse_top(json!({"max_active_runs": 4})).expect("valid");
    assert_eq!(c.max_active_runs, 4);
    for (bad, needle) in [
        (json!(0), "at least 1"),
        (json!(-1), "invalid value"),
        (json!("2"), "invalid type"),
    ] {
        let found = parse_top(json!({"max_active_runs": bad})).expect_err("invalid");
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].0, "max_active_runs");
        assert!(found[0].1.contains(needle), "{found:?}");
    }
}

#[test]
fn schema_has_the_scheduling_keys() {
    let schema = pipeline_schema(&registry());
    let props = &schema["properties"];
    assert_eq!(props["timezone"]["type"], "string");
    assert_eq!(props["timezone"]["default"], "UTC");
    assert_eq!(props["max_active_runs"]["type"], "integer");
    assert_eq!(props["max_active_runs"]["minimum"], 1);
    assert_eq!(props["max_active_runs"]["default"], 1);
    // Every key the parser accepts is in the schema, and no other.
    let mut in_schema: Vec<&str> = props
        .as_object()
        .map(|m| m.keys().map(String::as_str).collect())
        .unwrap_or_default();
    in_schema.sort_unstable();
    let mut accepted = TOP_LEVEL_KEYS.to_vec();
    accepted.sort_unstable();
    assert_eq!(in_schema, accepted);
}
