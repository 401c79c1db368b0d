//! `DataInterval`: the span of data one run covers, `[start, end)`.

use std::fmt;

use chrono::{DateTime, Utc};

/// The data a run covers, `[start, end)`; the run's logical date is `start` and it is due at
/// `end` (an `@once` or manual run has `start == end`).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct DataInterval {
    /// The first instant covered (Airflow's `data_interval_start`).
    pub start: DateTime<Utc>,
    /// The first instant not covered (Airflow's `data_interval_end`).
    pub end: DateTime<Utc>,
}

impl DataInterval {
    /// The interval `[start, end)`.
    pub fn new(start: DateTime<Utc>, end: DateTime<Utc>) -> Self {
        Self { start, end }
    }

    /// The empty interval at `at` (`@once`, manual runs): start and end are both `at`.
    pub fn exact(at: DateTime<Utc>) -> Self {
        Self { start: at, end: at }
    }

    /// The run's logical date (Airflow's `logical_date`, `ds`): the interval's start.
    pub fn logical_date(&self) -> DateTime<Utc> {
        self.start
    }

    /// When the run is due: the interval's end.
    pub fn due(&self) -> DateTime<Utc> {
        self.end
    }
}

impl fmt::Display for DataInterval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "[{}, {})",
            self.start.to_rfc3339(),
            self.end.to_rfc3339()
        )
    }
}
