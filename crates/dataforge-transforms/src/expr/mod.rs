//! Expressions for `filter` and `add_column`: the Common Expression Language (CEL), through the
//! [`cel`] crate.
//!
//! An expression is compiled once, when the transform is built; a syntax error is a config error
//! at the key that holds it. Simple expressions (columns, literals, comparisons, `&&` `||` `!`,
//! arithmetic) also get a native evaluator that skips the interpreter (see the crate README and
//! [`Expression::is_native`]); the interpreter stays the reference for everything else. Each row is evaluated against a resolver that reads the row's
//! columns in place (strings are borrowed, not copied), so a row costs no conversion for the
//! columns the expression does not use.
//!
//! # Names an expression sees
//! | name | value |
//! | --- | --- |
//! | a column, e.g. `total_price` | the row's value (`customer.first_name` reads into an object column) |
//! | `row` | the whole row as a map: `row["first name"]`, `has(row.discount)` |
//! | `run.id` | the run id (string) |
//! | `run.logical_date` | the logical date (timestamp, UTC) |
//! | `run.ds` | the logical date as `YYYY-MM-DD` (Airflow's `ds`) |
//! | `run.params` | the pipeline's `params` (map) |
//!
//! `row` and `run` win over columns of those names (reach such a column as `row.run`).
//!
//! # Types
//! integers → `int`, floats → `double`, decimals → `double`, strings → `string`, booleans →
//! `bool`, timestamps → `timestamp`, dates → `string` (`YYYY-MM-DD`), arrays → `list`, objects →
//! `map`, null → `null`. A column that is absent is an error for the row (`has(row.x)` tests for
//! it). Results come back the same way; a `uint` beyond `i64` becomes a decimal, a map's keys are
//! sorted.

mod convert;
mod limits;
pub(crate) mod native;
mod reads;

pub use limits::{MAX_EXPR_DEPTH, MAX_EXPR_LEN};

use std::collections::BTreeSet;
use std::sync::{Arc, OnceLock};

use cel::common::value::CowVal;
use cel::context::VariableResolver;
use cel::{Context, Env, ExecutionError, Program};
use chrono::{DateTime, FixedOffset};
use compact_str::CompactString;
use dataforge_core::{Record, RunContext, Value};

use crate::error::TransformError;
use crate::shape::ShapeCache;

fn env() -> &'static Arc<Env> {
    static ENV: OnceLock<Arc<Env>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Env::stdlib();
        // The strings extension (`lowerAscii`, `replace`, `split`, `trim`, …) cannot clash with
        // the standard library: a failure would only lose the extension.
        if let Err(e) = env.add_extension(cel::extensions::strings) {
            tracing::warn!(error = %e, "CEL strings extension unavailable");
        }
        Arc::new(env)
    })
}

/// A compiled CEL expression.
#[derive(Debug)]
pub struct Expression {
    program: Program,
    source: String,
    /// The fast path, when the expression stays in its subset (see [`native`]).
    native: Option<native::Compiled>,
}

/// Where an expression's columns are in rows of one shape, found once for the rows that share
/// it: one per batch, passed to [`Expression::eval_with`] and [`Expression::eval_bool_with`].
#[derive(Default)]
pub(crate) struct Lookup(ShapeCache<Box<[Option<usize>]>>);

impl Expression {
    /// Compiles `source`: refused first when longer than [`MAX_EXPR_LEN`] or deeper than
    /// [`MAX_EXPR_DEPTH`], then parsed on a thread with a large stack, so that no text can
    /// overflow the stack, here or when the expression is evaluated.
    ///
    /// # Errors
    /// The limit exceeded, or the parser's message with the position of the problem.
    pub fn compile(source: &str) -> Result<Self, String> {
        if source.trim().is_empty() {
            return Err("expression is empty".into());
        }
        limits::check(source)?;
        limits::on_compile_thread(source)
    }

    /// Compiles `source`, known to be within the limits, on the current thread.
    pub(crate) fn compile_checked(source: &str) -> Result<Self, String> {
        // A long message (it quotes the line) is cut by `ConfigIssue`.
        let program = env()
            .compile(source)
            .map_err(|e| format!("invalid expression: {}", one_line(&e.to_string())))?;
        let types = env().types();
        let native = native::compile(program.expression(), &|name| {
            types.find_type(name).is_some()
        });
        Ok(Self {
            program,
            source: source.to_owned(),
            native,
        })
    }

    /// True when the expression is evaluated natively, without the CEL interpreter, for rows
    /// whose values the fast path models (see the crate README for the subset).
    pub fn is_native(&self) -> bool {
        self.native.is_some()
    }

    /// The fast path's own answer: `None` when the expression is not native.
    #[cfg(test)]
    pub(crate) fn eval_native<'a>(
        &'a self,
        record: &'a Record,
    ) -> Option<Result<native::Nv<'a>, native::Fail>> {
        self.native.as_ref().map(|n| n.node.eval(record))
    }

    /// The fast path's answer on `record`, its columns found through `lookup` when given.
    fn native_eval<'a>(
        &'a self,
        record: &'a Record,
        lookup: Option<&mut Lookup>,
    ) -> Option<Result<native::Nv<'a>, native::Fail>> {
        let n = self.native.as_ref()?;
        let at = lookup.map(|l| {
            &**l.0.get(record.columns(), |c| {
                n.columns.iter().map(|name| c.position(name)).collect()
            })
        });
        Some(n.node.eval_at(record, at))
    }

    /// The text it was compiled from.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The columns the expression may read of a row (a superset: every name that may resolve
    /// to a column), or `None` when it may read any column: it uses `row` as a whole
    /// (`size(row)`, `row[key]`). `row.x`, `row["x"]` and `has(row.x)` read the column `x`;
    /// `run` and its fields read none.
    pub fn columns(&self) -> Option<BTreeSet<CompactString>> {
        reads::columns(self.program.expression())
    }

    /// Evaluates the expression on `record`.
    ///
    /// # Errors
    /// A runtime error of the expression (a missing column, a type mismatch, a division by
    /// zero), or a result that has no [`Value`] form.
    pub fn eval(&self, record: &Record, run: &RunVars<'_>) -> Result<Value, TransformError> {
        self.eval_with(record, run, None)
    }

    /// As [`Expression::eval`], on rows whose shapes `lookup` (when given) remembers.
    pub(crate) fn eval_with(
        &self,
        record: &Record,
        run: &RunVars<'_>,
        lookup: Option<&mut Lookup>,
    ) -> Result<Value, TransformError> {
        if let Some(Ok(v)) = self.native_eval(record, lookup)
            && let Some(v) = v.into_value()
        {
            return Ok(v);
        }
        let value = self.execute(record, run)?;
        convert::from_cel(value)
    }

    /// Evaluates the expression on `record` and expects a boolean.
    ///
    /// # Errors
    /// As [`Expression::eval`], or [`TransformError::NotBoolean`].
    pub fn eval_bool(&self, record: &Record, run: &RunVars<'_>) -> Result<bool, TransformError> {
        self.eval_bool_with(record, run, None)
    }

    /// As [`Expression::eval_bool`], on rows whose shapes `lookup` (when given) remembers.
    pub(crate) fn eval_bool_with(
        &self,
        record: &Record,
        run: &RunVars<'_>,
        lookup: Option<&mut Lookup>,
    ) -> Result<bool, TransformError> {
        if let Some(Ok(native::Nv::Bool(b))) = self.native_eval(record, lookup) {
            return Ok(b);
        }
        // Errors, and what the fast path does not model, take the interpreter: its result and
        // its messages are the reference.
        match self.execute(record, run)? {
            cel::Value::Bool(b) => Ok(b),
            other => Err(TransformError::NotBoolean {
                found: other.type_of().to_string(),
            }),
        }
    }

    fn execute(&self, record: &Record, run: &RunVars<'_>) -> Result<cel::Value, TransformError> {
        let resolver = RowResolver { record, run };
        let mut ctx = Context::with_env(env().clone());
        ctx.set_variable_resolver(&resolver);
        self.program.execute(&ctx).map_err(execution_error)
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn execution_error(e: ExecutionError) -> TransformError {
    match e {
        ExecutionError::UndeclaredReference(name) => TransformError::MissingColumn {
            column: name.to_string(),
        },
        other => TransformError::Expression {
            message: one_line(&other.to_string()),
        },
    }
}

/// What expressions see of the run: built once per batch.
pub struct RunVars<'a> {
    ctx: &'a RunContext,
    logical_date: DateTime<FixedOffset>,
    ds: String,
}

impl<'a> RunVars<'a> {
    /// The run variables of `ctx`.
    pub fn new(ctx: &'a RunContext) -> Self {
        let date = ctx.logical_date();
        Self {
            ctx,
            logical_date: date.fixed_offset(),
            ds: date.format("%Y-%m-%d").to_string(),
        }
    }
}

/// Resolves names against one row and the run.
struct RowResolver<'r> {
    record: &'r Record,
    run: &'r RunVars<'r>,
}

impl VariableResolver for RowResolver<'_> {
    fn resolve<'b>(&'b self, name: &str) -> Option<CowVal<'b, 'b>> {
        if let Some(rest) = name.strip_prefix("run") {
            match rest {
                "" => return Some(CowVal::Owned(convert::run_map(self.run))),
                ".id" => return Some(CowVal::owned(convert::str_val(self.run.ctx.run_id()))),
                ".logical_date" => {
                    return Some(CowVal::owned(convert::timestamp_val(self.run.logical_date)));
                }
                ".ds" => return Some(CowVal::owned(convert::str_val(&self.run.ds))),
                ".params" => return Some(CowVal::Owned(convert::json_map(self.run.ctx.params()))),
                _ if rest.starts_with('.') => return None,
                _ => {}
            }
        }
        if name == "row" {
            return Some(CowVal::Owned(convert::record_map(self.record)));
        }
        self.record
            .get(name)
            .map(|v| CowVal::Owned(convert::to_cel(v)))
    }
}

#[cfg(test)]
mod tests;
