//! Errors building a timetable.

/// Why a timetable cannot be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScheduleError {
    /// croner does not accept the expression.
    #[error("invalid cron expression \"{expression}\": {reason}")]
    InvalidCron {
        /// The expression.
        expression: String,
        /// croner's reason.
        reason: String,
    },
}
