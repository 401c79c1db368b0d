//! Rendering: one shared minijinja environment (strict undefined, no escaping, trailing
//! newlines kept), and [`render_config`] over a component's config tree.

use std::sync::OnceLock;

use minijinja::syntax::SyntaxConfig;
use minijinja::value::Value;
use minijinja::{AutoEscape, Environment, UndefinedBehavior};

use super::{TemplateContext, TemplateError, filters};
use crate::error::join_path;

/// The environment every template renders in; it holds no per-run state.
fn environment() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_auto_escape_callback(|_| AutoEscape::None);
        env.set_debug(true);
        let mut syntax = SyntaxConfig::builder();
        syntax.keep_trailing_newline(true);
        // The default delimiters always build; on the impossible failure the defaults stay.
        if let Ok(s) = syntax.build() {
            env.set_syntax(s);
        }
        // `none` prints as nothing (an absent `prev_data_interval_end_success`).
        env.set_formatter(|out, state, value| {
            if value.is_none() {
                Ok(())
            } else {
                minijinja::escape_formatter(out, state, value)
            }
        });
        filters::install(&mut env);
        env
    })
}

/// True when `s` holds template syntax (`{{` or `{%`); other strings are never rendered.
pub fn is_template(s: &str) -> bool {
    s.contains("{{") || s.contains("{%")
}

/// Renders one string; `path` names it in the error.
///
/// # Errors
/// A syntax error, an unknown variable or filter, or a filter that fails.
pub fn render_str(text: &str, ctx: &TemplateContext, path: &str) -> Result<String, TemplateError> {
    if !is_template(text) {
        return Ok(text.to_owned());
    }
    render_with(text, &ctx.to_value(), path)
}

/// Renders every string in a component config tree (through arrays and objects; keys are not
/// rendered). Strings without `{{` or `{%` are returned as they are. `path` is where the tree
/// sits in the pipeline file (`source`), and errors name the string's full path
/// (`source.params.updated_at_min`).
///
/// ```
/// use dataforge_core::chrono::{TimeZone, Utc};
/// use dataforge_core::serde_json::json;
/// use dataforge_core::template::{TemplateContext, render_config};
///
/// let day = Utc.with_ymd_and_hms(2025, 3, 1, 0, 0, 0).unwrap();
/// let ctx = TemplateContext::new("orders", "run-1", day, day);
/// let source = json!({"type": "file", "path": "data/orders-{{ ds_nodash }}.jsonl"});
/// let rendered = render_config(&source, &ctx, "source")?;
/// assert_eq!(rendered["path"], "data/orders-20250301.jsonl");
/// # Ok::<(), dataforge_core::template::TemplateError>(())
/// ```
///
/// # Errors
/// The first string that does not render, with its JSON path and minijinja's message.
pub fn render_config(
    value: &serde_json::Value,
    ctx: &TemplateContext,
    path: &str,
) -> Result<serde_json::Value, TemplateError> {
    let mut vars = None;
    walk(value, path, &mut || ctx.to_value(), &mut vars)
}

/// Renders the strings below `value`; the variables are built on the first template met.
fn walk(
    value: &serde_json::Value,
    path: &str,
    make_vars: &mut dyn FnMut() -> Value,
    vars: &mut Option<Value>,
) -> Result<serde_json::Value, TemplateError> {
    Ok(match value {
        serde_json::Value::String(s) if is_template(s) => {
            let vars = vars.get_or_insert_with(&mut *make_vars);
            serde_json::Value::String(render_with(s, vars, path)?)
        }
        serde_json::Value::Array(items) => serde_json::Value::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, v)| walk(v, &format!("{path}[{i}]"), make_vars, vars))
                .collect::<Result<_, _>>()?,
        ),
        serde_json::Value::Object(map) => serde_json::Value::Object(
            map.iter()
                .map(|(k, v)| Ok((k.clone(), walk(v, &join_path(path, k), make_vars, vars)?)))
                .collect::<Result<_, TemplateError>>()?,
        ),
        other => other.clone(),
    })
}

fn render_with(text: &str, vars: &Value, path: &str) -> Result<String, TemplateError> {
    environment()
        .render_str(text, vars)
        .map_err(|e| TemplateError::Render {
            path: path.to_owned(),
            message: describe(&e, text),
        })
}

/// minijinja's message with the line, the column and the failing expression.
fn describe(e: &minijinja::Error, text: &str) -> String {
    let mut out = match e.detail() {
        Some(detail) => format!("{}: {detail}", e.kind()),
        None => e.kind().to_string(),
    };
    let line = e.line().unwrap_or(1);
    match e.range().filter(|r| text.get(r.clone()).is_some()) {
        Some(r) => {
            let before = &text[..r.start];
            let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
            out.push_str(&format!(
                " (line {line}, column {column}: `{}`)",
                &text[r.clone()]
            ));
        }
        None => out.push_str(&format!(" (line {line})")),
    }
    out
}
