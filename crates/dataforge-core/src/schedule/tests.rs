//! Timetable and clock tests: exact instants for each preset, a cron expression, DST changes,
//! catchup, `end_date`, `@once`, manual schedules and backfill ranges.

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;

use super::*;
use crate::config::Schedule;

/// `2025-01-01 00:00:00 UTC` from `(y, m, d, h, min)`.
fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, min, 0)
        .single()
        .unwrap_or_else(|| panic!("invalid test date {y}-{m}-{d} {h}:{min}"))
}

fn iv(start: DateTime<Utc>, end: DateTime<Utc>) -> DataInterval {
    DataInterval::new(start, end)
}

fn timetable(
    schedule: Option<&str>,
    start: Option<DateTime<Utc>>,
    end: Option<DateTime<Utc>>,
    catchup: bool,
    tz: Tz,
) -> Timetable {
    let schedule: Option<Schedule> = schedule.map(|s| s.parse().expect("valid schedule"));
    Timetable::new(schedule.as_ref(), start, end, catchup, tz).expect("valid timetable")
}

/// The first `n` intervals from `start` with catchup, asking far in the future.
fn first_intervals(schedule: &str, start: DateTime<Utc>, tz: Tz, n: usize) -> Vec<DataInterval> {
    let tt = timetable(Some(schedule), Some(start), None, true, tz);
    let now = utc(2100, 1, 1, 0, 0);
    let mut out: Vec<DataInterval> = Vec::new();
    while out.len() < n {
        let next = tt.next_run(out.last().copied(), now).expect("an interval");
        out.push(next);
    }
    out
}

#[test]
fn each_preset_gives_consecutive_intervals_from_the_start_date() {
    let start = utc(2025, 1, 1, 0, 0);
    let cases: [(&str, Vec<DateTime<Utc>>); 6] = [
        (
            "@hourly",
            vec![
                start,
                utc(2025, 1, 1, 1, 0),
                utc(2025, 1, 1, 2, 0),
                utc(2025, 1, 1, 3, 0),
            ],
        ),
        (
            "@daily",
            vec![
                start,
                utc(2025, 1, 2, 0, 0),
                utc(2025, 1, 3, 0, 0),
                utc(2025, 1, 4, 0, 0),
            ],
        ),
        // 2025-01-01 is a Wednesday: weeks start on Sunday 5 January.
        (
            "@weekly",
            vec![
                utc(2025, 1, 5, 0, 0),
                utc(2025, 1, 12, 0, 0),
                utc(2025, 1, 19, 0, 0),
                utc(2025, 1, 26, 0, 0),
            ],
        ),
        (
            "@monthly",
            vec![
                start,
                utc(2025, 2, 1, 0, 0),
                utc(2025, 3, 1, 0, 0),
                utc(2025, 4, 1, 0, 0),
            ],
        ),
        (
            "@quarterly",
            vec![
                start,
                utc(2025, 4, 1, 0, 0),
                utc(2025, 7, 1, 0, 0),
                utc(2025, 10, 1, 0, 0),
            ],
        ),
        (
            "@yearly",
            vec![
                start,
                utc(2026, 1, 1, 0, 0),
                utc(2027, 1, 1, 0, 0),
                utc(2028, 1, 1, 0, 0),
            ],
        ),
    ];
    for (preset, ticks) in cases {
        let expected: Vec<DataInterval> = ticks.windows(2).map(|w| iv(w[0], w[1])).collect();
        assert_eq!(
            first_intervals(preset, start, Tz::UTC, 3),
            expected,
            "{preset}"
        );
    }
}

#[test]
fn a_cron_expression_on_weekdays_skips_the_weekend() {
    // Friday 3 January 2025 at midnight.
    let got = first_intervals("30 6 * * 1-5", utc(2025, 1, 3, 0, 0), Tz::UTC, 3);
    assert_eq!(
        got,
        vec![
            iv(utc(2025, 1, 3, 6, 30), utc(2025, 1, 6, 6, 30)),
            iv(utc(2025, 1, 6, 6, 30), utc(2025, 1, 7, 6, 30)),
            iv(utc(2025, 1, 7, 6, 30), utc(2025, 1, 8, 6, 30)),
        ]
    );
    assert_eq!(got[0].logical_date(), utc(2025, 1, 3, 6, 30));
    assert_eq!(got[0].due(), utc(2025, 1, 6, 6, 30));
}

#[test]
fn a_start_date_between_ticks_starts_at_the_next_tick() {
    let got = first_intervals("@daily", utc(2025, 1, 1, 6, 0), Tz::UTC, 1);
    assert_eq!(got, vec![iv(utc(2025, 1, 2, 0, 0), utc(2025, 1, 3, 0, 0))]);
}

#[test]
fn daily_in_berlin_has_a_23_hour_and_a_25_hour_day() {
    let berlin = Tz::Europe__Berlin;
    // Midnight CET is 23:00 UTC the day before; midnight CEST is 22:00 UTC.
    let spring = first_intervals("@daily", utc(2025, 3, 28, 23, 0), berlin, 3);
    assert_eq!(
        spring,
        vec![
            iv(utc(2025, 3, 28, 23, 0), utc(2025, 3, 29, 23, 0)),
            iv(utc(2025, 3, 29, 23, 0), utc(2025, 3, 30, 22, 0)),
            iv(utc(2025, 3, 30, 22, 0), utc(2025, 3, 31, 22, 0)),
        ]
    );
    assert_eq!(spring[1].end - spring[1].start, TimeDelta::hours(23));
    let autumn = first_intervals("@daily", utc(2025, 10, 24, 22, 0), berlin, 3);
    assert_eq!(
        autumn,
        vec![
            iv(utc(2025, 10, 24, 22, 0), utc(2025, 10, 25, 22, 0)),
            iv(utc(2025, 10, 25, 22, 0), utc(2025, 10, 26, 23, 0)),
            iv(utc(2025, 10, 26, 23, 0), utc(2025, 10, 27, 23, 0)),
        ]
    );
    assert_eq!(autumn[1].end - autumn[1].start, TimeDelta::hours(25));
}

#[test]
fn a_fixed_time_in_the_spring_gap_runs_when_the_gap_ends_and_once_in_the_autumn_overlap() {
    let berlin = Tz::Europe__Berlin;
    // 02:30 CET on 29 March is 01:30 UTC. 02:30 does not exist on 30 March (02:00 CET jumps
    // to 03:00 CEST): the tick is 03:00 CEST, 01:00 UTC. On 31 March 02:30 CEST is 00:30 UTC.
    assert_eq!(
        first_intervals("30 2 * * *", utc(2025, 3, 29, 1, 30), berlin, 2),
        vec![
            iv(utc(2025, 3, 29, 1, 30), utc(2025, 3, 30, 1, 0)),
            iv(utc(2025, 3, 30, 1, 0), utc(2025, 3, 31, 0, 30)),
        ]
    );
    // 02:30 happens twice on 26 October: the tick is the first (CEST, 00:30 UTC) only.
    assert_eq!(
        first_intervals("30 2 * * *", utc(2025, 10, 25, 0, 30), berlin, 2),
        vec![
            iv(utc(2025, 10, 25, 0, 30), utc(2025, 10, 26, 0, 30)),
            iv(utc(2025, 10, 26, 0, 30), utc(2025, 10, 27, 1, 30)),
        ]
    );
}

#[test]
fn hourly_in_berlin_runs_every_real_hour_across_both_changes() {
    let berlin = Tz::Europe__Berlin;
    // 01:00 CET, then 03:00 CEST: the 02:00 wall-clock hour does not exist.
    assert_eq!(
        first_intervals("@hourly", utc(2025, 3, 30, 0, 0), berlin, 2),
        vec![
            iv(utc(2025, 3, 30, 0, 0), utc(2025, 3, 30, 1, 0)),
            iv(utc(2025, 3, 30, 1, 0), utc(2025, 3, 30, 2, 0)),
        ]
    );
    // 02:00 CEST (00:00 UTC), 02:00 CET (01:00 UTC), 03:00 CET (02:00 UTC).
    assert_eq!(
        first_intervals("@hourly", utc(2025, 10, 26, 0, 0), berlin, 2),
        vec![
            iv(utc(2025, 10, 26, 0, 0), utc(2025, 10, 26, 1, 0)),
            iv(utc(2025, 10, 26, 1, 0), utc(2025, 10, 26, 2, 0)),
        ]
    );
    // From inside the repeated hour, backward and forward.
    let tt = timetable(
        Some("*/30 * * * *"),
        Some(utc(2025, 10, 26, 0, 0)),
        None,
        true,
        berlin,
    );
    let got = tt.intervals_between(utc(2025, 10, 25, 23, 45), utc(2025, 10, 26, 2, 0));
    let starts: Vec<_> = got.iter().map(|i| i.start).collect();
    assert_eq!(
        starts,
        vec![
            utc(2025, 10, 26, 0, 0),
            utc(2025, 10, 26, 0, 30),
            utc(2025, 10, 26, 1, 0),
            utc(2025, 10, 26, 1, 30),
            utc(2025, 10, 26, 2, 0),
        ]
    );
    assert_eq!(
        tt.infer_manual_interval(utc(2025, 10, 26, 1, 10)),
        iv(utc(2025, 10, 26, 0, 30), utc(2025, 10, 26, 1, 0))
    );
}

#[test]
fn catchup_runs_every_missed_interval_oldest_first() {
    let tt = timetable(
        Some("@daily"),
        Some(utc(2025, 1, 1, 0, 0)),
        None,
        true,
        Tz::UTC,
    );
    let now = utc(2025, 1, 4, 12, 0);
    let mut due = Vec::new();
    let mut last = None;
    while let Some(next) = tt.next_run(last, now) {
        if next.due() > now {
            // The next one is in the future: the scheduler waits for it.
            assert_eq!(next, iv(utc(2025, 1, 4, 0, 0), utc(2025, 1, 5, 0, 0)));
            break;
        }
        due.push(next);
        last = Some(next);
    }
    assert_eq!(
        due,
        vec![
            iv(utc(2025, 1, 1, 0, 0), utc(2025, 1, 2, 0, 0)),
            iv(utc(2025, 1, 2, 0, 0), utc(2025, 1, 3, 0, 0)),
            iv(utc(2025, 1, 3, 0, 0), utc(2025, 1, 4, 0, 0)),
        ]
    );
}

#[test]
fn without_catchup_only_the_latest_missed_interval_runs() {
    let tt = timetable(
        Some("@daily"),
        Some(utc(2025, 1, 1, 0, 0)),
        None,
        false,
        Tz::UTC,
    );
    let now = utc(2025, 1, 4, 12, 0);
    let latest = iv(utc(2025, 1, 3, 0, 0), utc(2025, 1, 4, 0, 0));
    assert_eq!(tt.next_run(None, now), Some(latest));
    // After downtime, from a stale last run: the latest again, not the ones in between.
    let stale = iv(utc(2025, 1, 1, 0, 0), utc(2025, 1, 2, 0, 0));
    assert_eq!(tt.next_run(Some(stale), now), Some(latest));
    // Once it has run, the next is the current interval, due at its end.
    assert_eq!(
        tt.next_run(Some(latest), now),
        Some(iv(utc(2025, 1, 4, 0, 0), utc(2025, 1, 5, 0, 0)))
    );
    // On a tick: the interval that ends now.
    assert_eq!(tt.next_run(None, utc(2025, 1, 4, 0, 0)), Some(latest));
    // A start date in the future wins.
    let later = timetable(
        Some("@daily"),
        Some(utc(2025, 2, 1, 0, 0)),
        None,
        false,
        Tz::UTC,
    );
    assert_eq!(
        later.next_run(None, now),
        Some(iv(utc(2025, 2, 1, 0, 0), utc(2025, 2, 2, 0, 0)))
    );
}

#[test]
fn no_interval_starts_after_the_end_date() {
    let tt = timetable(
        Some("@daily"),
        Some(utc(2025, 1, 1, 0, 0)),
        Some(utc(2025, 1, 3, 0, 0)),
        true,
        Tz::UTC,
    );
    let now = utc(2025, 2, 1, 0, 0);
    let mut got = Vec::new();
    let mut last = None;
    while let Some(next) = tt.next_run(last, now) {
        got.push(next);
        last = Some(next);
    }
    let starts: Vec<_> = got.iter().map(|i| i.start).collect();
    assert_eq!(
        starts,
        vec![
            utc(2025, 1, 1, 0, 0),
            utc(2025, 1, 2, 0, 0),
            utc(2025, 1, 3, 0, 0)
        ]
    );
}

#[test]
fn once_runs_at_the_start_date_and_never_again() {
    let start = utc(2025, 1, 1, 6, 0);
    for catchup in [true, false] {
        let tt = timetable(Some("@once"), Some(start), None, catchup, Tz::UTC);
        let first = tt.next_run(None, utc(2025, 6, 1, 0, 0));
        assert_eq!(first, Some(DataInterval::exact(start)));
        assert_eq!(first.map(|i| i.due()), Some(start));
        assert_eq!(tt.next_run(first, utc(2025, 6, 1, 0, 0)), None);
    }
    let no_start = timetable(Some("@once"), None, None, false, Tz::UTC);
    assert_eq!(no_start.next_run(None, start), None);
}

#[test]
fn a_manual_pipeline_is_never_scheduled() {
    let tt = timetable(None, Some(utc(2025, 1, 1, 0, 0)), None, true, Tz::UTC);
    assert_eq!(tt.next_run(None, utc(2026, 1, 1, 0, 0)), None);
    assert!(
        tt.intervals_between(utc(2025, 1, 1, 0, 0), utc(2025, 2, 1, 0, 0))
            .is_empty()
    );
    let d = utc(2025, 1, 5, 0, 0);
    assert_eq!(tt.interval_for_logical_date(d), DataInterval::exact(d));
    assert_eq!(tt.infer_manual_interval(d), DataInterval::exact(d));
}

#[test]
fn intervals_between_includes_both_logical_dates() {
    let tt = timetable(
        Some("@daily"),
        Some(utc(2025, 1, 1, 0, 0)),
        None,
        false,
        Tz::UTC,
    );
    let got = tt.intervals_between(utc(2025, 1, 1, 0, 0), utc(2025, 1, 30, 0, 0));
    assert_eq!(got.len(), 30);
    for (day, interval) in (1..=30).zip(&got) {
        assert_eq!(interval.start, utc(2025, 1, day, 0, 0));
        assert_eq!(interval.end, interval.start + TimeDelta::days(1));
    }
    assert_eq!(got[29], iv(utc(2025, 1, 30, 0, 0), utc(2025, 1, 31, 0, 0)));
    // Unaligned bounds: the first tick at or after `from`, the last at or before `to`.
    let got = tt.intervals_between(utc(2025, 1, 1, 12, 0), utc(2025, 1, 3, 12, 0));
    let starts: Vec<_> = got.iter().map(|i| i.start).collect();
    assert_eq!(starts, vec![utc(2025, 1, 2, 0, 0), utc(2025, 1, 3, 0, 0)]);
    assert!(
        tt.intervals_between(utc(2025, 1, 3, 0, 0), utc(2025, 1, 2, 0, 0))
            .is_empty()
    );
}

#[test]
fn a_logical_date_on_a_tick_gets_its_scheduled_interval() {
    let tt = timetable(
        Some("@daily"),
        Some(utc(2025, 1, 1, 0, 0)),
        None,
        false,
        Tz::UTC,
    );
    assert_eq!(
        tt.interval_for_logical_date(utc(2025, 1, 5, 0, 0)),
        iv(utc(2025, 1, 5, 0, 0), utc(2025, 1, 6, 0, 0))
    );
    let between = utc(2025, 1, 5, 12, 0);
    assert_eq!(
        tt.interval_for_logical_date(between),
        DataInterval::exact(between)
    );
    // Triggered at 01:00 on the 25th without a logical date: Airflow's interval is the 24th.
    assert_eq!(
        tt.infer_manual_interval(utc(2025, 1, 25, 1, 0)),
        iv(utc(2025, 1, 24, 0, 0), utc(2025, 1, 25, 0, 0))
    );
    let once = timetable(
        Some("@once"),
        Some(utc(2025, 1, 1, 0, 0)),
        None,
        false,
        Tz::UTC,
    );
    assert_eq!(
        once.interval_for_logical_date(between),
        DataInterval::exact(between)
    );
}

#[test]
fn a_timetable_comes_from_a_pipeline_file() {
    let parsed = crate::PipelineConfig::from_json(serde_json::json!({
        "dag_id": "a", "schedule_interval": "@daily", "start_date": "2025-03-29",
        "timezone": "Europe/Berlin", "catchup": true,
        "source": {"type": "mem"}, "destination": {"type": "collect"}
    }))
    .expect("valid");
    let tt = Timetable::from_config(&parsed.config).expect("timetable");
    assert_eq!(tt.timezone(), Tz::Europe__Berlin);
    assert_eq!(
        tt.next_run(None, utc(2025, 4, 1, 0, 0)),
        Some(iv(utc(2025, 3, 28, 23, 0), utc(2025, 3, 29, 23, 0)))
    );
}

#[test]
fn a_local_time_in_a_gap_reads_as_the_end_of_the_gap() {
    let naive = chrono::NaiveDate::from_ymd_opt(2025, 3, 30)
        .and_then(|d| d.and_hms_opt(2, 30, 0))
        .expect("valid");
    assert_eq!(
        local_to_utc(naive, Tz::Europe__Berlin),
        utc(2025, 3, 30, 1, 0)
    );
    assert_eq!(
        next_offset_change(
            Tz::Europe__Berlin,
            utc(2025, 3, 1, 0, 0),
            utc(2025, 4, 1, 0, 0)
        ),
        Some(utc(2025, 3, 30, 1, 0))
    );
    assert_eq!(
        next_offset_change(Tz::UTC, utc(2025, 3, 1, 0, 0), utc(2025, 4, 1, 0, 0)),
        None
    );
}

#[tokio::test]
async fn manual_clock_wakes_a_sleeper_when_advanced_and_not_before() {
    let clock = ManualClock::new(utc(2025, 1, 1, 0, 0));
    let wake = utc(2025, 1, 1, 1, 0);
    let sleeper = {
        let clock = clock.clone();
        tokio::spawn(async move { clock.sleep_until(wake).await })
    };
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    assert!(!sleeper.is_finished(), "asleep before any change");
    clock.advance(TimeDelta::minutes(59));
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    assert!(!sleeper.is_finished(), "asleep a minute before its time");
    assert_eq!(clock.now(), utc(2025, 1, 1, 0, 59));
    clock.advance(TimeDelta::minutes(1));
    tokio::time::timeout(std::time::Duration::from_secs(5), sleeper)
        .await
        .expect("woke within 5 s")
        .expect("sleeper did not panic");
    // A time already past returns at once; `set` moves the time anywhere.
    clock.sleep_until(utc(2024, 1, 1, 0, 0)).await;
    clock.set(utc(2030, 1, 1, 0, 0));
    assert_eq!(clock.now(), utc(2030, 1, 1, 0, 0));
}

#[tokio::test]
async fn manual_clock_set_wakes_every_sleeper_whose_time_passed() {
    let clock = ManualClock::new(utc(2025, 1, 1, 0, 0));
    let spawn = |t| {
        let clock = clock.clone();
        tokio::spawn(async move { clock.sleep_until(t).await })
    };
    let early = spawn(utc(2025, 1, 2, 0, 0));
    let late = spawn(utc(2025, 1, 3, 0, 0));
    tokio::task::yield_now().await;
    clock.set(utc(2025, 1, 2, 12, 0));
    tokio::time::timeout(std::time::Duration::from_secs(5), early)
        .await
        .expect("early woke")
        .expect("no panic");
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    assert!(!late.is_finished());
    late.abort();
}

#[tokio::test]
async fn system_clock_returns_at_once_for_a_past_time() {
    let clock = SystemClock;
    let before = clock.now();
    tokio::time::timeout(
        std::time::Duration::from_secs(5),
        clock.sleep_until(before - TimeDelta::hours(1)),
    )
    .await
    .expect("no wait for a past time");
    clock
        .sleep_until(Utc::now() + TimeDelta::milliseconds(20))
        .await;
    assert!(clock.now() >= before + TimeDelta::milliseconds(20));
}
