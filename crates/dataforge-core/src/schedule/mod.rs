//! Scheduling with Airflow's semantics: data intervals from a pipeline's schedule
//! ([`Timetable`], [`DataInterval`]) and the [`Clock`] a scheduler reads and waits on.
//!
//! Pure functions of the last interval and the time: the scheduler loop, the state store and
//! the commands build on them.

mod clock;
mod error;
mod interval;
mod timetable;
mod zone;
mod zoned_cron;

pub use clock::{Clock, ManualClock, SystemClock};
pub use error::ScheduleError;
pub use interval::DataInterval;
pub use timetable::Timetable;
pub use zone::{local_to_utc, next_offset_change};

#[cfg(test)]
mod tests;
