//! The data interval of a run for a logical date: the one place that turns a schedule into
//! an interval until the timetable module replaces it.

use std::str::FromStr;

use chrono::{DateTime, Utc};

use super::Schedule;

/// The data interval `[start, end)` of the run whose logical date is `logical_date`: for a
/// cron schedule (or preset) `[logical_date, the next tick after it)`, evaluated in UTC; for
/// `@once` or no schedule the empty interval `[logical_date, logical_date)`.
///
/// ```
/// use dataforge_core::chrono::{TimeZone, Utc};
/// use dataforge_core::config::{Schedule, data_interval};
///
/// let day = Utc.with_ymd_and_hms(2025, 3, 1, 0, 0, 0).unwrap();
/// let daily: Schedule = "@daily".parse().unwrap();
/// let (start, end) = data_interval(Some(&daily), day);
/// assert_eq!((start, end), (day, Utc.with_ymd_and_hms(2025, 3, 2, 0, 0, 0).unwrap()));
/// assert_eq!(data_interval(None, day), (day, day));
/// ```
pub fn data_interval(
    schedule: Option<&Schedule>,
    logical_date: DateTime<Utc>,
) -> (DateTime<Utc>, DateTime<Utc>) {
    let end = schedule
        .and_then(Schedule::cron)
        .and_then(|cron| croner::Cron::from_str(cron).ok())
        .and_then(|cron| cron.find_next_occurrence(&logical_date, false).ok())
        .unwrap_or(logical_date);
    (logical_date, end)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn at(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, min, 0)
            .single()
            .unwrap_or_default()
    }

    fn schedule(s: &str) -> Schedule {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn the_interval_runs_from_the_logical_date_to_the_next_tick() {
        let d = at(2025, 3, 1, 0, 0);
        let cases = [
            ("@hourly", at(2025, 3, 1, 1, 0)),
            ("@daily", at(2025, 3, 2, 0, 0)),
            ("@weekly", at(2025, 3, 2, 0, 0)),
            ("@monthly", at(2025, 4, 1, 0, 0)),
            ("*/15 * * * *", at(2025, 3, 1, 0, 15)),
        ];
        for (s, end) in cases {
            assert_eq!(data_interval(Some(&schedule(s)), d), (d, end), "{s}");
        }
        // A logical date between ticks runs to the next one.
        let noon = at(2025, 3, 1, 12, 0);
        assert_eq!(
            data_interval(Some(&schedule("@daily")), noon),
            (noon, at(2025, 3, 2, 0, 0))
        );
        assert_eq!(data_interval(Some(&Schedule::Once), d), (d, d));
        assert_eq!(data_interval(None, d), (d, d));
    }
}
