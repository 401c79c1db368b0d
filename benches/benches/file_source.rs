//! The `file` source alone: Shopify-like orders parsed into records and drained, as JSONL and
//! as one JSON array (the same rows). The source hands its chunks on unparsed (the runner
//! parses them on its workers, see the `runner` bench); here the draining task parses them,
//! on one thread, as a receiver outside the runner does.
//!
//! `cargo bench -p dataforge-benches --bench file_source`
//! Rows/s is what criterion reports; MB/s = rows/s × the bytes per row printed at start.
#![allow(missing_docs)]

/// The allocator the `dataforge` binary uses (see its main.rs): rows are freed on another
/// thread than the one that parsed them, which glibc's malloc serialises.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use dataforge_sources as _;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use dataforge_core::stream::channel;
use dataforge_core::{RunContext, Source};
use dataforge_sources::file::{FileSource, FileSourceConfig};

const ROWS: u64 = 200_000;

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("orders.jsonl");
    dataforge_benches::write_orders_jsonl(&input, ROWS).expect("write orders");
    let array = dir.path().join("orders.json");
    dataforge_benches::write_orders_json_array(&array, ROWS).expect("write orders");
    let bytes = std::fs::metadata(&input).expect("size").len();
    eprintln!(
        "file_source: {ROWS} orders, {bytes} bytes, {:.0} bytes/row",
        bytes as f64 / ROWS as f64
    );

    let mut group = c.benchmark_group("file_source");
    group.sample_size(10);
    group.throughput(Throughput::Elements(ROWS));
    for (name, path) in [("jsonl", &input), ("json_array", &array)] {
        let source = FileSource::from_config(FileSourceConfig {
            path: path.to_string_lossy().into_owned(),
            format: None,
            delimiter: None,
            has_header: None,
        })
        .expect("config");
        group.bench_function(format!("{name}_orders"), |b| {
            b.iter(|| {
                rt.block_on(async {
                    let ctx = RunContext::builder("bench").batch_size(1000).build();
                    let (mut tx, mut rx) = channel(2, ctx.cancellation().clone());
                    let drain = tokio::spawn(async move {
                        let mut rows = 0usize;
                        while let Some(batch) = rx.recv().await.expect("valid orders") {
                            rows += batch.len();
                        }
                        rows
                    });
                    source.extract(&ctx, &mut tx).await.expect("extract");
                    tx.finish().await;
                    assert_eq!(drain.await.expect("drain"), ROWS as usize);
                })
            });
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
