//! The scheduler with 1,000 pipelines: its own CPU per due run and the delay between a run's
//! due time and its start (p50/p99).
//!
//! `cargo bench -p dataforge-benches --bench scheduler` (add `--profile dev` for a quick debug
//! build: numbers are then several times higher).
//! - ManualClock, `* * * * *`: the clock jumps minute by minute; CPU is the process's CPU time
//!   (`/proc/self/stat`) for the scheduled runs minus the CPU of the same runs started directly
//!   (`Pipeline::run`, same concurrency); the delay is from the clock jump to each `Started`.
//! - SystemClock, `* * * * * *` (every second: 1,000 due runs a second, sixty times the
//!   per-minute load): the delay is `Started` received − the interval's end.
#![allow(missing_docs, clippy::print_stdout)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dataforge_core::chrono::{TimeDelta, TimeZone, Utc};
use dataforge_core::config::LoadedPipeline;
use dataforge_core::test_utils::{CollectingDestination, MemorySource};
use dataforge_core::{
    ManualClock, MemoryStateStore, Pipeline, PipelineConfig, Registry, RunEvent, RunOptions,
    Scheduler, record,
};
use tokio::sync::broadcast::error::RecvError;

const PIPELINES: usize = 1_000;
const CONCURRENCY: usize = 64;

fn loaded(i: usize, schedule: &str, start: &str) -> LoadedPipeline {
    let id = format!("p{i:04}");
    let config = PipelineConfig::from_json(serde_json::json!({
        "dag_id": id,
        "schedule_interval": schedule,
        "start_date": start,
        "source": {"type": "memory"},
        "destination": {"type": "collecting"},
    }))
    .expect("valid config")
    .config;
    LoadedPipeline {
        path: PathBuf::from(format!("{id}.json")),
        config,
        pipeline: pipeline(&id),
    }
}

fn pipeline(id: &str) -> Pipeline {
    Pipeline::builder(id)
        .source(MemorySource::new(vec![record! {"id" => 1}]))
        .destination(CollectingDestination::new())
        .build()
        .expect("valid pipeline")
}

/// User + system CPU time of this process (Linux `/proc/self/stat`, clock ticks of 10 ms).
fn cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or_default();
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // Fields 14 and 15 of the file (utime, stime) are 12 and 13 after the `)`.
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn report(name: &str, mut delays: Vec<Duration>) {
    delays.sort();
    println!(
        "{name}: {} runs, due→start p50 {:?}, p99 {:?}, max {:?}",
        delays.len(),
        percentile(&delays, 0.5),
        percentile(&delays, 0.99),
        delays.last().copied().unwrap_or_default()
    );
}

async fn direct_runs(minutes: usize) -> Duration {
    let pipelines: Vec<Pipeline> = (0..PIPELINES)
        .map(|i| pipeline(&format!("p{i:04}")))
        .collect();
    let options = RunOptions::in_memory();
    let before = cpu();
    for _ in 0..minutes {
        let sem = Arc::new(tokio::sync::Semaphore::new(CONCURRENCY));
        let mut set = tokio::task::JoinSet::new();
        for p in &pipelines {
            let (p, o, sem) = (p.clone(), options.clone(), sem.clone());
            set.spawn(async move {
                let _permit = sem.acquire().await;
                p.run(&o).await
            });
        }
        while set.join_next().await.is_some() {}
    }
    cpu() - before
}

async fn manual_clock(minutes: usize) -> (Duration, Vec<Duration>) {
    let t0 = Utc
        .with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
        .single()
        .expect("valid date");
    let clock = ManualClock::new(t0);
    let pipelines = (0..PIPELINES)
        .map(|i| loaded(i, "* * * * *", "2026-01-01T00:00:00Z"))
        .collect();
    let handle = Scheduler::new(
        pipelines,
        Arc::new(Registry::new()),
        Arc::new(MemoryStateStore::default()),
    )
    .clock(Arc::new(clock.clone()))
    .concurrency(CONCURRENCY)
    .run_options(RunOptions::in_memory())
    .start()
    .await
    .expect("starts");
    let mut events = handle.subscribe();
    let mut delays = Vec::new();
    let before = cpu();
    for m in 1..=minutes {
        let jumped = Instant::now();
        clock.set(t0 + TimeDelta::minutes(m as i64));
        let mut ended = 0;
        while ended < PIPELINES {
            match events.recv().await {
                Ok(RunEvent::Started { .. }) => delays.push(jumped.elapsed()),
                Ok(_) => ended += 1,
                Err(RecvError::Lagged(n)) => println!("manual: the subscriber lagged by {n}"),
                Err(RecvError::Closed) => break,
            }
        }
    }
    let used = cpu() - before;
    handle.stop(Duration::from_secs(10)).await;
    (used, delays)
}

async fn system_clock(seconds: u64) -> Vec<Duration> {
    let pipelines = (0..PIPELINES)
        .map(|i| loaded(i, "* * * * * *", "2020-01-01T00:00:00Z"))
        .collect();
    let handle = Scheduler::new(
        pipelines,
        Arc::new(Registry::new()),
        Arc::new(MemoryStateStore::default()),
    )
    .concurrency(CONCURRENCY)
    .run_options(RunOptions::in_memory())
    .start()
    .await
    .expect("starts");
    let mut events = handle.subscribe();
    let mut delays = Vec::new();
    let until = Instant::now() + Duration::from_secs(seconds);
    // The first second's runs are the catchup of the start (catchup off: the latest interval).
    let skip_until = Utc::now() + TimeDelta::seconds(2);
    while Instant::now() < until {
        match tokio::time::timeout(Duration::from_secs(1), events.recv()).await {
            Ok(Ok(RunEvent::Started { interval, .. })) if interval.end >= skip_until => {
                let late = Utc::now() - interval.end;
                delays.push(late.to_std().unwrap_or_default());
            }
            Ok(Err(RecvError::Lagged(n))) => println!("system: the subscriber lagged by {n}"),
            _ => {}
        }
    }
    handle.stop(Duration::from_secs(10)).await;
    delays
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let minutes = 3;
        let direct = direct_runs(minutes).await;
        let (scheduled, delays) = manual_clock(minutes).await;
        let runs = (PIPELINES * minutes) as u32;
        println!(
            "manual clock, {PIPELINES} pipelines × {minutes} minutes, concurrency {CONCURRENCY}: \
             CPU {scheduled:?} scheduled vs {direct:?} direct; scheduler's own ≈ {:?} per due run",
            scheduled.saturating_sub(direct) / runs
        );
        report("manual clock", delays);
        report(
            &format!("system clock, {PIPELINES} pipelines every second"),
            system_clock(6).await,
        );
    });
}
