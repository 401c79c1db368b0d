//! A cron expression evaluated on wall-clock time in an IANA zone, returning UTC instants.
//!
//! croner finds the matching wall-clock times (it is run on naive times, so its own DST rules
//! do not apply); this file maps them to instants span by span, a span being a stretch with
//! one UTC offset. The DST rules are croner's (its README, "DST handling"):
//! - a *fixed-time* job (one second, one minute, one hour: `30 2 * * *`, `@daily`) whose time
//!   falls in a spring-forward gap runs at the first instant after the gap (03:00 local in
//!   Europe/Berlin), and in a fall-back overlap runs once, at the first occurrence;
//! - an *interval* job (a wildcard, step or list in those fields: `@hourly`, `*/15 * * * *`)
//!   skips the times in a gap and runs at every instant whose wall-clock time matches in an
//!   overlap, so `@hourly` runs every real hour across both changes.
//!
//! croner's own tz-aware search is not used: from inside an overlap it can return an instant
//! before the start, and a stateless `next` cannot rely on its iterator's memory.

use std::str::FromStr;

use chrono::{DateTime, NaiveDateTime, TimeDelta, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use croner::{Cron, JobType};

use super::ScheduleError;
use super::zone::{next_offset_change, offset_at, wall_clock};

/// Spans (DST changes) or skipped overlap times examined before giving up on one search.
const MAX_STEPS: usize = 1000;

/// A cron expression and the zone it is read in.
#[derive(Clone, Debug)]
pub(crate) struct ZonedCron {
    cron: Cron,
    tz: Tz,
    fixed: bool,
}

impl ZonedCron {
    /// Parses `expression` (5 or 6 fields, as the config accepts).
    pub(crate) fn new(expression: &str, tz: Tz) -> Result<Self, ScheduleError> {
        let cron = Cron::from_str(expression).map_err(|e| ScheduleError::InvalidCron {
            expression: expression.to_owned(),
            reason: e.to_string(),
        })?;
        let fixed = cron.determine_job_type() == JobType::FixedTime;
        Ok(Self { cron, tz, fixed })
    }

    /// The next wall-clock match after (or, when `inclusive`, at) `naive`.
    fn naive_next(&self, naive: NaiveDateTime, inclusive: bool) -> Option<NaiveDateTime> {
        self.cron
            .find_next_occurrence(&naive.and_utc(), inclusive)
            .ok()
            .map(|t| t.naive_utc())
    }

    /// The last wall-clock match before `naive`.
    fn naive_prev(&self, naive: NaiveDateTime) -> Option<NaiveDateTime> {
        self.cron
            .find_previous_occurrence(&naive.and_utc(), false)
            .ok()
            .map(|t| t.naive_utc())
    }

    /// Whether `u`, whose wall-clock time is `naive`, is the second occurrence of that time.
    fn is_second_occurrence(&self, naive: NaiveDateTime, u: DateTime<Utc>) -> bool {
        matches!(
            self.tz.from_local_datetime(&naive),
            chrono::LocalResult::Ambiguous(_, later) if later.with_timezone(&Utc) == u
        )
    }

    /// The first tick strictly after `t`; `None` when there is none (before the year 5000).
    pub(crate) fn next(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        // Ticks are whole seconds: the first one after `t` is the first one after its second.
        let mut cur = whole_second(t);
        let mut inclusive = false;
        for _ in 0..MAX_STEPS {
            let offset = offset_at(self.tz, cur);
            let candidate = self.naive_next(cur.naive_utc() + offset, inclusive)?;
            let u = (candidate - offset).and_utc();
            match next_offset_change(self.tz, cur, u) {
                None if self.fixed && self.is_second_occurrence(candidate, u) => {
                    cur = u;
                    inclusive = false;
                }
                None => return Some(u),
                Some(change) => {
                    // No match in [cur, change) under this offset.
                    let after = offset_at(self.tz, change);
                    let gap_end = change.naive_utc() + after;
                    if self.fixed
                        && after.local_minus_utc() > offset.local_minus_utc()
                        && candidate < gap_end
                    {
                        // The fixed time does not exist today: run when the gap ends.
                        return Some(change);
                    }
                    cur = change;
                    inclusive = true;
                }
            }
        }
        tracing::warn!(cron = %self.cron, after = %t, "no cron tick found within {MAX_STEPS} steps");
        None
    }

    /// The last tick strictly before `t`.
    pub(crate) fn prev(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let t0 = whole_second(t);
        if t0 < t && self.is_tick(t0) {
            return Some(t0);
        }
        // Step back over wall-clock matches until one lies before `t0` as an instant, then walk
        // forward to the last tick before `t0` (walking forward applies the DST rules of `next`).
        let offset = offset_at(self.tz, t0);
        let mut naive = wall_clock(self.tz, t0);
        for _ in 0..MAX_STEPS {
            naive = self.naive_prev(naive)?;
            let from = (naive - offset).and_utc() - TimeDelta::seconds(1);
            let Some(mut last) = self.next(from).filter(|&x| x < t0) else {
                continue;
            };
            while let Some(x) = self.next(last).filter(|&x| x < t0) {
                last = x;
            }
            return Some(last);
        }
        None
    }

    /// Whether `t` is a tick.
    pub(crate) fn is_tick(&self, t: DateTime<Utc>) -> bool {
        t.nanosecond() == 0 && self.next(t - TimeDelta::seconds(1)) == Some(t)
    }

    /// `t` when it is a tick, else the next tick.
    pub(crate) fn align_next(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if self.is_tick(t) {
            Some(t)
        } else {
            self.next(t)
        }
    }

    /// `t` when it is a tick, else the previous tick.
    pub(crate) fn align_prev(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if self.is_tick(t) {
            Some(t)
        } else {
            self.prev(t)
        }
    }
}

/// `t` without its fraction of a second.
fn whole_second(t: DateTime<Utc>) -> DateTime<Utc> {
    t.with_nanosecond(0).unwrap_or(t)
}
