use chrono::{DateTime, TimeZone, Utc};
use serde_json::json;

use super::*;

fn at(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
    // Fixed, valid calendar values: `single` cannot be `None` here.
    Utc.with_ymd_and_hms(y, m, d, h, 0, 0)
        .single()
        .unwrap_or_default()
}

fn ctx() -> TemplateContext {
    let mut params = serde_json::Map::new();
    params.insert("table".into(), json!("orders"));
    params.insert("n".into(), json!(7));
    TemplateContext::new("shop_daily", "run-42", at(2025, 3, 1, 0), at(2025, 3, 2, 0))
        .with_params(params)
}

fn render(text: &str) -> String {
    match render_str(text, &ctx(), "x") {
        Ok(s) => s,
        Err(e) => panic!("{text}: {e}"),
    }
}

#[test]
fn each_variable_renders_airflows_strings() {
    let cases = [
        ("{{ ds }}", "2025-03-01"),
        ("{{ ds_nodash }}", "20250301"),
        ("{{ ts }}", "2025-03-01T00:00:00+00:00"),
        ("{{ ts_nodash }}", "20250301T000000"),
        ("{{ ts_nodash_with_tz }}", "20250301T000000+0000"),
        ("{{ data_interval_start }}", "2025-03-01T00:00:00+00:00"),
        ("{{ data_interval_end }}", "2025-03-02T00:00:00+00:00"),
        ("{{ logical_date }}", "2025-03-01T00:00:00+00:00"),
        ("{{ execution_date }}", "2025-03-01T00:00:00+00:00"),
        ("{{ run_id }}", "run-42"),
        ("{{ dag_id }}", "shop_daily"),
        ("{{ params.table }}", "orders"),
        ("{{ params.n + 1 }}", "8"),
        ("{{ timezone }}", "UTC"),
        ("[{{ prev_data_interval_end_success }}]", "[]"),
    ];
    for (template, expected) in cases {
        assert_eq!(render(template), expected, "{template}");
    }
    let with_prev = ctx().with_prev_data_interval_end_success(Some(at(2025, 2, 28, 0)));
    assert_eq!(
        render_str("{{ prev_data_interval_end_success }}", &with_prev, "x").ok(),
        Some("2025-02-28T00:00:00+00:00".to_owned())
    );
    assert_eq!(
        render("{{ prev_data_interval_end_success or data_interval_start | ds }}"),
        "2025-03-01"
    );
}

#[test]
fn filters_shift_and_format_dates() {
    let cases = [
        (
            "{{ data_interval_start | add_days(-1) | ds }}",
            "2025-02-28",
        ),
        (
            "{{ data_interval_start | add_days(-1) }}",
            "2025-02-28T00:00:00+00:00",
        ),
        ("{{ logical_date | strftime(\"%Y/%m/%d\") }}", "2025/03/01"),
        ("{{ ds | add_days(1) }}", "2025-03-02"),
        ("{{ ds | add_days(-1) | ds_nodash }}", "20250228"),
        (
            "{{ data_interval_end | add_hours(-2) }}",
            "2025-03-01T22:00:00+00:00",
        ),
        (
            "{{ logical_date | add_minutes(90) | ts_nodash }}",
            "20250301T013000",
        ),
        (
            "{{ logical_date | add_seconds(5) | ts }}",
            "2025-03-01T00:00:05+00:00",
        ),
        ("{{ ds | add_hours(6) }}", "2025-03-01T06:00:00+00:00"),
        (
            "{{ \"2025-01-31T10:00:00Z\" | add_days(1) | ds }}",
            "2025-02-01",
        ),
        ("{{ ds | to_datetime }}", "2025-03-01T00:00:00+00:00"),
        (
            "{{ logical_date | in_timezone(\"Europe/Paris\") }}",
            "2025-03-01T01:00:00+01:00",
        ),
        ("{{ logical_date | local }}", "2025-03-01T00:00:00+00:00"),
        ("{{ macros.ds_add(ds, 7) }}", "2025-03-08"),
        ("{{ macros.ds_add(ds, -1) }}", "2025-02-28"),
        (
            "{{ macros.ds_format(ds, \"%Y-%m-%d\", \"%d/%m/%Y\") }}",
            "01/03/2025",
        ),
        ("{{ logical_date.strftime(\"%Y%m\") }}", "202503"),
        (
            "{{ data_interval_end.isoformat() }}",
            "2025-03-02T00:00:00+00:00",
        ),
        ("{{ logical_date.year }}-{{ logical_date.month }}", "2025-3"),
        ("{{ params.table | upper }}", "ORDERS"),
        (
            "{% if data_interval_end > data_interval_start %}ok{% endif %}",
            "ok",
        ),
    ];
    for (template, expected) in cases {
        assert_eq!(render(template), expected, "{template}");
    }
}

#[test]
fn local_uses_the_pipelines_time_zone() {
    let paris = ctx().with_timezone("America/New_York");
    let Ok(paris) = paris else {
        panic!("a known zone");
    };
    assert_eq!(
        render_str("{{ data_interval_start | local }}", &paris, "x").ok(),
        Some("2025-02-28T19:00:00-05:00".to_owned())
    );
    assert_eq!(
        ctx().with_timezone("Mars/Olympus").err(),
        Some(TemplateError::UnknownTimezone("Mars/Olympus".into()))
    );
}

#[test]
fn render_config_walks_objects_and_arrays_with_paths() {
    let config = json!({
        "type": "shopify",
        "params": {"updated_at_min": "{{ data_interval_start }}", "status": "any"},
        "columns": ["a_{{ ds_nodash }}", 3, null, {"{{ key }}": "{{ params.table }}"}],
    });
    let out = render_config(&config, &ctx(), "source");
    let Ok(out) = out else {
        panic!("{out:?}");
    };
    assert_eq!(
        out,
        json!({
            "type": "shopify",
            "params": {"updated_at_min": "2025-03-01T00:00:00+00:00", "status": "any"},
            "columns": ["a_20250301", 3, null, {"{{ key }}": "orders"}],
        })
    );
}

#[test]
fn an_unknown_variable_is_an_error_at_its_json_path() {
    let transforms = json!({"type": "filter", "expr": "day == '{{ undefined_var }}'"});
    let Err(e) = render_config(&transforms, &ctx(), "transforms[2]") else {
        panic!("strict undefined");
    };
    let TemplateError::Render { path, message } = &e else {
        panic!("{e:?}");
    };
    assert_eq!(path, "transforms[2].expr");
    assert!(message.contains("undefined"), "{message}");
    assert!(message.contains("line 1, column 12"), "{message}");
    assert!(message.contains("undefined_var"), "{message}");

    let nested = json!({"params": {"since": ["{{ params.nope }}"]}});
    let Err(e) = render_config(&nested, &ctx(), "source") else {
        panic!("strict undefined attribute");
    };
    assert!(e.to_string().starts_with("source.params.since[0]: "), "{e}");
}

#[test]
fn bad_filters_and_syntax_say_what_and_where() {
    for (template, needle) in [
        ("{{ ds | nope }}", "unknown filter"),
        ("{{ ds | add_days('x') }}", "add_days"),
        ("{{ 'soon' | add_days(1) }}", "is not a date"),
        (
            "{{ logical_date | strftime('%Q') }}",
            "invalid strftime format",
        ),
        ("{{ ds | add_days(99999999999) }}", "out of range"),
        ("a\n{{ ds ", "line 2"),
        ("{{ macros.ds_add('March', 1) }}", "not a YYYY-MM-DD date"),
    ] {
        let out = render_str(template, &ctx(), "source.path");
        let Err(e) = out else {
            panic!("{template} rendered: {out:?}");
        };
        let text = e.to_string();
        assert!(
            text.starts_with("source.path: ") && text.contains(needle),
            "{template}: {text}"
        );
    }
}

#[test]
fn strings_without_template_syntax_are_untouched() {
    let config = json!({
        "type": "filter",
        "expr": "amount > 10 && status in ['paid', 'open'] && size(tags) == 0",
        "braces": "{ not a template } {#}",
        "weird": "50% {x}",
        "trailing": "line\n",
    });
    assert_eq!(
        render_config(&config, &ctx(), "transforms[0]").ok(),
        Some(config)
    );
    // A CEL expression with a template is rendered first, then left to CEL.
    let cel = json!({"expr": "created_at >= timestamp('{{ data_interval_start }}')"});
    assert_eq!(
        render_config(&cel, &ctx(), "transforms[0]").ok(),
        Some(json!({"expr": "created_at >= timestamp('2025-03-01T00:00:00+00:00')"}))
    );
    assert_eq!(render("{{ ds }}\n"), "2025-03-01\n");
}
