//! `dataforge replay`: rows a too-strict rule dead-lettered land in PostgreSQL once the rule is
//! relaxed; rows that still fail stay in the dead-letter file exactly once; a replay whose run
//! fails leaves the file as it was.
#![allow(clippy::unwrap_used)] // tests

mod support;

use std::path::Path;

use serde_json::{Value, json};
use support::{dataforge, runtime, test_db, text, write};

const SCHEMA: &str = "cli_replay";

/// 10 orders: ids 3, 6, 9 over 100, id 10 without a valid email.
fn orders(dir: &Path) {
    let lines: Vec<String> = (1..=10)
        .map(|id| {
            let amount = if id % 3 == 0 { 150 + id } else { 10 * id };
            let email = if id == 10 {
                "nope".to_owned()
            } else {
                format!("c{id}@example.com")
            };
            json!({"id": id, "amount": amount, "email": email}).to_string()
        })
        .collect();
    write(dir, "orders.jsonl", &(lines.join("\n") + "\n"));
}

/// The pipeline, its amount rule capped at `max`, dead letters to `rejected.jsonl`.
fn pipeline(dir: &Path, max: u32, conn_id: &str) {
    let p = json!({
        "dag_id": "replayed",
        "schedule_interval": null,
        "source": {"type": "file", "path": "orders.jsonl", "format": "jsonl"},
        "transforms": [
            {"type": "validate", "on_error": "dead_letter",
             "rules": {"amount": {"max": max}, "email": {"pattern": "^[^@]+@[^@]+$"}}}
        ],
        "destination": {"type": "postgres", "conn_id": conn_id, "schema": SCHEMA,
                        "table": "orders", "write_mode": "append"},
        "dead_letter": {"type": "file", "path": "rejected.jsonl", "format": "jsonl",
                        "write_mode": "append"}
    });
    write(dir, "replayed.json", &p.to_string());
}

fn dead_letters(dir: &Path) -> Vec<Value> {
    std::fs::read_to_string(dir.join("rejected.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn ids_of(letters: &[Value], pipeline: &str) -> Vec<i64> {
    let mut ids: Vec<i64> = letters
        .iter()
        .filter(|l| l["pipeline"] == pipeline)
        .map(|l| l["record"]["id"].as_i64().unwrap())
        .collect();
    ids.sort_unstable();
    ids
}

#[test]
fn replay_loads_what_now_passes_and_keeps_what_still_fails_once() {
    let rt = runtime();
    let Some(client) = test_db(&rt, SCHEMA) else {
        return;
    };
    let url = support::database_url();
    let env = [("DATAFORGE_CONN_POSTGRES_DEFAULT", url.as_str())];
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ids_in_table = || -> Vec<i64> {
        rt.block_on(client.query(&format!("SELECT id FROM {SCHEMA}.orders ORDER BY id"), &[]))
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect()
    };
    orders(d);
    pipeline(d, 100, "postgres_default");
    let out = dataforge(d, &["run", "replayed.json"], &env);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(ids_in_table(), vec![1, 2, 4, 5, 7, 8]);
    let letters = dead_letters(d);
    assert_eq!(ids_of(&letters, "replayed"), vec![3, 6, 9, 10]);
    let first = letters.iter().find(|l| l["record"]["id"] == 3).unwrap();
    assert_eq!(first["transform"], "transforms[0] validate");
    assert!(
        first["reason"].as_str().unwrap().contains("amount"),
        "{first}"
    );
    assert!(
        first["run_id"].as_str().is_some_and(|r| !r.is_empty()),
        "{first}"
    );
    // Another pipeline's dead letter in the same file is not this replay's business.
    let other = json!({"pipeline": "other", "run_id": "r", "transform": "t", "reason": "x",
                       "record": {"id": 3}});
    let mut text_now = std::fs::read_to_string(d.join("rejected.jsonl")).unwrap();
    text_now.push_str(&format!("{other}\n"));
    std::fs::write(d.join("rejected.jsonl"), text_now).unwrap();

    // A replay whose run fails (its destination's connection is not defined) changes nothing.
    pipeline(d, 1000, "undefined_conn");
    let before = std::fs::read_to_string(d.join("rejected.jsonl")).unwrap();
    let out = dataforge(
        d,
        &["replay", "replayed.json", "--pipeline", "replayed"],
        &env,
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    assert!(
        text(&out.stderr).contains("rejected.jsonl is unchanged"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(d.join("rejected.jsonl")).unwrap(),
        before
    );
    assert_eq!(ids_in_table(), vec![1, 2, 4, 5, 7, 8]);

    // The rule relaxed: 3, 6 and 9 load; 10 still fails and stays, once.
    pipeline(d, 1000, "postgres_default");
    for round in 0..2 {
        let out = dataforge(
            d,
            &["replay", "replayed.json", "--pipeline", "replayed"],
            &env,
        );
        let stdout = text(&out.stdout);
        assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
        let loaded = if round == 0 { 3 } else { 0 };
        let replayed = if round == 0 { 4 } else { 1 };
        assert!(
            stdout.contains(&format!(
                "replayed {replayed} dead letter(s) of replayed: {loaded} loaded, 1 still rejected (left in rejected.jsonl)"
            )),
            "round {round}: {stdout}"
        );
        assert_eq!(ids_in_table(), vec![1, 2, 3, 4, 5, 6, 7, 8, 9]);
        let letters = dead_letters(d);
        assert_eq!(ids_of(&letters, "replayed"), vec![10], "round {round}");
        assert_eq!(ids_of(&letters, "other"), vec![3], "round {round}");
        let again = letters
            .iter()
            .find(|l| l["pipeline"] == "replayed")
            .unwrap();
        assert!(
            again["reason"].as_str().unwrap().contains("email"),
            "{again}"
        );
        assert_eq!(again["record"]["email"], "nope");
    }
    rt.block_on(client.batch_execute(&format!("DROP SCHEMA {SCHEMA} CASCADE")))
        .unwrap();
}

#[test]
fn replay_says_why_it_cannot_find_the_dead_letters() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    orders(d);
    let p = json!({
        "dag_id": "no_dead_letter",
        "schedule_interval": null,
        "source": {"type": "file", "path": "orders.jsonl", "format": "jsonl"},
        "destination": {"type": "sqlite", "path": "t.db", "table": "t"}
    });
    write(d, "p.json", &p.to_string());
    let out = dataforge(
        d,
        &["replay", "p.json", "--pipeline", "no_dead_letter"],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("has no `dead_letter` destination: name the file with --from"),
        "{}",
        text(&out.stderr)
    );
    // --from a file with nothing of this pipeline: nothing to do.
    write(d, "empty.jsonl", "");
    let out = dataforge(
        d,
        &[
            "replay",
            "p.json",
            "--pipeline",
            "no_dead_letter",
            "--from",
            "empty.jsonl",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("no dead letters to replay"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn a_row_a_skipping_step_still_rejects_stays_in_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "orders.jsonl", "");
    // Dead letters from an earlier version of the pipeline; today its rule skips bad rows.
    let letters = [
        json!({"pipeline": "skipper", "run_id": "r1", "transform": "transforms[0] validate",
               "reason": "too big", "record": {"id": 1, "amount": 50}}),
        json!({"pipeline": "skipper", "run_id": "r1", "transform": "transforms[0] validate",
               "reason": "too big", "record": {"id": 2, "amount": 5000}}),
    ];
    let content: String = letters.iter().map(|l| format!("{l}\n")).collect();
    write(d, "old_rejects.jsonl", &content);
    let p = json!({
        "dag_id": "skipper",
        "schedule_interval": null,
        "source": {"type": "file", "path": "orders.jsonl", "format": "jsonl"},
        "transforms": [{"type": "validate", "on_error": "skip", "rules": {"amount": {"max": 100}}}],
        "destination": {"type": "sqlite", "path": "t.db", "table": "t", "write_mode": "append"}
    });
    write(d, "p.json", &p.to_string());
    let out = dataforge(
        d,
        &[
            "replay",
            "p.json",
            "--pipeline",
            "skipper",
            "--from",
            "old_rejects.jsonl",
        ],
        &[],
    );
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains("replayed 2 dead letter(s) of skipper: 1 loaded, 1 still rejected"),
        "{stdout}"
    );
    let kept: Vec<Value> = std::fs::read_to_string(d.join("old_rejects.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(kept[0]["record"]["id"], 2);
}
