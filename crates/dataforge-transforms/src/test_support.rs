//! Helpers for the unit tests.

use std::sync::Arc;

use dataforge_core::registry::parse_config;
use dataforge_core::{
    Batch, ConfigErrors, Record, Rejected, RowContext, RunContext, Transform, TransformFactory,
    Value,
};
use proptest::prelude::*;

/// Builds a transform the way the registry does: typed config, then `build`.
pub(crate) fn build<F: TransformFactory>(
    config: serde_json::Value,
) -> Result<Arc<dyn Transform>, ConfigErrors> {
    let c = parse_config::<F::Config>(config)?;
    Ok(Arc::new(F::build(c)?))
}

/// A run context with a fixed run id and logical date.
pub(crate) fn ctx() -> RunContext {
    let date = chrono::DateTime::parse_from_rfc3339("2026-03-04T05:06:07Z")
        .expect("date")
        .to_utc();
    RunContext::builder("test")
        .run_id("run-1")
        .logical_date(date)
        .build()
}

/// Runs one batch; returns the output and the rejected rows.
pub(crate) fn run_one(t: &Arc<dyn Transform>, batch: Batch) -> (Batch, Vec<Rejected>) {
    run_with(t, batch, &ctx())
}

/// Runs one batch in `ctx`.
pub(crate) fn run_with(
    t: &Arc<dyn Transform>,
    batch: Batch,
    ctx: &RunContext,
) -> (Batch, Vec<Rejected>) {
    let mut rows = RowContext::new(ctx);
    let out = t.transform(batch, &mut rows).expect("batch succeeds");
    (out, rows.take_rejected())
}

/// The column names of a record.
pub(crate) fn keys(r: &Record) -> Vec<&str> {
    r.keys().map(|k| k.as_str()).collect()
}

/// The values of a record, in order.
pub(crate) fn values(r: &Record) -> Vec<Value> {
    r.iter().map(|(_, v)| v.clone()).collect()
}

/// A scalar value, unicode and extremes included.
pub(crate) fn arb_scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::Int),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::Float),
        "\\PC{0,8}".prop_map(Value::from),
        Just(Value::Array(vec![Value::Int(1), Value::from("ß")])),
    ]
}

/// A flat record with distinct short keys.
pub(crate) fn arb_flat_record() -> impl Strategy<Value = Record> {
    proptest::collection::btree_map("[a-g]{1,2}", arb_scalar(), 0..8)
        .prop_map(|m| m.into_iter().collect())
}

/// A record with objects nested up to three levels.
pub(crate) fn arb_nested_record() -> impl Strategy<Value = Record> {
    let leaf = arb_scalar();
    let value = leaf.prop_recursive(3, 24, 4, |inner| {
        proptest::collection::btree_map("[a-d]{1,2}", inner, 0..4)
            .prop_map(|m| Value::Object(m.into_iter().collect()))
    });
    proptest::collection::btree_map("[a-d]{1,2}", value, 0..6).prop_map(|m| m.into_iter().collect())
}

/// Builds a transform that must fail to build; returns the errors.
pub(crate) fn build_err<F: TransformFactory>(config: serde_json::Value) -> ConfigErrors {
    match build::<F>(config) {
        Ok(_) => panic!("the config was accepted"),
        Err(e) => e,
    }
}
