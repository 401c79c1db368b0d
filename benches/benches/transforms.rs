//! The transform chain flatten → rename_columns → cast → filter → add_column on generated
//! Shopify-like orders: directly on one thread, through the runner (parallel batches), and the
//! same chain in plain Python over a list of dicts (the original's approach), in one run.
//!
//! `cargo bench -p dataforge-benches --bench transforms`; the closing summary prints rows/s and
//! the ratios. `DATAFORGE_BENCH_ROWS` sets the row count of the summary (default 200000).
//!
//! What is timed: the transforms only. The input batches are built before the clock starts, by
//! deserialising each order's JSON as a source does (not by cloning parsed rows, which would lay
//! them out in memory differently); through the runner, the source moves those pre-built
//! batches out and the destination counts rows and drops the batches, so the runner figure is
//! the chain plus the runner's own cost (channels, blocking threads, ordering), not a deep copy
//! of the input or a collecting destination. The destination counts and drops each batch in
//! its `Preparer`, which the runner runs on the worker that transformed the batch, as a
//! destination's encoding runs; the same destination counting and dropping in `load`, on its
//! own task (where every row is freed on a core that did not touch it last), is timed beside it.
//! So is the chain on two plain threads taking alternate batches (neither the parsing thread),
//! the runner's work without the runner: the share of it the runner reaches is its own cost.
//!
//! A source may defer its parsing to the runner's workers (the file source does: see
//! `DeferredBatch`); a worker then transforms rows it made itself, and frees them itself,
//! which costs the allocator far less than freeing another thread's. Two measures show the
//! chain in that setting: two plain threads each running the chain over the whole list of the
//! rows it parsed itself (wall clock, the chain alone), and the runner on a source that defers
//! the parsing of its JSON text (wall clock with the parsing, and the chain's own time on the
//! workers as the run report gives it: rows × workers / the chain's seconds summed over them).
//!
//! Two shapes of input are timed. *Whole list*: every row is built first (200k orders, far more
//! than the caches hold), then the chain runs over them, as the Python original does over its
//! list. *Streaming*: each batch is parsed just before the chain runs on it, untimed, as a
//! pipeline's source hands fresh batches to its transforms; Python is timed the same way
//! (`json.loads` of a batch untimed, its chain timed). The two differ by what the chain pays
//! to fetch rows that are out of the cache.
//!
//! Freeing is timed on both sides: Rust's transforms consume their input rows and the output
//! is dropped in the timed run, so Python's timed run also ends by freeing its input list and
//! its output. Python's chain alone (what this bench reported before) is printed beside it.
#![allow(missing_docs, clippy::print_stdout, clippy::unwrap_used)]

/// The allocator the `dataforge` binary uses (see its main.rs).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use dataforge_benches::{order_json, write_orders_jsonl};
use dataforge_core::pipeline::{IntoComponent, Named};
use dataforge_core::{
    Batch, BatchReceiver, BatchSender, ComponentError, DeferredBatch, Destination, LoadSummary,
    Pipeline, Prepared, Preparer, Record, Registry, RowContext, RunContext, RunOptions, RunReport,
    Source, Transform, async_trait,
};
use serde_json::json;

const BATCH: usize = 1000;

fn chain() -> Vec<Named<dyn Transform>> {
    let mut registry = Registry::new();
    dataforge_transforms::register(&mut registry).unwrap();
    [
        json!({"type": "flatten", "separator": "_"}),
        json!({"type": "rename_columns", "mapping": {"name": "order_name", "customer_id": "customer"}}),
        json!({"type": "cast", "columns": {"total_price": "float", "created_at": "timestamp"}}),
        json!({"type": "filter", "expr": "financial_status == \"paid\" && total_price > 100.0"}),
        json!({"type": "add_column", "name": "total_with_vat", "expr": "total_price * 1.21"}),
    ]
    .iter()
    .map(|c| registry.build_transform(c).unwrap().into_parts().0)
    .collect()
}

/// The orders as JSON text: parsed anew for every timed run (see [`Input::batches`]).
struct Input {
    texts: Arc<Vec<String>>,
}

impl Input {
    fn new(n: usize) -> Self {
        Self {
            texts: Arc::new((0..n as u64).map(order_json).collect()),
        }
    }

    /// Fresh batches, deserialised as the file source does.
    fn batches(&self) -> Vec<Batch> {
        self.texts.chunks(BATCH).map(parse).collect()
    }
}

/// One batch, deserialised as the file source does.
fn parse(texts: &[String]) -> Batch {
    texts
        .iter()
        .map(|t| serde_json::from_str::<Record>(t).unwrap())
        .collect()
}

/// Runs the chain on one thread; returns rows out.
fn direct(chain: &[Named<dyn Transform>], input: Vec<Batch>, ctx: &RunContext) -> usize {
    let mut out = 0;
    for mut batch in input {
        for t in chain {
            let mut rows = RowContext::new(ctx);
            batch = t.component.transform(batch, &mut rows).unwrap();
            assert!(rows.take_rejected().is_empty());
        }
        out += batch.len();
    }
    out
}

/// Runs the chain on two plain threads, neither the one that parsed the rows, taking alternate
/// batches as the runner's workers do: the same work as the runner without the runner (its
/// channels, blocking pool and ordering), to tell what the runner itself costs. Returns rows out.
fn two_threads(chain: &[Named<dyn Transform>], input: Vec<Batch>, ctx: &RunContext) -> usize {
    let (mut even, mut odd) = (Vec::new(), Vec::new());
    for (i, batch) in input.into_iter().enumerate() {
        if i % 2 == 0 {
            even.push(batch);
        } else {
            odd.push(batch);
        }
    }
    std::thread::scope(|s| {
        let a = s.spawn(|| direct(chain, even, ctx));
        let b = s.spawn(|| direct(chain, odd, ctx));
        a.join().unwrap() + b.join().unwrap()
    })
}

/// Runs the chain on two plain threads taking alternate batches, each on rows it parsed itself
/// before the clock started: the whole list as the runner's workers see rows a source deferred
/// (made and freed on one thread). Only the chain is timed, from when both threads are ready to
/// when both are done. Returns rows out and the time.
fn two_threads_own_rows(
    chain: &[Named<dyn Transform>],
    input: &Input,
    ctx: &RunContext,
) -> (usize, Duration) {
    let ready = std::sync::Barrier::new(3);
    let chunks: Vec<&[String]> = input.texts.chunks(BATCH).collect();
    std::thread::scope(|s| {
        let worker = |k: usize| {
            let (chunks, ready) = (&chunks, &ready);
            s.spawn(move || {
                let batches: Vec<Batch> =
                    chunks.iter().skip(k).step_by(2).map(|c| parse(c)).collect();
                ready.wait();
                direct(chain, batches, ctx)
            })
        };
        let (a, b) = (worker(0), worker(1));
        ready.wait();
        let start = Instant::now();
        let out = a.join().unwrap() + b.join().unwrap();
        (out, start.elapsed())
    })
}

/// Runs the chain batch by batch on just-parsed rows, as a pipeline feeds it (the source's
/// batch is fresh in the cache); only the chain and the dropping of its output are timed.
/// Returns rows out and the time.
fn streaming(chain: &[Named<dyn Transform>], input: &Input, ctx: &RunContext) -> (usize, Duration) {
    let mut out = 0;
    let mut time = Duration::ZERO;
    for chunk in input.texts.chunks(BATCH) {
        let batch = parse(chunk);
        let start = Instant::now();
        out += direct(chain, vec![batch], ctx);
        time += start.elapsed();
    }
    (out, time)
}

/// A source that moves pre-built batches out: filled before the clock starts, so the timed
/// run pays no copy of the input.
#[derive(Clone, Default)]
struct PrebuiltSource {
    slot: Arc<Mutex<Option<Vec<Batch>>>>,
}

impl PrebuiltSource {
    fn fill(&self, batches: Vec<Batch>) {
        *self.slot.lock().unwrap_or_else(PoisonError::into_inner) = Some(batches);
    }
}

#[async_trait]
impl Source for PrebuiltSource {
    async fn extract(
        &self,
        _ctx: &RunContext,
        out: &mut BatchSender,
    ) -> Result<(), ComponentError> {
        let batches = self
            .slot
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
            .ok_or_else(|| ComponentError::fatal_msg("the bench did not fill the source"))?;
        for batch in batches {
            out.send(batch).await?;
        }
        Ok(())
    }
}

/// A source that sends its JSON text as deferred batches, as the file source does: the runner
/// parses each on the worker that then transforms it.
#[derive(Clone)]
struct DeferringSource {
    texts: Arc<Vec<String>>,
}

#[async_trait]
impl Source for DeferringSource {
    async fn extract(
        &self,
        _ctx: &RunContext,
        out: &mut BatchSender,
    ) -> Result<(), ComponentError> {
        for start in (0..self.texts.len()).step_by(BATCH) {
            let texts = self.texts.clone();
            out.send_deferred(DeferredBatch::new(move || {
                let end = (start + BATCH).min(texts.len());
                texts[start..end]
                    .iter()
                    .map(|t| sonic_rs::from_str::<Record>(t).map_err(ComponentError::fatal))
                    .collect()
            }))
            .await?;
        }
        Ok(())
    }
}

/// A destination that counts rows and drops the batches: in its [`Preparer`] (on the runner's
/// workers) or, with `in_load`, in `load`.
struct CountingDestination {
    in_load: bool,
}

/// Counts a batch's rows and drops them.
struct CountRows;

impl Preparer for CountRows {
    fn prepare(&self, batch: Batch) -> Result<Prepared, ComponentError> {
        // The runner counts the rows; freeing them here, on the worker, is the point.
        drop(batch);
        Ok(Prepared::new(()))
    }
}

#[async_trait]
impl Destination for CountingDestination {
    async fn load(
        &self,
        input: &mut BatchReceiver,
        _ctx: &RunContext,
    ) -> Result<LoadSummary, ComponentError> {
        let mut n = 0u64;
        if self.in_load {
            while let Some(batch) = input.recv().await? {
                n += batch.len() as u64;
            }
        } else {
            while let Some(prepared) = input.recv_prepared(&CountRows).await? {
                n += prepared.rows();
            }
        }
        Ok(LoadSummary::new("count", n))
    }

    fn preparer(&self) -> Option<Arc<dyn Preparer>> {
        (!self.in_load).then(|| Arc::new(CountRows) as Arc<dyn Preparer>)
    }
}

/// The chain through the runner; `in_load`: the destination drops rows in `load`.
fn pipeline(in_load: bool) -> (Pipeline, PrebuiltSource) {
    let source = PrebuiltSource::default();
    (chain_from(source.clone(), in_load), source)
}

/// The chain through the runner from `source` to a [`CountingDestination`].
fn chain_from(source: impl IntoComponent<dyn Source>, in_load: bool) -> Pipeline {
    let mut b = Pipeline::builder("bench").source(source).batch_size(BATCH);
    for t in chain() {
        b = b.transform(t);
    }
    let destination = CountingDestination { in_load };
    b.destination(destination).build().unwrap()
}

/// Runs `p` once; the report of its successful run.
fn through_runner(rt: &tokio::runtime::Runtime, p: &Pipeline) -> RunReport {
    let report = rt.block_on(p.run(&RunOptions::in_memory()));
    assert!(report.is_success(), "{:?}", report.error);
    report
}

fn rows_per_sec(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

/// CPU time of this process so far (user + system), from `/proc/self/stat` (Linux only).
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    // The kernel's USER_HZ is 100 on every Linux platform in use.
    Some(ticks / 100.0)
}

fn best_of<F: FnMut() -> Duration>(times: usize, mut f: F) -> Duration {
    (0..times).map(|_| f()).min().unwrap()
}

/// What the Python script measured: the chain and the freeing of its input and output, as the
/// Rust runs are timed, and (`chain_only_`) the chain alone, as this bench reported before.
struct Python {
    rows_per_sec: f64,
    streaming_rows_per_sec: f64,
    chain_only_rows_per_sec: f64,
    chain_only_streaming_rows_per_sec: f64,
    kept: u64,
}

fn python(n: usize) -> Option<Python> {
    let dir = tempfile::tempdir().ok()?;
    let path = dir.path().join("orders.jsonl");
    write_orders_jsonl(&path, n as u64).ok()?;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/python/transform_chain.py");
    let out = std::process::Command::new("python3")
        .arg(script)
        .arg(&path)
        .arg(BATCH.to_string())
        .output()
        .ok()?;
    if !out.status.success() {
        println!("python failed: {}", String::from_utf8_lossy(&out.stderr));
        return None;
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    Some(Python {
        rows_per_sec: v["rows_per_sec"].as_f64()?,
        streaming_rows_per_sec: v["streaming_rows_per_sec"].as_f64()?,
        chain_only_rows_per_sec: v["chain_only_rows_per_sec"].as_f64()?,
        chain_only_streaming_rows_per_sec: v["chain_only_streaming_rows_per_sec"].as_f64()?,
        kept: v["rows_out"].as_u64()?,
    })
}

fn bench(c: &mut Criterion) {
    let ctx = RunContext::builder("bench").run_id("bench").build();
    let chain = chain();
    let n = 20_000;
    let input = Input::new(n);
    let rt = tokio::runtime::Runtime::new().unwrap();

    let mut g = c.benchmark_group("transform_chain");
    g.throughput(Throughput::Elements(n as u64));
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(5));
    g.bench_function("direct_one_thread", |b| {
        b.iter_batched(
            || input.batches(),
            |i| direct(&chain, i, &ctx),
            criterion::BatchSize::LargeInput,
        )
    });
    let (p, source) = pipeline(false);
    g.bench_function("runner_parallel_batches", |b| {
        b.iter_batched(
            || source.fill(input.batches()),
            |()| through_runner(&rt, &p).rows_loaded,
            criterion::BatchSize::PerIteration,
        )
    });
    g.finish();

    summary(&chain, &ctx, &rt);
}

/// The closing note: rows/s of each way and the ratios, on the same data.
fn summary(chain: &[Named<dyn Transform>], ctx: &RunContext, rt: &tokio::runtime::Runtime) {
    let n: usize = std::env::var("DATAFORGE_BENCH_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let input = Input::new(n);
    let mut kept = 0;
    let direct_time = best_of(3, || {
        let i = input.batches();
        let start = Instant::now();
        kept = direct(chain, i, ctx);
        start.elapsed()
    });
    let runner = |in_load: bool| {
        let (p, source) = pipeline(in_load);
        let mut cpu_busy = f64::NAN;
        let time = best_of(3, || {
            source.fill(input.batches());
            let cpu = cpu_seconds();
            let start = Instant::now();
            let loaded = through_runner(rt, &p).rows_loaded;
            let elapsed = start.elapsed();
            assert_eq!(loaded as usize, kept);
            if let (Some(before), Some(after)) = (cpu, cpu_seconds()) {
                cpu_busy = (after - before) / elapsed.as_secs_f64();
            }
            elapsed
        });
        (time, cpu_busy)
    };
    let threads_time = best_of(3, || {
        let i = input.batches();
        let start = Instant::now();
        assert_eq!(two_threads(chain, i, ctx), kept);
        start.elapsed()
    });
    let (runner_time, runner_cpu) = runner(false);
    let (in_load_time, in_load_cpu) = runner(true);
    let own_rows_time = best_of(3, || {
        let (out, time) = two_threads_own_rows(chain, &input, ctx);
        assert_eq!(out, kept);
        time
    });
    let deferring = DeferringSource {
        texts: input.texts.clone(),
    };
    let deferred = chain_from(deferring, false);
    let mut chain_seconds = f64::INFINITY;
    let deferred_time = best_of(3, || {
        let start = Instant::now();
        let report = through_runner(rt, &deferred);
        let elapsed = start.elapsed();
        assert_eq!(report.rows_loaded as usize, kept);
        chain_seconds = chain_seconds.min(report.seconds["transform"]);
        elapsed
    });
    let workers = std::thread::available_parallelism().map_or(2, usize::from);
    let streaming_time = best_of(3, || {
        let (out, time) = streaming(chain, &input, ctx);
        assert_eq!(out, kept);
        time
    });
    let direct_rate = rows_per_sec(n, direct_time);
    let streaming_rate = rows_per_sec(n, streaming_time);
    let runner_rate = rows_per_sec(n, runner_time);
    let in_load_rate = rows_per_sec(n, in_load_time);
    let threads_rate = rows_per_sec(n, threads_time);
    let own_rows_rate = rows_per_sec(n, own_rows_time);
    let deferred_rate = rows_per_sec(n, deferred_time);
    // The chain's time summed over the workers: on `workers` cores at once, the chain alone
    // would take a `workers`th of it.
    let deferred_chain_rate = n as f64 * workers as f64 / chain_seconds;
    println!();
    println!("transform chain on {n} orders ({kept} kept), best of 3:");
    println!("whole list (every row built first, then the chain; as the Python original):");
    println!("  rust, one thread, direct      {direct_rate:>12.0} rows/s");
    println!(
        "  rust, runner (parallel batches) {runner_rate:>12.0} rows/s ({runner_cpu:.2} cores busy, last run)"
    );
    println!(
        "  rust, runner, rows dropped in load {in_load_rate:>9.0} rows/s ({in_load_cpu:.2} cores busy; \
         not prepared on the workers)"
    );
    println!(
        "  rust, two plain threads       {threads_rate:>12.0} rows/s (the runner's work without the \
         runner: the runner reaches {:.0}% of it)",
        100.0 * runner_rate / threads_rate
    );
    println!(
        "  rust, two plain threads, each on rows it parsed {own_rows_rate:>6.0} rows/s (as the runner's \
         workers see the rows of a source that defers its parsing, as the file source does)"
    );
    let py = python(n);
    if let Some(py) = &py {
        println!(
            "  python 3, list of dicts       {:>12.0} rows/s ({} kept; chain alone {:.0} rows/s)",
            py.rows_per_sec, py.kept, py.chain_only_rows_per_sec
        );
        println!(
            "  ratio rust/python: direct {:.1}x, runner {:.1}x (rows dropped in load {:.1}x); \
             against the chain alone: direct {:.1}x, runner {:.1}x \
             (target >= 30x; >= 1,000,000 rows/s); two threads on their own rows {:.1}x, \
             against the chain alone {:.1}x",
            direct_rate / py.rows_per_sec,
            runner_rate / py.rows_per_sec,
            in_load_rate / py.rows_per_sec,
            direct_rate / py.chain_only_rows_per_sec,
            runner_rate / py.chain_only_rows_per_sec,
            own_rows_rate / py.rows_per_sec,
            own_rows_rate / py.chain_only_rows_per_sec
        );
        assert_eq!(py.kept as usize, kept, "python and rust keep the same rows");
    }
    println!("streaming (batches of {BATCH} parsed just before the chain runs on them, untimed):");
    println!("  rust, one thread, direct      {streaming_rate:>12.0} rows/s");
    println!(
        "  rust, runner, the source's batches parsed on the workers (as the file source's): \
         {deferred_rate:.0} rows/s parsing included; the chain alone {deferred_chain_rate:.0} rows/s \
         ({chain_seconds:.3} s of chain time on {workers} workers)"
    );
    match &py {
        Some(py) => {
            println!(
                "  python 3, dicts per batch     {:>12.0} rows/s (chain alone {:.0} rows/s)",
                py.streaming_rows_per_sec, py.chain_only_streaming_rows_per_sec
            );
            println!(
                "  ratio rust/python: direct {:.1}x; against the chain alone {:.1}x",
                streaming_rate / py.streaming_rows_per_sec,
                streaming_rate / py.chain_only_streaming_rows_per_sec
            );
            println!(
                "  ratio rust/python, the chain alone on the workers: {:.1}x python's streaming \
                 chain, {:.1}x its whole-list chain",
                deferred_chain_rate / py.chain_only_streaming_rows_per_sec,
                deferred_chain_rate / py.chain_only_rows_per_sec
            );
        }
        None => println!("  python 3: not available"),
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
