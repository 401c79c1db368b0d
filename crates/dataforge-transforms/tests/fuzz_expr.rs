//! A fuzzer for `filter` and `add_column` expressions, as proptest (the toolchain is stable
//! Rust: no `cargo fuzz`): expressions from a small CEL grammar, the seed files in
//! `fuzz/corpus/expr` (the hardening probe's deep shapes and everyday expressions) mutated byte
//! by byte, and random strings are compiled and, when they compile, evaluated on rows, on a
//! thread with the stack of the runner's transform workers. Each must give a value or an error:
//! a panic fails the case (and a stack overflow the process).
//!
//! `DATAFORGE_FUZZ_CASES` sets the number of cases per test (default 32; `.ci/run` uses more).

use std::path::PathBuf;

use dataforge_core::{Record, RunContext, Value, record};
use dataforge_transforms::expr::{Expression, RunVars};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::Config;

fn config() -> Config {
    let cases = std::env::var("DATAFORGE_FUZZ_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(32);
    Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    }
}

/// The seed expressions, sorted by file name.
fn corpus() -> Vec<String> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/expr");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("fuzz/corpus/expr exists")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .collect();
    files.sort();
    assert!(files.len() >= 10, "the corpus has its seeds");
    files
        .iter()
        .map(|p| std::fs::read_to_string(p).expect("read"))
        .collect()
}

fn rows() -> Vec<Record> {
    vec![
        record! {"x" => 1, "total" => 2.5, "name" => "Zoë", "flag" => true},
        record! {"x" => Value::Null, "total" => "12", "name" => 3},
        record! {"x" => i64::MAX, "total" => -0.0, "name" => "", "o" => record! {"a" => 1}},
        Record::default(),
    ]
}

/// Compiles `source` and evaluates it on every row, on a thread with the transform workers'
/// 16 MiB of stack, as the runner does.
fn run(source: String) {
    std::thread::Builder::new()
        .stack_size(16 * 1024 * 1024)
        .spawn(move || {
            let Ok(e) = Expression::compile(&source) else {
                return;
            };
            let ctx = RunContext::builder("fuzz").run_id("r").build();
            let vars = RunVars::new(&ctx);
            for row in rows() {
                let _ = e.eval(&row, &vars);
                let _ = e.eval_bool(&row, &vars);
            }
        })
        .expect("thread")
        .join()
        .expect("compiling and evaluating never panics");
}

/// Expressions from a small CEL grammar: names, literals, operators, calls, lists, maps,
/// ternaries and macros, nested up to `depth`.
fn grammar() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("x".to_owned()),
        Just("total".to_owned()),
        Just("name".to_owned()),
        Just("row".to_owned()),
        Just("o.a".to_owned()),
        Just("run.ds".to_owned()),
        Just("missing".to_owned()),
        Just("null".to_owned()),
        Just("true".to_owned()),
        any::<i64>().prop_map(|i| i.to_string()),
        any::<f64>().prop_map(|f| format!("{f:?}")),
        "[a-z ]{0,8}".prop_map(|s| format!("{s:?}")),
        Just("9223372036854775807".to_owned()),
        Just("18446744073709551615u".to_owned()),
    ];
    leaf.prop_recursive(12, 200, 4, |inner| {
        let op = prop_oneof![
            Just("+"),
            Just("-"),
            Just("*"),
            Just("/"),
            Just("%"),
            Just("=="),
            Just("!="),
            Just("<"),
            Just("<="),
            Just(">"),
            Just(">="),
            Just("&&"),
            Just("||"),
            Just("in"),
        ];
        prop_oneof![
            (inner.clone(), op, inner.clone()).prop_map(|(a, o, b)| format!("{a} {o} {b}")),
            inner.clone().prop_map(|a| format!("({a})")),
            inner.clone().prop_map(|a| format!("!{a}")),
            inner.clone().prop_map(|a| format!("-{a}")),
            (inner.clone(), inner.clone(), inner.clone())
                .prop_map(|(c, a, b)| format!("{c} ? {a} : {b}")),
            proptest::collection::vec(inner.clone(), 0..4)
                .prop_map(|v| format!("[{}]", v.join(", "))),
            (inner.clone(), inner.clone()).prop_map(|(k, v)| format!("{{{k}: {v}}}")),
            inner.clone().prop_map(|a| format!("string({a})")),
            inner.clone().prop_map(|a| format!("size({a})")),
            inner.clone().prop_map(|a| format!("{a}.lowerAscii()")),
            inner.clone().prop_map(|a| format!("has({a}.a)")),
            inner.clone().prop_map(|a| format!("row[{a}]")),
            inner.clone().prop_map(|a| format!("[1, 2].all(v, {a})")),
            inner.prop_map(|a| format!("{{\"a\": {a}}}.exists(k, k == \"a\")")),
        ]
    })
}

proptest! {
    #![proptest_config(config())]

    /// Expressions from the grammar.
    #[test]
    fn grammar_expressions_never_panic(source in grammar()) {
        run(source);
    }

    /// A seed expression with bytes deleted, inserted or replaced, or cut.
    #[test]
    fn mutated_seeds_never_panic(
        seed in any::<Index>(),
        edits in proptest::collection::vec((any::<Index>(), 0u8..4, any::<char>()), 1..6),
    ) {
        let seeds = corpus();
        let mut chars: Vec<char> = seeds[seed.index(seeds.len())].chars().collect();
        for (at, kind, c) in edits {
            let i = at.index(chars.len() + 1);
            match kind {
                0 if i < chars.len() => { chars.remove(i); }
                1 => chars.insert(i, c),
                2 if i < chars.len() => chars[i] = c,
                _ => chars.truncate(i),
            }
        }
        run(chars.into_iter().collect());
    }

    /// Random text.
    #[test]
    fn random_strings_never_panic(source in "\\PC{0,64}|[-+*/%!?:.()\\[\\]{}<>=&|\"' a-z0-9]{0,200}") {
        run(source);
    }
}

/// Every seed as it is: compiles and evaluates, or is refused.
#[test]
fn every_seed_compiles_or_is_refused() {
    for source in corpus() {
        run(source);
    }
}
