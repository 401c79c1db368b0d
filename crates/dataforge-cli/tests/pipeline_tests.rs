//! `dataforge test`: the `tests` of pipeline files run the transform chain alone and print a
//! diff for each failure; `validate` checks their shape.
#![allow(clippy::unwrap_used)] // tests

mod support;

use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use support::{dataforge, text, write};

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/pipelines/paid_orders_tested.json")
}

fn example_json() -> Value {
    serde_json::from_str(&std::fs::read_to_string(example()).unwrap()).unwrap()
}

/// `dataforge test` in `dir`: exit code and stdout + stderr.
fn test_cmd(dir: &Path, args: &[&str]) -> (Option<i32>, String) {
    let mut all = vec!["test"];
    all.extend_from_slice(args);
    let out = dataforge(dir, &all, &[]);
    (out.status.code(), text(&out.stdout) + &text(&out.stderr))
}

#[test]
fn the_examples_tests_pass_including_templated_params_and_a_file_input() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out) = test_cmd(dir.path(), &[example().to_str().unwrap()]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("PASS  paid orders at or over the threshold pass, others are filtered, bad emails rejected (1 row(s) out, 1 rejected)"), "{out}");
    // params.min_total is 10 in the file, 5 in this test: the 8.50 order then passes.
    assert!(
        out.contains(
            "PASS  a lower threshold from params lets the small order through (2 row(s) out)"
        ),
        "{out}"
    );
    assert!(out.contains("PASS  the bundled sample: only valid paid orders over 10 remain (9 row(s) out, 1 rejected)"), "{out}");
    assert!(out.contains("3 test(s): 3 passed, 0 failed"), "{out}");
}

#[test]
fn a_failing_test_exits_1_with_a_diff_of_rows_and_the_rejected_rows_with_their_reasons() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = example_json();
    p["tests"].as_array_mut().unwrap().push(json!({
        "name": "a wrong expectation",
        "input": [
            {"id": 1, "financial_status": "paid", "total_price": "59.97", "customer": {"email": "ada@example.com"}},
            {"id": 7, "financial_status": "paid", "total_price": "20.00", "customer": {"email": "nope"}}
        ],
        "expect": [{"id": 1, "customer_email": "ada@example.com", "total_price": 60.0}],
        "expect_rejected": []
    }));
    // The input file of the example's third test is relative to the pipeline file.
    std::fs::create_dir_all(dir.path().join("pipelines")).unwrap();
    std::fs::create_dir_all(dir.path().join("quickstart/data")).unwrap();
    std::fs::copy(
        example()
            .parent()
            .unwrap()
            .join("../quickstart/data/orders.jsonl"),
        dir.path().join("quickstart/data/orders.jsonl"),
    )
    .unwrap();
    let file = write(&dir.path().join("pipelines"), "p.json", &p.to_string());
    let (code, out) = test_cmd(dir.path(), &[file.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("FAIL  a wrong expectation (1 row(s) out, 1 rejected)"),
        "{out}"
    );
    assert!(
        out.contains(
            "rows differ: 1 expected row(s) not produced (-), 1 produced row(s) not expected (+)"
        ),
        "{out}"
    );
    assert!(
        out.contains(r#"- {"customer_email":"ada@example.com","id":1,"total_price":60.0}"#),
        "{out}"
    );
    assert!(
        out.contains(r#"+ {"customer_email":"ada@example.com","id":1,"total_price":59.97}"#),
        "{out}"
    );
    assert!(out.contains("rejected rows differ: 0 expected rejection(s) not seen (-), 1 rejection(s) not expected (+)"), "{out}");
    assert!(
        out.contains(r#"by transforms[1] validate: column `customer_email` breaks rule `pattern`"#),
        "{out}"
    );
    assert!(out.contains("4 test(s): 3 passed, 1 failed"), "{out}");
    // --pipeline picks; an unknown one is exit 2.
    let (code, out) = test_cmd(dir.path(), &[file.to_str().unwrap(), "--pipeline", "nope"]);
    assert_eq!(code, Some(2), "{out}");
}

#[test]
fn tests_need_no_source_destination_or_network() {
    let dir = tempfile::tempdir().unwrap();
    // A Shopify source and a PostgreSQL destination whose connections are not defined: a run
    // would fail; the tests only run the chain.
    let p = json!({
        "dag_id": "offline",
        "schedule_interval": null,
        "source": {"type": "shopify", "conn_id": "no_such_shop", "resource": "orders"},
        "transforms": [{"type": "cast", "columns": {"n": "integer"}, "on_error": "skip"}],
        "destination": {"type": "postgres", "conn_id": "no_such_db", "table": "t"},
        "tests": [{
            "name": "numbers cast, words rejected",
            "logical_date": "2026-03-01",
            "input": [{"n": "1"}, {"n": "two"}],
            "expect": [{"n": 1}],
            "expect_rejected": [{"row": {"n": "two"}, "transform": "transforms[0]", "reason": "integer"}]
        }]
    });
    let file = write(dir.path(), "offline.json", &p.to_string());
    let (code, out) = test_cmd(dir.path(), &[file.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("PASS  numbers cast, words rejected (1 row(s) out, 1 rejected)"),
        "{out}"
    );
}

#[test]
fn validate_checks_the_shape_of_tests_at_their_json_paths() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = example_json();
    p["tests"] = json!([
        {"name": "no check", "input": [{"id": 1}]},
        {"name": "bad input", "input": [1], "expect_count": 1},
        {"name": "bad input", "input": {"id": 1}, "expect_count": "one", "surprise": true},
        {"input": [], "ordered": true, "expect_rejected": [{"why": "x"}]}
    ]);
    let file = write(dir.path(), "bad.json", &p.to_string());
    for cmd in ["validate", "test"] {
        let out = dataforge(dir.path(), &[cmd, file.to_str().unwrap()], &[]);
        let all = text(&out.stdout) + &text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{cmd}: {all}");
        for needle in [
            "bad.json: tests[0]: says nothing to check: give `expect`, `expect_count` or `expect_rejected`",
            "bad.json: tests[1].input[0]: expected a row (an object), found a number",
            "bad.json: tests[2].name: \"bad input\" names another test already",
            "bad.json: tests[2].input: expected an array of rows or the path of a JSON or JSON Lines file",
            "bad.json: tests[2].expect_count:",
            "bad.json: tests[2].surprise: unknown field",
            "bad.json: tests[3]: missing field `name`",
            "bad.json: tests[3].ordered: applies to `expect`",
            "bad.json: tests[3].expect_rejected[0].why: unknown field",
        ] {
            assert!(all.contains(needle), "{cmd}: {needle}\n{all}");
        }
    }
}
