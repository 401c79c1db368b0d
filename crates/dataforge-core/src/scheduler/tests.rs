//! Scheduler tests on a `ManualClock`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use serde_json::json;
use tokio::sync::broadcast;

use super::*;
use crate::config::LoadedPipeline;
use crate::test_utils::{CollectingDestination, MemorySource};
use crate::{
    ManualClock, MemoryStateStore, Pipeline, PipelineConfig, Record, Registry, RunOptions,
    RunQuery, RunState, RunTrigger, StateStore, record,
};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
        .single()
        .expect("valid date")
}

fn rows(n: i64) -> Vec<Record> {
    (0..n).map(|i| record! {"id" => i}).collect()
}

/// A pipeline `id` on `schedule` from `t0()`, loading `n` rows (batch 1) into `dest`.
fn loaded(
    id: &str,
    schedule: &str,
    extra: serde_json::Value,
    n: i64,
    dest: &CollectingDestination,
) -> LoadedPipeline {
    let mut config = json!({
        "dag_id": id,
        "schedule_interval": schedule,
        "start_date": "2026-01-01T00:00:00Z",
        "source": {"type": "memory"},
        "destination": {"type": "collecting"},
    });
    if let (Some(c), Some(e)) = (config.as_object_mut(), extra.as_object()) {
        c.extend(e.clone());
    }
    let config = PipelineConfig::from_json(config)
        .expect("valid config")
        .config;
    let pipeline = Pipeline::builder(id)
        .source(MemorySource::new(rows(n)))
        .destination(dest.clone())
        .batch_size(1)
        .build()
        .expect("valid pipeline");
    LoadedPipeline {
        path: PathBuf::from(format!("{id}.json")),
        config,
        pipeline,
    }
}

async fn start(
    pipelines: Vec<LoadedPipeline>,
    clock: &ManualClock,
    store: &Arc<MemoryStateStore>,
) -> SchedulerHandle {
    Scheduler::new(pipelines, Arc::new(Registry::new()), store.clone())
        .clock(Arc::new(clock.clone()))
        .run_options(RunOptions::in_memory())
        .start()
        .await
        .expect("starts")
}

/// The next event, within 10 s.
async fn next(rx: &mut broadcast::Receiver<RunEvent>) -> RunEvent {
    tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("an event within 10 s")
        .expect("the channel is open")
}

/// The next `n` ended runs (skipping `Started`).
async fn ended(rx: &mut broadcast::Receiver<RunEvent>, n: usize) -> Vec<RunEvent> {
    let mut out = Vec::new();
    while out.len() < n {
        let e = next(rx).await;
        if !matches!(e, RunEvent::Started { .. }) {
            out.push(e);
        }
    }
    out
}

fn minutes(m: i64) -> DateTime<Utc> {
    t0() + TimeDelta::minutes(m)
}

#[tokio::test]
async fn two_schedules_fire_at_their_due_times_in_order() {
    let clock = ManualClock::new(t0());
    let store = Arc::new(MemoryStateStore::default());
    let (da, db) = (CollectingDestination::new(), CollectingDestination::new());
    let handle = start(
        vec![
            loaded("a", "*/2 * * * *", json!({}), 2, &da),
            loaded("b", "*/3 * * * *", json!({}), 3, &db),
        ],
        &clock,
        &store,
    )
    .await;
    let mut rx = handle.subscribe();
    let mut seen = Vec::new();
    for (minute, due_now) in [(1, 0), (2, 1), (3, 1), (4, 1), (5, 0), (6, 2)] {
        clock.set(minutes(minute));
        for e in ended(&mut rx, due_now).await {
            assert!(matches!(e, RunEvent::Succeeded { .. }), "{e:?}");
            seen.push((e.pipeline_id().to_owned(), e.interval().due()));
        }
    }
    assert_eq!(
        seen,
        vec![
            ("a".to_owned(), minutes(2)),
            ("b".to_owned(), minutes(3)),
            ("a".to_owned(), minutes(4)),
            ("a".to_owned(), minutes(6)),
            ("b".to_owned(), minutes(6)),
        ]
    );
    handle.stop(Duration::from_secs(5)).await;
    assert_eq!(da.rows().len(), 3 * 2);
    assert_eq!(db.rows().len(), 2 * 3);
    let runs = store.runs(&RunQuery::pipeline("a")).await.expect("runs");
    assert_eq!(runs.len(), 3);
    assert!(runs.iter().all(|r| r.trigger == RunTrigger::Scheduled
        && r.status == RunState::Success
        && r.data_interval_end - r.data_interval_start == TimeDelta::minutes(2)));
}

#[tokio::test]
async fn catchup_runs_missed_intervals_oldest_first_and_a_restart_resumes() {
    let clock = ManualClock::new(t0() + TimeDelta::minutes(5 * 60 + 30));
    let store = Arc::new(MemoryStateStore::default());
    let dest = CollectingDestination::new();
    let pipeline = || loaded("hourly", "@hourly", json!({"catchup": true}), 1, &dest);
    let handle = start(vec![pipeline()], &clock, &store).await;
    let mut rx = handle.subscribe();
    let starts: Vec<_> = ended(&mut rx, 5)
        .await
        .iter()
        .map(|e| e.interval().start)
        .collect();
    let hours: Vec<_> = (0..5).map(|h| t0() + TimeDelta::hours(h)).collect();
    assert_eq!(starts, hours);
    handle.stop(Duration::from_secs(5)).await;

    // A restart an hour later recovers the last interval from the history: one new run.
    clock.advance(TimeDelta::hours(1));
    let handle = start(vec![pipeline()], &clock, &store).await;
    let mut rx = handle.subscribe();
    let e = ended(&mut rx, 1).await.remove(0);
    assert_eq!(e.interval().start, t0() + TimeDelta::hours(5));
    handle.stop(Duration::from_secs(5)).await;
    assert_eq!(
        store
            .runs(&RunQuery::pipeline("hourly"))
            .await
            .expect("runs")
            .len(),
        6
    );
}

#[tokio::test]
async fn catchup_off_runs_only_the_latest_missed_interval() {
    let clock = ManualClock::new(t0() + TimeDelta::minutes(5 * 60 + 30));
    let store = Arc::new(MemoryStateStore::default());
    let dest = CollectingDestination::new();
    let handle = start(
        vec![loaded("hourly", "@hourly", json!({}), 1, &dest)],
        &clock,
        &store,
    )
    .await;
    let mut rx = handle.subscribe();
    let e = ended(&mut rx, 1).await.remove(0);
    assert_eq!(e.interval().start, t0() + TimeDelta::hours(4));
    handle.stop(Duration::from_secs(5)).await;
    assert_eq!(store.runs(&RunQuery::all()).await.expect("runs").len(), 1);
}

#[tokio::test]
async fn max_active_runs_one_holds_the_next_run_until_the_first_ends() {
    let clock = ManualClock::new(minutes(3));
    let store = Arc::new(MemoryStateStore::default());
    let dest = CollectingDestination::new().with_delay_per_batch(Duration::from_millis(50));
    let handle = start(
        vec![loaded(
            "slow",
            "* * * * *",
            json!({"catchup": true}),
            4,
            &dest,
        )],
        &clock,
        &store,
    )
    .await;
    let mut rx = handle.subscribe();
    let mut events = Vec::new();
    for _ in 0..6 {
        events.push(next(&mut rx).await);
    }
    let kinds: Vec<bool> = events
        .iter()
        .map(|e| matches!(e, RunEvent::Started { .. }))
        .collect();
    assert_eq!(kinds, [true, false, true, false, true, false], "{events:?}");
    let starts: Vec<_> = events
        .iter()
        .step_by(2)
        .map(|e| e.interval().start)
        .collect();
    assert_eq!(starts, [minutes(0), minutes(1), minutes(2)]);
    handle.stop(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn stop_lets_a_short_run_finish_and_cancels_a_long_one() {
    let clock = ManualClock::new(minutes(1));
    let store = Arc::new(MemoryStateStore::default());
    let short = CollectingDestination::new().with_delay_per_batch(Duration::from_millis(100));
    let long = CollectingDestination::new().with_delay_per_batch(Duration::from_millis(200));
    let handle = start(
        vec![
            loaded("short", "* * * * *", json!({}), 3, &short),
            loaded("long", "* * * * *", json!({}), 100, &long),
        ],
        &clock,
        &store,
    )
    .await;
    let mut rx = handle.subscribe();
    for _ in 0..2 {
        assert!(matches!(next(&mut rx).await, RunEvent::Started { .. }));
    }
    let began = std::time::Instant::now();
    handle.stop(Duration::from_secs(1)).await;
    assert!(
        began.elapsed() < Duration::from_secs(5),
        "{:?}",
        began.elapsed()
    );
    let mut outcomes = Vec::new();
    while let Ok(e) = rx.try_recv() {
        outcomes.push(e);
    }
    assert!(
        outcomes.iter().any(
            |e| matches!(e, RunEvent::Succeeded { pipeline_id, .. } if pipeline_id == "short")
        ),
        "{outcomes:?}"
    );
    assert!(
        outcomes.iter().any(|e| matches!(e, RunEvent::Failed { pipeline_id, state: RunState::Cancelled, .. } if pipeline_id == "long")),
        "{outcomes:?}"
    );
    assert_eq!(short.rows().len(), 3);
    assert!(long.rows().is_empty());
    let state = |id: &'static str| {
        let store = store.clone();
        async move { store.runs(&RunQuery::pipeline(id)).await.expect("runs")[0].status }
    };
    assert_eq!(state("short").await, RunState::Success);
    assert_eq!(state("long").await, RunState::Cancelled);
}

#[tokio::test]
async fn replaced_pipelines_keep_their_last_interval_and_new_ones_start() {
    let clock = ManualClock::new(minutes(1));
    let store = Arc::new(MemoryStateStore::default());
    let dest = CollectingDestination::new();
    let handle = start(
        vec![loaded("a", "* * * * *", json!({}), 1, &dest)],
        &clock,
        &store,
    )
    .await;
    let mut rx = handle.subscribe();
    assert_eq!(ended(&mut rx, 1).await[0].interval().start, minutes(0));
    handle
        .replace_pipelines(vec![
            loaded("a", "* * * * *", json!({}), 1, &dest),
            loaded("b", "*/2 * * * *", json!({}), 1, &dest),
        ])
        .expect("running");
    clock.set(minutes(2));
    let mut got: Vec<_> = ended(&mut rx, 2)
        .await
        .iter()
        .map(|e| (e.pipeline_id().to_owned(), e.interval().start))
        .collect();
    got.sort();
    assert_eq!(
        got,
        [("a".to_owned(), minutes(1)), ("b".to_owned(), minutes(0))]
    );
    handle.stop(Duration::from_secs(5)).await;
    assert_eq!(
        store
            .runs(&RunQuery::pipeline("a"))
            .await
            .expect("runs")
            .len(),
        2
    );
}
