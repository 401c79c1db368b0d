//! A fuzzer for pipeline files, as proptest (the toolchain is stable Rust: no `cargo fuzz`):
//! the seed files in `fuzz/corpus/config` (the example pipelines and the hardening probe's
//! inputs), mutated byte by byte and value by value, go through what `dataforge validate` does
//! (parse, then build every component through the registry). Each must give a pipeline or
//! config errors: a panic fails the case (and a stack overflow the process).
//!
//! `DATAFORGE_FUZZ_CASES` sets the number of cases per test (default 32; `.ci/run` uses more).

use std::path::PathBuf;

use dataforge_core::{ConfigErrors, Pipeline, PipelineConfig, Registry};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::Config;
// Linked for their registrations.
use dataforge_destinations as _;
use dataforge_sources as _;
use dataforge_transforms as _;

fn cases() -> u32 {
    std::env::var("DATAFORGE_FUZZ_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(32)
}

fn config() -> Config {
    Config {
        cases: cases(),
        failure_persistence: None,
        ..Config::default()
    }
}

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/config")
}

/// The seed files, sorted by name.
fn corpus() -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(corpus_dir())
        .expect("fuzz/corpus/config exists")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| {
            let name = p.file_name().map(|n| n.to_string_lossy().into_owned());
            (name.unwrap_or_default(), std::fs::read(&p).expect("read"))
        })
        .collect();
    files.sort();
    assert!(files.len() >= 10, "the corpus has its seeds");
    files
}

fn registry() -> &'static Registry {
    Registry::global().expect("components linked")
}

/// What `dataforge validate` does with one file's bytes.
fn validate(bytes: &[u8]) -> Result<Pipeline, ConfigErrors> {
    let parsed = PipelineConfig::from_json_slice(bytes)?;
    Pipeline::from_config(&parsed.config, registry())
}

/// Bytes worth inserting: JSON's punctuation, extremes, a BOM, NUL, invalid UTF-8.
const SNIPPETS: &[&[u8]] = &[
    b"{",
    b"}",
    b"[",
    b"]",
    b",",
    b":",
    b"\"",
    b"\\",
    b"null",
    b"true",
    b"-1",
    b"1e300",
    b"18446744073709551616",
    b"123456789012345678901234567890",
    b"\xEF\xBB\xBF",
    b"\0",
    b"\\u0000",
    b"\xFF",
    b"\xC3",
    b"\"type\": \"filter\"",
    b"\"expr\": \"a.a.a\"",
    b"\"destination\": {}",
    b"\"retry_delay\": 1e300,",
    b"\xF0\x9F\x98\x80",
    b"  ",
    b"\n",
];

/// One byte-level change.
#[derive(Clone, Debug)]
enum Edit {
    Delete(Index, u8),
    Insert(Index, Index),
    Replace(Index, u8),
    Truncate(Index),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<Index>(), 1u8..16).prop_map(|(i, n)| Edit::Delete(i, n)),
        (any::<Index>(), any::<Index>()).prop_map(|(i, s)| Edit::Insert(i, s)),
        (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Edit::Replace(i, b)),
        any::<Index>().prop_map(Edit::Truncate),
    ]
}

fn apply(bytes: &mut Vec<u8>, edit: &Edit) {
    let at = |i: &Index, len: usize| i.index(len + 1);
    match edit {
        Edit::Delete(i, n) => {
            let start = at(i, bytes.len());
            let end = (start + usize::from(*n)).min(bytes.len());
            bytes.drain(start..end);
        }
        Edit::Insert(i, s) => {
            let start = at(i, bytes.len());
            let snippet = SNIPPETS[s.index(SNIPPETS.len())];
            bytes.splice(start..start, snippet.iter().copied());
        }
        Edit::Replace(i, b) if !bytes.is_empty() => {
            let i = i.index(bytes.len());
            bytes[i] = *b;
        }
        Edit::Replace(..) => {}
        Edit::Truncate(i) => bytes.truncate(at(i, bytes.len())),
    }
}

/// A value put in place of another: extremes, wrong types, deep nesting, duplicates.
fn extreme(choice: usize) -> String {
    match choice % 16 {
        0 => "1e300".into(),
        1 => "-1".into(),
        2 => "18446744073709551616".into(),
        3 => "123456789012345678901234567890".into(),
        4 => format!("\"{}\"", "x".repeat(100_000)),
        5 => format!("{}1{}", "[".repeat(100), "]".repeat(100)),
        6 => format!("{}1{}", "[".repeat(200), "]".repeat(200)),
        7 => format!("{}1{}", "{\"a\":".repeat(60), "}".repeat(60)),
        8 => "{\"k\": 1, \"k\": 2}".into(),
        9 => "\"\\u0000\"".into(),
        10 => "null".into(),
        11 => "true".into(),
        12 => "[]".into(),
        13 => "{}".into(),
        14 => format!("\"1{}\"", " + 1".repeat(200)),
        _ => "0".into(),
    }
}

/// `value` with the value at a random place (chosen by `path`) marked, for [`extreme`].
fn mark(value: &mut serde_json::Value, path: &[Index], marker: &str) {
    use serde_json::Value;
    let len = match value {
        Value::Object(m) => m.len(),
        Value::Array(a) => a.len(),
        _ => 0,
    };
    match path.split_first() {
        Some((step, rest)) if len > 0 => {
            let i = step.index(len);
            let child = match value {
                Value::Object(m) => m.values_mut().nth(i),
                Value::Array(a) => a.get_mut(i),
                _ => None,
            };
            if let Some(child) = child {
                mark(child, rest, marker);
            }
        }
        _ => *value = Value::String(marker.into()),
    }
}

proptest! {
    #![proptest_config(config())]

    /// Byte-level: deletions, insertions, replacements and truncations of a seed file.
    #[test]
    fn mutated_bytes_never_panic(
        seed in any::<Index>(),
        edits in proptest::collection::vec(edit(), 1..8),
    ) {
        let seeds = corpus();
        let mut bytes = seeds[seed.index(seeds.len())].1.clone();
        for e in &edits {
            apply(&mut bytes, e);
        }
        let _ = validate(&bytes);
    }

    /// Structure-level: a value at a random JSON path replaced by an extreme, a wrong type,
    /// deep nesting or a repeated key; with a BOM now and then.
    #[test]
    fn mutated_values_never_panic(
        seed in any::<Index>(),
        changes in proptest::collection::vec(
            (proptest::collection::vec(any::<Index>(), 0..5), any::<usize>()), 1..4),
        bom in any::<bool>(),
    ) {
        let seeds = corpus();
        let Ok(mut value) = serde_json::from_slice::<serde_json::Value>(
            seeds[seed.index(seeds.len())].1.strip_prefix(b"\xEF\xBB\xBF".as_slice())
                .unwrap_or(&seeds[seed.index(seeds.len())].1),
        ) else {
            return Ok(());
        };
        for (i, (path, _)) in changes.iter().enumerate() {
            mark(&mut value, path, &format!("@@{i}@@"));
        }
        let mut text = value.to_string();
        for (i, (_, choice)) in changes.iter().enumerate() {
            text = text.replace(&format!("\"@@{i}@@\""), &extreme(*choice));
        }
        let mut bytes = if bom { b"\xEF\xBB\xBF".to_vec() } else { Vec::new() };
        bytes.extend_from_slice(text.as_bytes());
        let _ = validate(&bytes);
    }
}

/// Every seed, as it is: the examples are valid, every probe is refused with a path.
#[test]
fn every_seed_validates_or_is_refused_with_a_path() {
    for (name, bytes) in corpus() {
        match validate(&bytes) {
            Ok(_) => assert!(
                name.starts_with("example_") || name == "base.json" || name == "probe_bom.json",
                "{name} should be refused"
            ),
            Err(e) => {
                assert!(name.starts_with("probe_"), "{name}: {e}");
                assert!(
                    e.issues().iter().all(|i| i.to_string().len() < 1500),
                    "{name}: echoes too much"
                );
            }
        }
    }
}
