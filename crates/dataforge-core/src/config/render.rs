//! A pipeline config rendered for one run: its templates filled in before the components are
//! built, and the sample run `validate` renders against.

use chrono::{DateTime, TimeZone, Utc};

use super::PipelineConfig;
use crate::error::ConfigErrors;
use crate::schedule::{DataInterval, Timetable};
use crate::template::{TemplateContext, is_template, render_config};

impl PipelineConfig {
    /// A template context for a run of this pipeline at `logical_date`: its `dag_id`,
    /// `params`, `timezone`, and the data interval the pipeline's [`Timetable`] gives that
    /// logical date (`[d, next tick)` on a tick, else `[d, d]`).
    pub fn template_context(
        &self,
        run_id: impl Into<String>,
        logical_date: DateTime<Utc>,
    ) -> TemplateContext {
        // A loaded config's schedule parsed already, so the timetable builds; `[d, d]` else.
        let interval = Timetable::from_config(self)
            .map(|t| t.interval_for_logical_date(logical_date))
            .unwrap_or_else(|_| DataInterval::exact(logical_date));
        let context =
            TemplateContext::new(self.dag_id.clone(), run_id, interval.start, interval.end)
                .with_params(self.params.clone());
        // `timezone` is a parsed IANA zone, which the context accepts by its name.
        match context.clone().with_timezone(self.timezone.name()) {
            Ok(zoned) => zoned,
            Err(_) => context,
        }
    }

    /// The context `validate` renders against: the interval at `start_date`, or at
    /// 2025-01-01T00:00:00Z when the pipeline has none, with the run id `validate`.
    pub fn sample_template_context(&self) -> TemplateContext {
        let fallback = Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).single();
        let date = self.start_date.or(fallback).unwrap_or_default();
        self.template_context("validate", date)
    }

    /// True when a string in a component config holds template syntax.
    pub fn has_templates(&self) -> bool {
        fn any(v: &serde_json::Value) -> bool {
            match v {
                serde_json::Value::String(s) => is_template(s),
                serde_json::Value::Array(items) => items.iter().any(any),
                serde_json::Value::Object(map) => map.values().any(any),
                _ => false,
            }
        }
        any(&self.source)
            || any(&self.destination)
            || self.dead_letter.as_ref().is_some_and(any)
            || self.transforms.iter().any(|t| any(&t.config))
    }

    /// This config with the templates in `source`, `transforms`, `destination` and
    /// `dead_letter` rendered for `ctx` (other keys are not templated); build the run's
    /// pipeline from it with [`Pipeline::from_config`](crate::Pipeline::from_config).
    ///
    /// ```
    /// use dataforge_core::PipelineConfig;
    /// use dataforge_core::chrono::{TimeZone, Utc};
    ///
    /// let parsed = PipelineConfig::from_json_str(r#"{
    ///     "dag_id": "orders", "schedule_interval": "@daily",
    ///     "source": {"type": "file", "path": "in/{{ ds_nodash }}.jsonl"},
    ///     "destination": {"type": "file", "path": "out/{{ data_interval_end | ds }}.jsonl"}
    /// }"#)?;
    /// let day = Utc.with_ymd_and_hms(2025, 3, 1, 0, 0, 0).unwrap();
    /// let ctx = parsed.config.template_context("run-1", day);
    /// let rendered = parsed.config.render(&ctx)?;
    /// assert_eq!(rendered.source["path"], "in/20250301.jsonl");
    /// assert_eq!(rendered.destination["path"], "out/2025-03-02.jsonl");
    /// # Ok::<(), dataforge_core::ConfigErrors>(())
    /// ```
    ///
    /// # Errors
    /// Every string that does not render, each at its JSON path (`source.path`).
    pub fn render(&self, ctx: &TemplateContext) -> Result<PipelineConfig, ConfigErrors> {
        let mut errors = Vec::new();
        let mut render = |value: &serde_json::Value, path: &str| {
            render_config(value, ctx, path).unwrap_or_else(|e| {
                errors.push(e.to_issue());
                value.clone()
            })
        };
        let mut out = self.clone();
        out.source = render(&self.source, "source");
        for (i, t) in out.transforms.iter_mut().enumerate() {
            t.config = render(&t.config, &format!("transforms[{i}]"));
        }
        out.destination = render(&self.destination, "destination");
        out.dead_letter = self.dead_letter.as_ref().map(|d| render(d, "dead_letter"));
        if errors.is_empty() {
            Ok(out)
        } else {
            Err(ConfigErrors(errors))
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};
    use serde_json::json;

    use crate::PipelineConfig;

    fn config(text: &str) -> PipelineConfig {
        match PipelineConfig::from_json_str(text) {
            Ok(p) => p.config,
            Err(e) => panic!("{e}"),
        }
    }

    const SHOPIFY: &str = r#"{
        "dag_id": "shopify_orders_hourly",
        "schedule_interval": "@hourly",
        "start_date": "2025-01-01",
        "source": {"type": "shopify", "resource": "orders",
                   "params": {"status": "any", "updated_at_min": "{{ data_interval_start }}",
                              "updated_at_max": "{{ data_interval_end }}"}},
        "transforms": [{"type": "filter", "expr": "total > 0", "on_error": "skip"}],
        "destination": {"type": "postgres", "table": "orders_{{ ds_nodash }}"}
    }"#;

    #[test]
    fn a_shopify_updated_at_min_renders_per_interval() {
        let c = config(SHOPIFY);
        assert!(c.has_templates());
        let at = Utc.with_ymd_and_hms(2025, 3, 1, 13, 0, 0).single();
        let ctx = c.template_context("run-1", at.unwrap_or_default());
        let rendered = c.render(&ctx).map_err(|e| e.to_string());
        let Ok(r) = rendered else {
            panic!("{rendered:?}");
        };
        assert_eq!(
            r.source["params"],
            json!({"status": "any", "updated_at_min": "2025-03-01T13:00:00+00:00",
                   "updated_at_max": "2025-03-01T14:00:00+00:00"})
        );
        assert_eq!(r.destination["table"], "orders_20250301");
        // Untemplated parts are kept as they were, `on_error` included.
        assert_eq!(r.transforms, c.transforms);
        assert_eq!(r.dag_id, c.dag_id);
    }

    #[test]
    fn every_bad_template_is_reported_with_its_path() {
        let c = config(
            r#"{"dag_id": "x",
                "source": {"type": "file", "path": "{{ nope }}"},
                "transforms": [{"type": "t", "a": "ok"}, {"type": "t", "b": ["{{ ds | bad }}"]}],
                "destination": {"type": "file", "path": "out.jsonl"},
                "dead_letter": {"type": "file", "path": "{{ run_id | add_days(1) }}"}}"#,
        );
        let Err(e) = c.render(&c.sample_template_context()) else {
            panic!("renders");
        };
        let paths: Vec<&str> = e.issues().iter().map(|i| i.path.as_str()).collect();
        assert_eq!(
            paths,
            ["source.path", "transforms[1].b[0]", "dead_letter.path"]
        );
    }

    #[test]
    fn the_sample_run_is_at_start_date_or_a_fixed_day() {
        let c = config(SHOPIFY);
        let ctx = c.sample_template_context();
        assert_eq!((ctx.ds(), ctx.run_id()), ("2025-01-01".into(), "validate"));
        assert_eq!(
            ctx.data_interval_end(),
            Utc.with_ymd_and_hms(2025, 1, 1, 1, 0, 0).unwrap()
        );
        let plain =
            config(r#"{"dag_id": "p", "source": {"type": "a"}, "destination": {"type": "b"}}"#);
        assert!(!plain.has_templates());
        assert_eq!(plain.sample_template_context().ds(), "2025-01-01");
    }
}
