use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use dataforge_core::stream::channel;
use dataforge_core::{Batch, ComponentError, Record, Registry, RunContext, Source, Value, record};
use serde_json::json;

use super::*;

fn registry() -> Registry {
    let mut r = Registry::new();
    crate::register(&mut r).expect("register");
    r
}

fn build(config: serde_json::Value) -> Result<Arc<dyn Source>, ConfigErrors> {
    let mut with_type = json!({"type": "file"});
    if let (Some(t), Some(c)) = (with_type.as_object_mut(), config.as_object()) {
        t.extend(c.clone());
    }
    registry().build_source(&with_type).map(|n| n.component)
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write test file");
    path.to_string_lossy().into_owned()
}

/// Runs `source` to the end; returns the batches received and the source's result.
/// Extracts with `source`, receiving as a destination does (which decodes deferred batches):
/// the batches, and the source's error or else the first decoding error.
async fn run(source: &dyn Source, batch_size: usize) -> (Vec<Batch>, Result<(), ComponentError>) {
    let ctx = RunContext::builder("test").batch_size(batch_size).build();
    let (mut tx, mut rx) = channel(4, ctx.cancellation().clone());
    let collect = tokio::spawn(async move {
        let mut batches = Vec::new();
        loop {
            match rx.recv().await {
                Ok(Some(b)) => batches.push(b),
                Ok(None) => return (batches, None),
                Err(e) => return (batches, Some(e)),
            }
        }
    });
    let result = source.extract(&ctx, &mut tx).await;
    if result.is_ok() {
        tx.finish().await;
    } else {
        drop(tx);
    }
    let (batches, decoding) = collect.await.expect("collector");
    match decoding {
        // The source's own error would only echo the receiver stopping.
        Some(e) if !e.is_secondary() => (batches, Err(e)),
        _ => (batches, result),
    }
}

async fn read(config: serde_json::Value, batch_size: usize) -> Vec<Record> {
    let source = build(config).expect("valid config");
    let (batches, result) = run(&*source, batch_size).await;
    result.expect("extract succeeds");
    batches.into_iter().flatten().collect()
}

async fn read_err(config: serde_json::Value) -> String {
    let source = build(config).expect("valid config");
    let (_, result) = run(&*source, 100).await;
    let err = result.expect_err("extract fails");
    assert!(!err.is_secondary(), "a real error, not an echo: {err}");
    err.to_string()
}

fn ids(rows: &[Record]) -> Vec<i64> {
    rows.iter()
        .map(|r| r.get("id").and_then(Value::as_i64).expect("id"))
        .collect()
}

#[test]
fn parses_example_config() {
    let config: FileSourceConfig = serde_json::from_value(json!({
        "path": "data/*.csv", "format": "csv", "delimiter": ";", "has_header": false
    }))
    .expect("parses");
    assert_eq!(config.format, Some(FileFormat::Csv));
    let source = FileSource::from_config(config).expect("valid");
    assert_eq!(source.format(), FileFormat::Csv);
    assert!(build(json!({"path": "data/orders.jsonl"})).is_ok());
}

#[test]
fn rejects_unknown_field() {
    let err = build(json!({"path": "a.jsonl", "has_headers": true}))
        .err()
        .expect("unknown key rejected");
    let text = err.to_string();
    assert!(text.contains("unknown field `has_headers`"), "{text}");
}

#[test]
fn format_comes_from_the_extension() {
    for (path, format) in [
        ("a.jsonl", FileFormat::Jsonl),
        ("dir/b.NDJSON", FileFormat::Jsonl),
        ("c.json", FileFormat::Json),
        ("logs/*.csv", FileFormat::Csv),
    ] {
        let config = FileSourceConfig {
            path: path.into(),
            format: None,
            delimiter: None,
            has_header: None,
        };
        let source = FileSource::from_config(config).expect(path);
        assert_eq!(source.format(), format, "{path}");
    }
    let err = build(json!({"path": "data.txt"}))
        .err()
        .expect("unknown extension");
    assert_eq!(err.issues()[0].path, "format");
    assert!(err.to_string().contains("data.txt"), "{err}");
    let source = build(json!({"path": "data.txt", "format": "csv"}));
    assert!(source.is_ok());
}

#[test]
fn rejects_bad_delimiter_and_csv_keys_on_json() {
    let err = build(json!({"path": "a.csv", "delimiter": "ab"}))
        .err()
        .expect("bad");
    assert_eq!(err.issues()[0].path, "delimiter");
    let err = build(json!({"path": "a.csv", "delimiter": "é"}))
        .err()
        .expect("bad");
    assert_eq!(err.issues()[0].path, "delimiter");
    let err = build(json!({"path": "a.jsonl", "delimiter": ";", "has_header": false}))
        .err()
        .expect("csv keys on jsonl");
    let paths: Vec<_> = err.issues().iter().map(|i| i.path.as_str()).collect();
    assert_eq!(paths, ["delimiter", "has_header"]);
}

#[tokio::test]
async fn reads_jsonl_with_unicode_nested_values_and_big_integers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write(
        dir.path(),
        "a.jsonl",
        "\u{feff}{\"id\":1,\"name\":\"Zoë 日本\",\"c\":{\"d\":[1,{\"e\":null}]},\"big\":18446744073709551615}\n\
         \n   \n\
         {\"id\":2,\"exact\":9007199254740993,\"f\":-1.5,\"t\":true}\r\n\
         {\"id\":3}",
    );
    let rows = read(json!({"path": path}), 2).await;
    assert_eq!(ids(&rows), [1, 2, 3]);
    assert_eq!(rows[0].get("name"), Some(&Value::from("Zoë 日本")));
    let keys: Vec<_> = rows[0].keys().map(|k| k.as_str()).collect();
    assert_eq!(keys, ["id", "name", "c", "big"]);
    assert_eq!(
        rows[0].to_json(),
        json!({"id":1,"name":"Zoë 日本","c":{"d":[1,{"e":null}]},"big":"18446744073709551615"})
    );
    assert_eq!(rows[0].get("big").map(Value::type_name), Some("decimal"));
    assert_eq!(
        rows[1].get("exact"),
        Some(&Value::Int(9_007_199_254_740_993))
    );
    assert_eq!(rows[1].get("f"), Some(&Value::Float(-1.5)));
}

/// Integer literals beyond 64 bits, at any depth and of either sign, reach the rows exactly
/// (as decimals) through both JSON formats; float literals stay floats.
#[tokio::test]
async fn integers_beyond_64_bits_stay_exact_in_jsonl_and_json_arrays() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rows = [
        r#"{"id":1,"big":18446744073709551616,"f":1e30}"#,
        r#"{"id":2,"n":{"a":[-9223372036854775809,"x\"1",1234567890123456789012345678]}}"#,
        r#"{"id":3,"max":79228162514264337593543950335,"g":1.0e29}"#,
    ];
    let dec = |s: &str| Value::Decimal(s.parse().expect("decimal"));
    let jsonl = write(dir.path(), "big.jsonl", &rows.join("\n"));
    let array = write(
        dir.path(),
        "big.json",
        &format!("[\n{}\n]", rows.join(",\n  ")),
    );
    for path in [jsonl, array] {
        let got = read(json!({"path": path}), 2).await;
        assert_eq!(ids(&got), [1, 2, 3], "{path}");
        assert_eq!(
            got[0].get("big"),
            Some(&dec("18446744073709551616")),
            "{path}"
        );
        assert_eq!(got[0].get("f"), Some(&Value::Float(1e30)), "{path}");
        let a = got[1]
            .get("n")
            .and_then(Value::as_object)
            .and_then(|n| n.get("a"));
        let expected = Value::Array(vec![
            dec("-9223372036854775809"),
            Value::from("x\"1"),
            dec("1234567890123456789012345678"),
        ]);
        assert_eq!(a, Some(&expected), "{path}");
        let max = dec("79228162514264337593543950335");
        assert_eq!(got[2].get("max"), Some(&max), "{path}");
        assert_eq!(got[2].get("g"), Some(&Value::Float(1e29)), "{path}");
    }
}

/// An integer beyond a decimal fails the run with an error naming the file, the line and the
/// number, never a rounded float.
#[tokio::test]
async fn integers_beyond_a_decimal_fail_naming_file_line_and_number() {
    let dir = tempfile::tempdir().expect("tempdir");
    let jsonl = write(
        dir.path(),
        "huge.jsonl",
        "{\"id\":1}\n\n{\"id\":2,\"n\":{\"a\":[-123456789012345678901234567890]}}\n",
    );
    let array = write(
        dir.path(),
        "huge.json",
        "[{\"id\":1},\n {\"id\":2,\n  \"n\":{\"a\":[-123456789012345678901234567890]}}]",
    );
    for (path, name, line) in [(jsonl, "huge.jsonl", 3), (array, "huge.json", 3)] {
        let err = read_err(json!({"path": path})).await;
        assert!(err.contains(&format!("{name}: line {line}: ")), "{err}");
        assert!(err.contains("-123456789012345678901234567890"), "{err}");
        assert!(err.contains("30 digits"), "{err}");
        assert!(err.contains("quote it"), "{err}");
    }
}

#[tokio::test]
async fn jsonl_batches_are_full_and_in_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut text = String::new();
    for i in 0..10_007 {
        text.push_str(&format!(
            "{{\"id\":{i},\"pad\":\"{}\"}}\n",
            "x".repeat(i % 50)
        ));
        if i % 1000 == 0 {
            text.push('\n');
        }
    }
    let path = write(dir.path(), "many.jsonl", &text);
    let source = FileSource::from_config(FileSourceConfig {
        path,
        format: None,
        delimiter: None,
        has_header: None,
    })
    .expect("valid");
    let (batches, result) = run(&source, 100).await;
    result.expect("reads");
    let sizes: Vec<_> = batches.iter().map(Vec::len).collect();
    assert_eq!(sizes.len(), 101);
    assert!(sizes[..100].iter().all(|&n| n == 100), "{sizes:?}");
    assert_eq!(sizes[100], 7);
    let rows: Vec<_> = batches.into_iter().flatten().collect();
    assert_eq!(ids(&rows), (0..10_007).collect::<Vec<_>>());
}

#[tokio::test]
async fn malformed_jsonl_line_names_file_and_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write(
        dir.path(),
        "bad.jsonl",
        "{\"id\":1}\n\n{\"id\":2}\n  {\"id\": 3,,}\n{\"id\":4}\n",
    );
    let err = read_err(json!({"path": path})).await;
    assert!(err.contains("bad.jsonl: line 4: invalid JSON: "), "{err}");
    // The column counts in the file's line (two spaces, then `,` at 12), and no second "line".
    assert!(err.contains("(column 12)"), "{err}");
    assert!(!err.contains("at line 1"), "{err}");
}

#[tokio::test]
async fn jsonl_line_that_is_not_an_object_is_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write(dir.path(), "arr.jsonl", "{\"id\":1}\n[1,2]\n");
    let err = read_err(json!({"path": path})).await;
    assert!(
        err.contains("arr.jsonl: line 2: expected a JSON object, found an array"),
        "{err}"
    );
}

#[tokio::test]
async fn reads_a_json_array() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write(
        dir.path(),
        "a.json",
        " [ {\"id\":1,\"n\":{\"x\":\"ü\"}},\n{\"id\":2,\"big\":-9223372036854775808},{\"id\":3} ]\n",
    );
    let rows = read(json!({"path": path}), 2).await;
    assert_eq!(ids(&rows), [1, 2, 3]);
    assert_eq!(rows[0].to_json(), json!({"id":1,"n":{"x":"ü"}}));
    assert_eq!(rows[1].get("big"), Some(&Value::Int(i64::MIN)));
}

#[tokio::test]
async fn json_array_is_streamed_not_read_whole() {
    // 200k valid elements, then garbage: a reader that parsed the whole array before sending
    // would fail before the first batch. A streaming one sends batches, then fails.
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("big.json");
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&path).expect("create"));
        f.write_all(b"[").expect("write");
        for i in 0..200_000 {
            write!(
                f,
                "{}{{\"id\":{i},\"v\":\"row {i}\"}}",
                if i > 0 { "," } else { "" }
            )
            .expect("write");
        }
        f.write_all(b", oops").expect("write");
    }
    let source = build(json!({"path": path.to_string_lossy()})).expect("valid");
    let ctx = RunContext::builder("test").batch_size(50).build();
    let (mut tx, mut rx) = channel(1, ctx.cancellation().clone());
    let task = tokio::spawn(async move {
        // Dropping the sender without `finish` ends the stream as aborted.
        source.extract(&ctx, &mut tx).await
    });
    let first = rx.recv().await.expect("a batch").expect("not the end");
    assert_eq!(ids(&first), (0..50).collect::<Vec<_>>());
    // The reader is held back by the full channel: far from the end of the file.
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    assert!(rx.rows_sent() < 10_000, "sent {}", rx.rows_sent());
    let mut received = first.len();
    while let Ok(Some(b)) = rx.recv().await {
        received += b.len();
    }
    let result = task.await.expect("task");
    assert_eq!(received, 200_000);
    let err = result.expect_err("the garbage tail fails").to_string();
    assert!(err.contains("big.json"), "{err}");
}

#[tokio::test]
async fn a_top_level_non_array_is_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write(dir.path(), "obj.json", "{\"id\":1}");
    let err = read_err(json!({"path": path})).await;
    assert!(err.contains("obj.json"), "{err}");
    assert!(err.contains("expected a JSON array of objects"), "{err}");
    let path = write(dir.path(), "nums.json", "[{\"id\":1}, 2]");
    let err = read_err(json!({"path": path})).await;
    assert!(err.contains("expected a JSON object"), "{err}");
}

#[tokio::test]
async fn reads_csv_with_header_as_strings() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write(
        dir.path(),
        "a.csv",
        "id,name,note\n1,Zoë,\"a, \"\"quoted\"\" note\"\n2,,\n",
    );
    let rows = read(json!({"path": path}), 10).await;
    assert_eq!(
        rows,
        [
            record! {"id" => "1", "name" => "Zoë", "note" => "a, \"quoted\" note"},
            record! {"id" => "2", "name" => "", "note" => ""},
        ]
    );
    let path = write(dir.path(), "b.txt", "x;y\n1;2\n");
    let rows = read(json!({"path": path, "format": "csv", "delimiter": ";"}), 10).await;
    assert_eq!(rows, [record! {"x" => "1", "y" => "2"}]);
}

#[tokio::test]
async fn csv_without_header_names_columns() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write(dir.path(), "a.csv", "1,a\n2,b\n3,c\n");
    let rows = read(json!({"path": path, "has_header": false}), 2).await;
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[2], record! {"column_1" => "3", "column_2" => "c"});
}

/// The rows of a CSV batch share one list of names; the next batch has its own.
#[tokio::test]
async fn csv_rows_of_a_batch_share_their_names() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write(dir.path(), "a.csv", "id,name\n1,a\n2,b\n3,c\n");
    let source = build(json!({"path": path})).expect("valid config");
    let (batches, result) = run(&*source, 2).await;
    result.expect("extract succeeds");
    assert_eq!(batches.iter().map(Vec::len).collect::<Vec<_>>(), [2, 1]);
    assert!(batches[0][0].columns().same(batches[0][1].columns()));
    assert!(!batches[0][0].columns().same(batches[1][0].columns()));
    assert_eq!(batches[1][0], record! {"id" => "3", "name" => "c"});
}

#[tokio::test]
async fn csv_row_length_mismatch_names_file_and_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write(dir.path(), "short.csv", "a,b\n1,2\n3\n");
    let err = read_err(json!({"path": path})).await;
    assert!(
        err.contains("short.csv: line 3: expected 2 fields, found 1"),
        "{err}"
    );
}

#[tokio::test]
async fn glob_reads_files_in_sorted_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "part-2.jsonl", "{\"id\":3}\n{\"id\":4}\n");
    write(dir.path(), "part-10.jsonl", "{\"id\":1}\n");
    write(dir.path(), "part-1.jsonl", "{\"id\":0}\n");
    write(dir.path(), "other.jsonl", "{\"id\":99}\n");
    std::fs::create_dir(dir.path().join("part-dir.jsonl")).expect("mkdir");
    let pattern = dir.path().join("part-*.jsonl");
    let rows = read(json!({"path": pattern.to_string_lossy()}), 10).await;
    // Sorted by name: part-1, part-10, part-2.
    assert_eq!(ids(&rows), [0, 1, 3, 4]);
}

#[tokio::test]
async fn missing_files_and_empty_globs_are_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("nope.jsonl");
    let err = read_err(json!({"path": missing.to_string_lossy()})).await;
    assert!(
        err.contains("file not found") && err.contains("nope.jsonl"),
        "{err}"
    );
    let pattern = dir.path().join("*.csv");
    let err = read_err(json!({"path": pattern.to_string_lossy()})).await;
    assert!(
        err.contains("no file matches") && err.contains("*.csv"),
        "{err}"
    );
    assert!(
        !err.contains("relative to"),
        "an absolute path needs no hint: {err}"
    );
    // A relative path says where it was looked for.
    let err = read_err(json!({"path": "no/such/dir/orders.jsonl"})).await;
    let cwd = std::env::current_dir().expect("cwd");
    assert!(
        err.contains(&format!(
            "(relative to the working directory {})",
            cwd.display()
        )),
        "{err}"
    );
}

#[tokio::test]
async fn stops_when_downstream_stops() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text: String = (0..50_000).map(|i| format!("{{\"id\":{i}}}\n")).collect();
    let path = write(dir.path(), "a.jsonl", &text);
    for config in [
        json!({"path": path}),
        json!({"path": path, "format": "csv"}),
    ] {
        let source = build(config).expect("valid");
        let ctx = RunContext::builder("test").batch_size(10).build();
        let (mut tx, rx) = channel(1, ctx.cancellation().clone());
        drop(rx);
        let err = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            source.extract(&ctx, &mut tx),
        )
        .await
        .expect("returns promptly")
        .expect_err("send fails");
        assert!(err.is_secondary(), "{err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_the_runner_rows_arrive_in_order_and_a_bad_line_fails_the_run_as_the_sources() {
    use dataforge_core::test_utils::CollectingDestination;
    use dataforge_core::{Pipeline, RunOptions, RunStatus, error_chain};

    let dir = tempfile::tempdir().expect("tempdir");
    let good: String = (0..2_500).map(|i| format!("{{\"id\":{i}}}\n")).collect();
    let bad = format!("{good}{{\"id\": tru}}\n{{\"id\":2501}}\n");
    for (name, text) in [("good.jsonl", &good), ("bad.jsonl", &bad)] {
        let path = write(dir.path(), name, text);
        let source = registry()
            .build_source(&json!({"type": "file", "path": path}))
            .expect("valid");
        let dest = CollectingDestination::new();
        let p = Pipeline::builder("file")
            .source(source)
            .destination(dest.clone())
            .batch_size(100)
            .build()
            .expect("valid");
        let report = p.run(&RunOptions::in_memory()).await;
        if name == "good.jsonl" {
            // Parsed on the runner's workers, several batches at once, delivered in order.
            assert!(report.is_success(), "{:?}", report.error);
            assert_eq!(report.rows_extracted, 2_500);
            assert_eq!(ids(&dest.rows()), (0..2_500).collect::<Vec<_>>());
        } else {
            assert_eq!(report.status, RunStatus::Failed);
            let text = error_chain(report.error.as_ref().expect("error"));
            assert!(
                text.contains("source `file` failed")
                    && text.contains("bad.jsonl: line 2501: invalid JSON"),
                "{text}"
            );
            assert!(dest.rows().is_empty(), "nothing is committed");
        }
    }
}
