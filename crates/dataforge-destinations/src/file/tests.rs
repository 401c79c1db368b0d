use std::path::Path;
use std::sync::Arc;

use dataforge_core::stream::channel;
use dataforge_core::{
    Batch, ComponentError, Destination, LoadSummary, Registry, RunContext, Value, record,
};
use serde_json::json;

use super::*;

fn registry() -> Registry {
    let mut r = Registry::new();
    crate::register(&mut r).expect("register");
    r
}

fn build(config: serde_json::Value) -> Result<Arc<dyn Destination>, ConfigErrors> {
    let mut with_type = json!({"type": "file"});
    if let (Some(t), Some(c)) = (with_type.as_object_mut(), config.as_object()) {
        t.extend(c.clone());
    }
    registry()
        .build_destination(&with_type)
        .map(|n| n.component)
}

fn text(path: &Path) -> String {
    std::fs::read_to_string(path).expect("read output")
}

fn dir_entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Loads `batches` into a destination built from `config`; a clean end when `finish`,
/// otherwise the sender is dropped (the upstream stage failed).
async fn load(
    config: serde_json::Value,
    batches: Vec<Batch>,
    finish: bool,
) -> Result<LoadSummary, ComponentError> {
    let dest = build(config).expect("valid config");
    let ctx = RunContext::builder("test").build();
    let (tx, mut rx) = channel(2, ctx.cancellation().clone());
    let feeder = tokio::spawn(async move {
        for b in batches {
            if tx.send(b).await.is_err() {
                return;
            }
        }
        if finish {
            tx.finish().await;
        }
    });
    let result = dest.load(&mut rx, &ctx).await;
    feeder.await.expect("feeder");
    result
}

fn path_of(dir: &Path, name: &str) -> String {
    dir.join(name).to_string_lossy().into_owned()
}

#[test]
fn parses_example_config() {
    let config: FileDestinationConfig = serde_json::from_value(json!({
        "path": "out/orders.csv", "format": "csv", "write_mode": "append"
    }))
    .expect("parses");
    assert_eq!(config.write_mode, WriteMode::Append);
    let dest = FileDestination::from_config(config).expect("valid");
    assert_eq!(dest.format(), OutputFormat::Csv);
    assert_eq!(dest.write_mode(), WriteMode::Append);
    assert!(build(json!({"path": "out/orders.jsonl"})).is_ok());
}

#[test]
fn rejects_unknown_field() {
    let err = build(json!({"path": "a.jsonl", "mode": "append"}))
        .err()
        .expect("unknown key rejected");
    assert!(err.to_string().contains("unknown field `mode`"), "{err}");
    let err = build(json!({"path": "a.jsonl", "write_mode": "upsert"}))
        .err()
        .expect("unknown mode rejected");
    assert_eq!(err.issues()[0].path, "write_mode");
}

#[test]
fn format_comes_from_the_extension() {
    for (path, format) in [
        ("a.jsonl", OutputFormat::Jsonl),
        ("b.NDJSON", OutputFormat::Jsonl),
        ("c/d.csv", OutputFormat::Csv),
    ] {
        let config = FileDestinationConfig {
            path: path.into(),
            format: None,
            delimiter: None,
            write_mode: WriteMode::default(),
            on_empty: Default::default(),
            lock_timeout: Default::default(),
        };
        let dest = FileDestination::from_config(config).expect(path);
        assert_eq!(dest.format(), format, "{path}");
        assert_eq!(dest.write_mode(), WriteMode::Replace);
    }
    for path in ["out.txt", "out.json"] {
        let err = build(json!({ "path": path })).err().expect("no format");
        assert_eq!(err.issues()[0].path, "format", "{path}");
    }
    assert!(build(json!({"path": "out.txt", "format": "jsonl"})).is_ok());
}

#[tokio::test]
async fn writes_jsonl_in_column_order_and_creates_the_directory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("new/sub/out.jsonl");
    let batches = vec![
        vec![
            record! {"z" => 1, "a" => "Zoë 日本"},
            record! {"n" => Value::Object(record! {"x" => vec![Value::Int(1), Value::Null]})},
        ],
        vec![record! {"big" => Value::from(json!(u64::MAX)), "f" => 1.5}],
    ];
    let summary = load(json!({"path": path.to_string_lossy()}), batches, true)
        .await
        .expect("load");
    assert_eq!(summary.rows_loaded, 3);
    assert_eq!(summary.target, path.display().to_string());
    assert_eq!(
        text(&path),
        "{\"z\":1,\"a\":\"Zoë 日本\"}\n{\"n\":{\"x\":[1,null]}}\n\
         {\"big\":\"18446744073709551615\",\"f\":1.5}\n"
    );
    assert_eq!(dir_entries(&dir.path().join("new/sub")), ["out.jsonl"]);
}

#[tokio::test]
async fn csv_header_is_the_first_batch_columns_and_cells_are_text() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = path_of(dir.path(), "out.csv");
    let batches = vec![
        vec![
            record! {"id" => 1, "name" => "a, \"b\""},
            record! {"id" => 2, "tags" => vec![Value::from("x")], "name" => Value::Null},
        ],
        vec![
            record! {"tags" => Value::Object(record! {"k" => true}), "id" => 3},
            // An empty string is `""`, apart from a null or a missing column (an empty cell),
            // as PostgreSQL's CSV format reads them.
            record! {"id" => 4, "name" => "", "tags" => Value::Null},
        ],
    ];
    let summary = load(json!({ "path": path }), batches, true)
        .await
        .expect("load");
    assert_eq!(summary.rows_loaded, 4);
    assert_eq!(
        text(Path::new(&path)),
        "id,name,tags\n1,\"a, \"\"b\"\"\",\n2,,\"[\"\"x\"\"]\"\n3,,\"{\"\"k\"\":true}\"\n4,\"\",\n"
    );
}

#[tokio::test]
async fn csv_row_with_a_new_column_fails_and_keeps_the_old_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = path_of(dir.path(), "out.csv");
    std::fs::write(&path, "old\n").expect("old file");
    let batches = vec![
        vec![record! {"id" => 1}, record! {"id" => 2}],
        vec![record! {"id" => 3}, record! {"id" => 4, "extra" => "x"}],
    ];
    let err = load(json!({ "path": path }), batches, true)
        .await
        .expect_err("unknown column");
    let message = err.to_string();
    assert!(
        message.contains("`extra`") && message.contains("row 4"),
        "{message}"
    );
    assert!(!err.is_secondary());
    assert_eq!(text(Path::new(&path)), "old\n");
    assert_eq!(dir_entries(dir.path()), ["out.csv"]);
}

#[tokio::test]
async fn replace_keeps_the_old_file_when_the_stream_aborts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = path_of(dir.path(), "out.jsonl");
    std::fs::write(&path, "{\"old\":true}\n").expect("old file");
    let batches: Vec<Batch> = (0..5).map(|i| vec![record! {"id" => i}]).collect();
    let err = load(json!({ "path": path }), batches, false)
        .await
        .expect_err("aborted");
    assert!(
        err.is_secondary(),
        "the upstream's failure is echoed: {err}"
    );
    assert_eq!(text(Path::new(&path)), "{\"old\":true}\n");
    assert_eq!(
        dir_entries(dir.path()),
        ["out.jsonl"],
        "no temporary file left"
    );
}

#[tokio::test]
async fn replace_swaps_in_the_new_file_and_leaves_no_temp_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = path_of(dir.path(), "out.csv");
    std::fs::write(&path, "old,file\n1,2\n").expect("old file");
    let summary = load(
        json!({"path": path, "write_mode": "replace"}),
        vec![vec![record! {"a" => 1}]],
        true,
    )
    .await
    .expect("load");
    assert_eq!(summary.rows_loaded, 1);
    assert_eq!(text(Path::new(&path)), "a\n1\n");
    assert_eq!(dir_entries(dir.path()), ["out.csv"]);
}

#[tokio::test]
async fn append_adds_rows_and_rolls_back_on_abort() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = path_of(dir.path(), "out.jsonl");
    // An existing file without a final newline gets one before the new rows.
    std::fs::write(&path, "{\"id\":0}").expect("old file");
    let config = json!({"path": path, "write_mode": "append"});
    load(config.clone(), vec![vec![record! {"id" => 1}]], true)
        .await
        .expect("append");
    assert_eq!(text(Path::new(&path)), "{\"id\":0}\n{\"id\":1}\n");

    // Enough rows that some reach the file before the abort.
    let batches: Vec<Batch> = (0..20)
        .map(|b| (0..1000).map(|i| record! {"id" => b * 1000 + i}).collect())
        .collect();
    let err = load(config, batches, false).await.expect_err("aborted");
    assert!(err.is_secondary());
    assert_eq!(text(Path::new(&path)), "{\"id\":0}\n{\"id\":1}\n");
}

#[tokio::test]
async fn append_to_csv_uses_the_existing_header() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = path_of(dir.path(), "out.csv");
    let config = json!({"path": path, "write_mode": "append"});
    load(
        config.clone(),
        vec![vec![record! {"id" => 1, "name" => "a"}]],
        true,
    )
    .await
    .expect("first load writes the header");
    load(
        config.clone(),
        vec![vec![
            record! {"name" => "b", "id" => 2},
            record! {"id" => 3},
        ]],
        true,
    )
    .await
    .expect("second load reuses it");
    assert_eq!(text(Path::new(&path)), "id,name\n1,a\n2,b\n3,\n");
    let err = load(config, vec![vec![record! {"id" => 4, "new" => 1}]], true)
        .await
        .expect_err("column not in the file's header");
    assert!(err.to_string().contains("`new`"), "{err}");
    assert_eq!(text(Path::new(&path)), "id,name\n1,a\n2,b\n3,\n");
}

#[test]
fn delimiter_is_one_safe_character_and_only_for_csv() {
    assert!(build(json!({"path": "a.csv", "delimiter": ";"})).is_ok());
    assert!(build(json!({"path": "a.csv", "delimiter": "\t"})).is_ok());
    for (config, reason) in [
        (
            json!({"path": "a.csv", "delimiter": ";;"}),
            "exactly one ASCII",
        ),
        (
            json!({"path": "a.csv", "delimiter": "\""}),
            "other than a quote",
        ),
        (
            json!({"path": "a.csv", "delimiter": "é"}),
            "exactly one ASCII",
        ),
        (
            json!({"path": "a.jsonl", "delimiter": ";"}),
            "only to the `csv` format",
        ),
    ] {
        let err = build(config.clone()).err().expect("rejected");
        assert_eq!(err.issues()[0].path, "delimiter", "{config}");
        assert!(err.to_string().contains(reason), "{config}: {err}");
    }
}

#[tokio::test]
async fn csv_with_a_semicolon_delimiter_writes_and_appends_with_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = path_of(dir.path(), "out.csv");
    let config = json!({"path": path, "write_mode": "append", "delimiter": ";"});
    let first = vec![vec![record! {"id" => 1, "name" => "a;b", "note" => "x,y"}]];
    load(config.clone(), first, true).await.expect("first load");
    let second = vec![vec![record! {"note" => "z", "id" => 2}]];
    load(config, second, true)
        .await
        .expect("the header is read with the same delimiter");
    assert_eq!(
        text(Path::new(&path)),
        "id;name;note\n1;\"a;b\";x,y\n2;;z\n"
    );
}

#[tokio::test]
async fn an_empty_stream_keeps_the_file_unless_on_empty_is_replace() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = path_of(dir.path(), "out.jsonl");
    std::fs::write(&path, "{\"old\":1}\n").expect("old file");
    let kept = load(json!({ "path": path }), Vec::new(), true)
        .await
        .expect("load");
    assert_eq!(kept.rows_loaded, 0);
    assert!(kept.note.is_some(), "the summary says the file was kept");
    assert_eq!(text(Path::new(&path)), "{\"old\":1}\n");
    let summary = load(
        json!({ "path": path, "on_empty": "replace" }),
        Vec::new(),
        true,
    )
    .await
    .expect("load");
    assert_eq!(summary.rows_loaded, 0);
    assert_eq!(text(Path::new(&path)), "");
}
