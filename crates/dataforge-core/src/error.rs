//! Error types of the core: component failures, run failures, config and registry errors.

use std::error::Error as StdError;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::connection::ConnectionError;
use crate::registry::ComponentKind;
use crate::state::StateError;

/// A boxed error from a component's own error type.
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// Whether the runner may retry after a [`ComponentError`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Retry {
    /// A later attempt may succeed (network, timeouts, 5xx, serialization failures).
    Retryable,
    /// Retrying cannot help (bad credentials, invalid data, a missing column).
    Fatal,
}

/// An error raised by a source, transform or destination while running.
///
/// Components keep their own `thiserror` enums and wrap them here with [`ComponentError::retryable`]
/// or [`ComponentError::fatal`]; the runner adds the pipeline and component names. A message
/// alone is fatal ([`ComponentError::msg`]) unless it says otherwise
/// ([`ComponentError::retryable_msg`]).
///
/// `?` converts the core's own errors, retryable or not by their kind: a
/// [`ConnectionError`] (a connection that is missing or invalid is
/// fatal, one that is [temporarily unavailable](crate::ConnectionError::Unavailable) is
/// retryable) and a [`StateError`] (I/O retryable, a corrupt file fatal).
///
/// ```
/// use dataforge_core::{ComponentError, Connection, ConnectionError, Retry};
///
/// fn open(uri: &str) -> Result<Connection, ComponentError> {
///     Ok(Connection::parse("warehouse", uri)?) // a bad URI: fatal
/// }
/// assert_eq!(open("not a uri").unwrap_err().retry(), Retry::Fatal);
/// assert_eq!(ComponentError::msg("bad column").retry(), Retry::Fatal);
/// assert_eq!(ComponentError::retryable_msg("timed out").retry(), Retry::Retryable);
/// ```
#[derive(Debug)]
pub struct ComponentError {
    retry: Retry,
    inner: Inner,
}

#[derive(Debug)]
enum Inner {
    Error(BoxError),
    Message(String),
    /// The downstream stage stopped; the real cause is reported by that stage.
    DownstreamClosed,
    /// The upstream stage failed or the run was cancelled; the real cause is reported there.
    UpstreamAborted,
}

impl ComponentError {
    /// An error that a later attempt may not repeat.
    pub fn retryable(error: impl Into<BoxError>) -> Self {
        Self {
            retry: Retry::Retryable,
            inner: Inner::Error(error.into()),
        }
    }

    /// An error that retrying cannot fix.
    pub fn fatal(error: impl Into<BoxError>) -> Self {
        Self {
            retry: Retry::Fatal,
            inner: Inner::Error(error.into()),
        }
    }

    /// A fatal error from a message: retrying cannot fix it. For a failure a later attempt may
    /// not repeat (network, I/O, a lock held elsewhere), use [`ComponentError::retryable_msg`].
    pub fn msg(message: impl Into<String>) -> Self {
        Self::fatal_msg(message)
    }

    /// A retryable error from a message: a later attempt may succeed.
    pub fn retryable_msg(message: impl Into<String>) -> Self {
        Self {
            retry: Retry::Retryable,
            inner: Inner::Message(message.into()),
        }
    }

    /// A fatal error from a message (the same as [`ComponentError::msg`]).
    pub fn fatal_msg(message: impl Into<String>) -> Self {
        Self {
            retry: Retry::Fatal,
            inner: Inner::Message(message.into()),
        }
    }

    /// The error a stage returns when the stage after it has stopped.
    pub fn downstream_closed() -> Self {
        Self {
            retry: Retry::Fatal,
            inner: Inner::DownstreamClosed,
        }
    }

    /// The error a stage returns when the stage before it failed or the run was cancelled.
    pub fn upstream_aborted() -> Self {
        Self {
            retry: Retry::Fatal,
            inner: Inner::UpstreamAborted,
        }
    }

    /// The same error, never retried (for failures after data was committed).
    pub fn into_fatal(mut self) -> Self {
        self.retry = Retry::Fatal;
        self
    }

    /// Whether the runner may retry.
    pub fn retry(&self) -> Retry {
        self.retry
    }

    /// True when this error only echoes another stage's failure.
    pub fn is_secondary(&self) -> bool {
        matches!(self.inner, Inner::DownstreamClosed | Inner::UpstreamAborted)
    }

    /// The wrapped error, if this came from one.
    pub fn inner(&self) -> Option<&(dyn StdError + Send + Sync + 'static)> {
        match &self.inner {
            Inner::Error(e) => Some(e.as_ref()),
            _ => None,
        }
    }
}

impl fmt::Display for ComponentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner {
            Inner::Error(e) => fmt::Display::fmt(e, f),
            Inner::Message(m) => f.write_str(m),
            Inner::DownstreamClosed => f.write_str("the next stage stopped"),
            Inner::UpstreamAborted => {
                f.write_str("the previous stage failed or the run was cancelled")
            }
        }
    }
}

impl StdError for ComponentError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match &self.inner {
            Inner::Error(e) => e.source(),
            _ => None,
        }
    }
}

/// `?` on a connection: retryable when the connection is
/// [temporarily unavailable](ConnectionError::Unavailable), fatal when it is missing or invalid.
impl From<ConnectionError> for ComponentError {
    fn from(error: ConnectionError) -> Self {
        if error.is_retryable() {
            Self::retryable(error)
        } else {
            Self::fatal(error)
        }
    }
}

/// `?` on the state store: retryable for I/O and other stores' failures, fatal for a corrupt
/// state file (retrying reads the same file).
impl From<StateError> for ComponentError {
    fn from(error: StateError) -> Self {
        if error.is_retryable() {
            Self::retryable(error)
        } else {
            Self::fatal(error)
        }
    }
}

/// The stage of a pipeline an error came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Stage {
    /// The source.
    Extract,
    /// A transform.
    Transform,
    /// The destination.
    Load,
    /// The dead-letter destination.
    DeadLetter,
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Stage::Extract => "source",
            Stage::Transform => "transform",
            Stage::Load => "destination",
            Stage::DeadLetter => "dead-letter destination",
        })
    }
}

/// Why a pipeline run failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// A component failed.
    #[error("pipeline {pipeline}: {stage} `{component}` failed")]
    Component {
        /// The pipeline's id.
        pipeline: String,
        /// Which stage.
        stage: Stage,
        /// The component's type name (and position for transforms).
        component: String,
        /// The component's error.
        #[source]
        source: ComponentError,
    },
    /// A row was rejected by a transform whose `on_error` is `fail`.
    #[error(
        "pipeline {pipeline}: transform `{transform}` rejected a row (in source rows \
         {first_row}-{last_row}): {reason}; row: {row}"
    )]
    RowRejected {
        /// The pipeline's id.
        pipeline: String,
        /// The transform's name (`transforms[2] cast`).
        transform: String,
        /// The first source row (from 1) of the batch the row came in.
        first_row: u64,
        /// The last source row of that batch.
        last_row: u64,
        /// The reason given by the transform.
        reason: String,
        /// The row as JSON, cut to 300 characters.
        row: String,
    },
    /// More rows were rejected than the pipeline's `max_rejected` allows: the load rolled back.
    #[error(
        "pipeline {pipeline}: {rejected} rows rejected{}, over its budget of {budget} \
         (max_rejected): the load was rolled back",
        if *complete { format!(" out of {read} read") } else { format!(" by source row {read}") }
    )]
    TooManyRejected {
        /// The pipeline's id.
        pipeline: String,
        /// Rows rejected when the run stopped.
        rejected: u64,
        /// Rows read when the run stopped.
        read: u64,
        /// Whether every row had been read.
        complete: bool,
        /// The budget.
        budget: crate::config::RejectBudget,
    },
    /// The run was cancelled (Ctrl-C, SIGTERM, or the application's token).
    #[error("pipeline {pipeline}: cancelled")]
    Cancelled {
        /// The pipeline's id.
        pipeline: String,
    },
    /// The attempt ran longer than `execution_timeout`.
    #[error("pipeline {pipeline}: timed out after {}", humantime::format_duration(*after))]
    Timeout {
        /// The pipeline's id.
        pipeline: String,
        /// The configured limit.
        after: Duration,
    },
    /// The state store could not be read or written.
    #[error("pipeline {pipeline}: state store failed")]
    State {
        /// The pipeline's id.
        pipeline: String,
        /// The store's error.
        #[source]
        source: StateError,
    },
}

impl RunError {
    /// Whether the runner may try the pipeline again.
    pub fn is_retryable(&self) -> bool {
        match self {
            RunError::Component { source, .. } => source.retry() == Retry::Retryable,
            RunError::Timeout { .. } | RunError::State { .. } => true,
            RunError::RowRejected { .. }
            | RunError::TooManyRejected { .. }
            | RunError::Cancelled { .. } => false,
        }
    }
}

/// One problem in a pipeline definition, located by file and JSON path; made with
/// [`ConfigIssue::at`].
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct ConfigIssue {
    /// The file, when the pipeline came from one.
    pub file: Option<PathBuf>,
    /// The JSON path, like `transforms[1].mapping` (empty for the whole document).
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl ConfigIssue {
    /// An issue at `path` (relative to whatever is being validated). Input the message quotes
    /// (`` `…` `` or `"…"`) is cut to [`MAX_ECHO`] characters, and a path or message that is
    /// still too long loses its middle: a file's mistakes are never echoed whole.
    pub fn at(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            file: None,
            path: shorten(path.into(), MAX_PATH),
            message: shorten(clip_quoted(message.into()), MAX_MESSAGE),
        }
    }

    /// Puts `prefix` in front of the path: `mapping` under `transforms[1]` is `transforms[1].mapping`.
    pub fn under(mut self, prefix: &str) -> Self {
        self.path = shorten(join_path(prefix, &self.path), MAX_PATH);
        self
    }

    /// Sets the file.
    pub fn in_file(mut self, file: impl Into<PathBuf>) -> Self {
        self.file = Some(file.into());
        self
    }
}

/// The most characters of one piece of input (a key, a value) an error message quotes.
pub const MAX_ECHO: usize = 200;
/// The longest path an issue keeps (JSON keys are input too).
const MAX_PATH: usize = 2 * MAX_ECHO;
/// The longest message an issue keeps.
const MAX_MESSAGE: usize = 5 * MAX_ECHO;

/// `text` cut to [`MAX_ECHO`] characters, with an ellipsis when cut: for quoting input in errors.
pub fn clip(text: &str) -> std::borrow::Cow<'_, str> {
    match text.char_indices().nth(MAX_ECHO) {
        None => text.into(),
        Some((end, _)) => format!("{}…", &text[..end]).into(),
    }
}

/// `message` with every quoted part (between backticks or double quotes) longer than
/// [`MAX_ECHO`] characters cut, as [`clip`] does.
fn clip_quoted(message: String) -> String {
    if message.len() <= MAX_ECHO {
        return message;
    }
    let mut out = String::with_capacity(MAX_MESSAGE);
    let mut rest = message.as_str();
    while let Some(open) = rest.find(['`', '"']) {
        let quote = if rest.as_bytes()[open] == b'`' {
            '`'
        } else {
            '"'
        };
        out.push_str(&rest[..=open]);
        rest = &rest[open + 1..];
        let close = rest.find(quote).unwrap_or(rest.len());
        out.push_str(&clip(&rest[..close]));
        let after = (close + 1).min(rest.len());
        out.push_str(&rest[close..after]);
        rest = &rest[after..];
    }
    out.push_str(rest);
    out
}

/// `text` without its middle when longer than `max` characters.
fn shorten(text: String, max: usize) -> String {
    // Bytes are at least as many as characters: most text is done here.
    if text.len() <= max || text.chars().count() <= max {
        return text;
    }
    let keep = max / 2;
    let head = text.char_indices().nth(keep).map_or(0, |(i, _)| i);
    let tail = text.char_indices().nth_back(keep - 1).map_or(0, |(i, _)| i);
    format!("{}…{}", &text[..head], &text[tail..])
}

/// Joins two JSON path parts (`a` + `b` = `a.b`, `a` + `[0]` = `a[0]`).
pub(crate) fn join_path(prefix: &str, path: &str) -> String {
    match (prefix.is_empty(), path.is_empty()) {
        (true, _) => path.to_owned(),
        (_, true) => prefix.to_owned(),
        _ if path.starts_with('[') => format!("{prefix}{path}"),
        _ => format!("{prefix}.{path}"),
    }
}

impl fmt::Display for ConfigIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(file) = &self.file {
            write!(f, "{}: ", file.display())?;
        }
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)
    }
}

/// Every problem found in one or more pipeline definitions: reported together, not one per try.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct ConfigErrors(pub Vec<ConfigIssue>);

impl ConfigErrors {
    /// One issue.
    pub fn one(issue: ConfigIssue) -> Self {
        Self(vec![issue])
    }

    /// True when there are no issues.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The issues.
    pub fn issues(&self) -> &[ConfigIssue] {
        &self.0
    }

    /// Prefixes every issue's path.
    pub fn under(self, prefix: &str) -> Self {
        Self(self.0.into_iter().map(|i| i.under(prefix)).collect())
    }

    /// Sets every issue's file.
    pub fn in_file(self, file: &std::path::Path) -> Self {
        Self(self.0.into_iter().map(|i| i.in_file(file)).collect())
    }
}

impl From<ConfigIssue> for ConfigErrors {
    fn from(issue: ConfigIssue) -> Self {
        Self::one(issue)
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, issue) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{issue}")?;
        }
        Ok(())
    }
}

impl StdError for ConfigErrors {}

/// A problem with the component registry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// Two registrations share a kind and a name.
    #[error("{kind} type `{name}` is registered twice: by {first} and by {second}")]
    Duplicate {
        /// Source, transform or destination.
        kind: ComponentKind,
        /// The type name.
        name: String,
        /// Where the first registration came from (module path).
        first: String,
        /// Where the second registration came from (module path).
        second: String,
    },
    /// Nothing is registered: no component crate was linked.
    #[error(
        "no components are registered: a component crate that nothing references is not linked; \
         add `use dataforge_sources as _;` (and the same for dataforge_transforms and \
         dataforge_destinations) or call their `register(&mut Registry)` \
         (see the `registry` module docs of dataforge-core)"
    )]
    Empty,
}

/// Formats an error and its chain of sources as `outer: inner: innermost`.
pub fn error_chain(error: &(dyn StdError + 'static)) -> String {
    let mut out = error.to_string();
    let mut next = error.source();
    while let Some(e) = next {
        let text = e.to_string();
        if !out.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        next = e.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_input_and_long_paths_are_cut() {
        let long = "k".repeat(10_000);
        let i = ConfigIssue::at(
            format!("params.{long}"),
            format!("unknown field `{long}`, expected one of `a`, `b`; found \"{long}\""),
        );
        let clipped = format!("{}…", "k".repeat(MAX_ECHO));
        assert_eq!(
            i.message,
            format!("unknown field `{clipped}`, expected one of `a`, `b`; found \"{clipped}\"")
        );
        assert_eq!(i.path.chars().count(), MAX_PATH + 1);
        assert!(i.path.starts_with("params.kkk") && i.path.contains('…'));
        let i = i.under(&format!("transforms[0].{long}"));
        assert_eq!(i.path.chars().count(), MAX_PATH + 1);
        assert!(i.path.starts_with("transforms[0].kkk"));
        // Unclosed quotes, multi-byte characters, short text untouched.
        let m = ConfigIssue::at("", format!("bad `{}", "é".repeat(300))).message;
        assert_eq!(m, format!("bad `{}…", "é".repeat(MAX_ECHO)));
        assert_eq!(ConfigIssue::at("a", "x `y`").message, "x `y`");
        assert_eq!(
            ConfigIssue::at("", "z".repeat(10_000))
                .message
                .chars()
                .count(),
            MAX_MESSAGE + 1
        );
    }

    #[test]
    fn chain_names_pipeline_component_and_cause() {
        let e = RunError::Component {
            pipeline: "orders".into(),
            stage: Stage::Load,
            component: "postgres".into(),
            source: ComponentError::retryable(std::io::Error::other("connection refused")),
        };
        assert_eq!(
            error_chain(&e),
            "pipeline orders: destination `postgres` failed: connection refused"
        );
        assert!(e.is_retryable());
    }

    #[test]
    fn issue_paths_join() {
        let i = ConfigIssue::at("mapping", "invalid type")
            .under("transforms[1]")
            .in_file("a.json");
        assert_eq!(i.to_string(), "a.json: transforms[1].mapping: invalid type");
        assert_eq!(join_path("transforms", "[0]"), "transforms[0]");
    }
}
