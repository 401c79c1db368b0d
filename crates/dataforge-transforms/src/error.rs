//! The crate's error type: why a row was rejected, or why a batch failed.
//!
//! A transform hands a [`TransformError`] to `RowContext::reject` as the row's reason, so the
//! `Display` form is what users see in warnings, dead-letter rows and failed-run messages. The
//! reasons name columns and types, not the row's values: the row travels with its reason
//! anyway, and stable reasons let `on_error: skip` warn once per reason.

use dataforge_core::ComponentError;

/// Why a transform rejected a row or failed a batch.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum TransformError {
    /// A column the transform needs is absent.
    #[error("column `{column}` not found")]
    MissingColumn {
        /// The column.
        column: String,
    },
    /// Writing a column would overwrite another one.
    #[error("column `{column}` already exists")]
    ColumnExists {
        /// The column.
        column: String,
    },
    /// A value could not be converted to the requested type.
    #[error("cannot cast column `{column}` from {from} to {to}: {reason}")]
    Cast {
        /// The column.
        column: String,
        /// The value's type.
        from: &'static str,
        /// The requested type.
        to: &'static str,
        /// What went wrong.
        reason: String,
    },
    /// A value has the wrong type for the operation.
    #[error("column `{column}` is {found}, expected {expected}")]
    WrongType {
        /// The column.
        column: String,
        /// The value's type.
        found: &'static str,
        /// What the operation needs.
        expected: &'static str,
    },
    /// An expression failed while evaluating a row.
    #[error("expression failed: {message}")]
    Expression {
        /// The interpreter's message.
        message: String,
    },
    /// A `filter` expression returned something else than a boolean.
    #[error("filter expression returned {found}, expected a boolean")]
    NotBoolean {
        /// The type returned.
        found: String,
    },
    /// A `validate` rule was broken.
    #[error("column `{column}` breaks rule `{rule}`: {detail}")]
    Rule {
        /// The column.
        column: String,
        /// The rule's name (`required`, `type`, …).
        rule: &'static str,
        /// What is wrong.
        detail: String,
    },
    /// The environment variable holding a salt is not set.
    #[error("environment variable `{var}` (salt_env) is not set or empty")]
    MissingSalt {
        /// The variable's name.
        var: String,
    },
}

impl From<TransformError> for ComponentError {
    fn from(e: TransformError) -> Self {
        ComponentError::fatal(e)
    }
}
