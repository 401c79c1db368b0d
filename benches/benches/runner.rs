//! The runner's per-row overhead: file → identity → file, and memory → identity → memory
//! (no I/O, so only channels, batching, the transform stage and the report remain).
//!
//! `cargo bench -p dataforge-benches --bench runner`
#![allow(missing_docs)]

/// The allocator the `dataforge` binary uses (see its main.rs).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use dataforge_destinations as _;
use dataforge_sources as _;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use dataforge_core::test_utils::{CollectingDestination, GeneratedSource};
use dataforge_core::{
    Batch, ComponentError, Pipeline, Registry, RowContext, RunOptions, Transform, record,
};
use serde_json::json;

const ROWS: u64 = 200_000;

struct Identity;

impl Transform for Identity {
    fn transform(&self, batch: Batch, _: &mut RowContext<'_>) -> Result<Batch, ComponentError> {
        Ok(batch)
    }
}

fn options() -> RunOptions {
    RunOptions::in_memory()
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("rows.jsonl");
    let text: String = (0..ROWS)
        .map(|i| {
            format!(
                "{{\"id\":{i},\"name\":\"row {i}\",\"amount\":{}.25,\"paid\":true}}\n",
                i % 1000
            )
        })
        .collect();
    std::fs::write(&input, text).expect("write input");
    let registry = Registry::global().expect("registry");

    let mut group = c.benchmark_group("runner");
    group.sample_size(10);
    group.throughput(Throughput::Elements(ROWS));

    let file_pipeline = Pipeline::builder("file_identity_file")
        .source(
            registry
                .build_source(&json!({"type": "file", "path": input}))
                .expect("source"),
        )
        .transform(Identity)
        .destination(
            registry
                .build_destination(&json!({"type": "file", "path": dir.path().join("out.jsonl")}))
                .expect("destination"),
        )
        .build()
        .expect("pipeline");
    group.bench_function("file_identity_file", |b| {
        b.iter(|| {
            let report = rt.block_on(file_pipeline.run(&options()));
            assert_eq!(report.rows_loaded, ROWS, "{:?}", report.error);
        });
    });

    group.bench_function("memory_identity_memory", |b| {
        b.iter(|| {
            let p = Pipeline::builder("memory_identity_memory")
                .source(GeneratedSource::new(ROWS, |i| record! {"id" => i as i64}))
                .transform(Identity)
                .destination(CollectingDestination::new())
                .build()
                .expect("pipeline");
            let report = rt.block_on(p.run(&options()));
            assert_eq!(report.rows_loaded, ROWS, "{:?}", report.error);
        });
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
