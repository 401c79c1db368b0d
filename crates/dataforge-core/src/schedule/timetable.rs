//! `Timetable`: Airflow's data-interval schedule (`CronDataIntervalTimetable`, `@once`, manual)
//! for one pipeline, as pure functions of the last interval and the time.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::zoned_cron::ZonedCron;
use super::{DataInterval, ScheduleError};
use crate::config::{PipelineConfig, Schedule};

/// What kind of schedule a pipeline has.
#[derive(Clone, Debug)]
enum Kind {
    /// `schedule_interval: null`: runs only when triggered.
    Manual,
    /// `@once`.
    Once,
    /// A preset or a cron expression.
    Cron(Box<ZonedCron>),
}

/// When a pipeline's runs are due and which data interval each covers, with Airflow's meaning.
///
/// A cron schedule cuts time into intervals between consecutive ticks (evaluated in the
/// pipeline's time zone); the run for `[start, end)` has logical date `start` and is due at
/// `end`. See [`Timetable::next_run`].
///
/// ```
/// use dataforge_core::chrono::{TimeZone, Utc};
/// use dataforge_core::chrono_tz::Tz;
/// use dataforge_core::{DataInterval, Timetable};
///
/// let daily = "@daily".parse()?;
/// let start = Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap();
/// let tt = Timetable::new(Some(&daily), Some(start), None, true, Tz::UTC)?;
/// let now = Utc.with_ymd_and_hms(2025, 1, 3, 12, 0, 0).unwrap();
/// let first = tt.next_run(None, now).unwrap();
/// assert_eq!(first, DataInterval::new(start, Utc.with_ymd_and_hms(2025, 1, 2, 0, 0, 0).unwrap()));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct Timetable {
    kind: Kind,
    start_date: Option<DateTime<Utc>>,
    end_date: Option<DateTime<Utc>>,
    catchup: bool,
    timezone: Tz,
}

impl Timetable {
    /// A timetable for `schedule` (`None`: manual), bounded by `start_date` and `end_date`
    /// (logical dates, both inclusive), with or without `catchup`, read in `timezone`.
    ///
    /// # Errors
    /// A cron expression croner does not accept (the config has validated it already).
    pub fn new(
        schedule: Option<&Schedule>,
        start_date: Option<DateTime<Utc>>,
        end_date: Option<DateTime<Utc>>,
        catchup: bool,
        timezone: Tz,
    ) -> Result<Self, ScheduleError> {
        let kind = match schedule {
            None => Kind::Manual,
            Some(Schedule::Once) => Kind::Once,
            Some(Schedule::Cron { cron, .. }) => {
                Kind::Cron(Box::new(ZonedCron::new(cron, timezone)?))
            }
        };
        Ok(Self {
            kind,
            start_date,
            end_date,
            catchup,
            timezone,
        })
    }

    /// The timetable of a parsed pipeline file.
    ///
    /// # Errors
    /// As [`Timetable::new`].
    pub fn from_config(config: &PipelineConfig) -> Result<Self, ScheduleError> {
        Self::new(
            config.schedule_interval.as_ref(),
            config.start_date,
            config.end_date,
            config.catchup,
            config.timezone,
        )
    }

    /// The zone the schedule is evaluated in.
    pub fn timezone(&self) -> Tz {
        self.timezone
    }

    /// The next interval to schedule after `after` (the last scheduled one, `None` before the
    /// first), Airflow's `next_dagrun_info`; it is due at its `end`, which may be after `now`.
    ///
    /// - cron: the first interval starts at the first tick at or after `start_date`; the next
    ///   one starts where `after` ended (aligned to the schedule). With `catchup: false`, an
    ///   interval that would end before `now` is skipped for the latest one ending at or before
    ///   `now` (only the most recent missed interval runs); without `start_date` that is where
    ///   scheduling starts, while `catchup: true` without `start_date` schedules nothing.
    /// - no interval starts after `end_date` (one starting at it still runs).
    /// - `@once`: `[start_date, start_date]` once, whatever `catchup`; manual: never.
    pub fn next_run(
        &self,
        after: Option<DataInterval>,
        now: DateTime<Utc>,
    ) -> Option<DataInterval> {
        let interval = match &self.kind {
            Kind::Manual => None,
            Kind::Once => match (after, self.start_date) {
                (None, Some(at)) => Some(DataInterval::exact(at)),
                _ => None,
            },
            Kind::Cron(cron) => self.next_cron_run(cron, after, now),
        }?;
        match self.end_date {
            Some(end) if interval.start > end => None,
            _ => Some(interval),
        }
    }

    fn next_cron_run(
        &self,
        cron: &ZonedCron,
        after: Option<DataInterval>,
        now: DateTime<Utc>,
    ) -> Option<DataInterval> {
        let aligned_start = match self.start_date {
            Some(s) => Some(cron.align_next(s)?),
            None => None,
        };
        let earliest = if self.catchup {
            aligned_start
        } else {
            // The start of the latest interval that has ended by `now`.
            let latest = cron.prev(cron.align_prev(now)?)?;
            Some(aligned_start.map_or(latest, |s| s.max(latest)))
        };
        let start = match (after, earliest) {
            (None, None) => return None,
            (None, Some(e)) => e,
            (Some(last), e) => {
                let resume = cron.align_prev(last.end)?;
                e.map_or(resume, |e| e.max(resume))
            }
        };
        Some(DataInterval::new(start, cron.next(start)?))
    }

    /// The intervals whose logical dates (starts) lie in `[from, to]`, both inclusive, in
    /// order: a backfill (`start_date`, `end_date` and `catchup` do not apply, as in Airflow).
    /// `@once` gives `[from, from]` (Airflow's backfill of a once-only DAG); manual gives none.
    pub fn intervals_between(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<DataInterval> {
        let mut out = Vec::new();
        match &self.kind {
            Kind::Manual => {}
            Kind::Once => {
                if from <= to {
                    out.push(DataInterval::exact(from));
                }
            }
            Kind::Cron(cron) => {
                let mut start = cron.align_next(from);
                while let Some(s) = start.filter(|s| *s <= to) {
                    let Some(end) = cron.next(s) else { break };
                    out.push(DataInterval::new(s, end));
                    start = Some(end);
                }
            }
        }
        out
    }

    /// The interval of a run asked for with an explicit logical date (`run --logical-date`,
    /// `trigger --logical-date`): for a cron schedule and a date on a tick, `[d, next tick)`,
    /// the very interval the scheduler (and a backfill) gives that logical date; otherwise
    /// (a date between ticks, `@once`, manual) the empty interval `[d, d]`, as Airflow gives
    /// manual runs of once-only and unscheduled DAGs. The logical date is always `d`.
    pub fn interval_for_logical_date(&self, d: DateTime<Utc>) -> DataInterval {
        match &self.kind {
            Kind::Cron(cron) if cron.is_tick(d) => cron
                .next(d)
                .map_or_else(|| DataInterval::exact(d), |end| DataInterval::new(d, end)),
            _ => DataInterval::exact(d),
        }
    }

    /// The interval Airflow gives a run triggered at `run_after` without a logical date
    /// (`infer_manual_data_interval`): for a cron schedule, the last complete interval ending
    /// at or before `run_after` (triggered at 01:00 on the 25th, `@daily` covers the 24th);
    /// otherwise `[run_after, run_after]`.
    pub fn infer_manual_interval(&self, run_after: DateTime<Utc>) -> DataInterval {
        match &self.kind {
            Kind::Cron(cron) => cron
                .align_prev(run_after)
                .and_then(|end| Some(DataInterval::new(cron.prev(end)?, end)))
                .unwrap_or_else(|| DataInterval::exact(run_after)),
            _ => DataInterval::exact(run_after),
        }
    }
}
