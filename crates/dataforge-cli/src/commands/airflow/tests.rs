//! The DAG files, read back by Python's own parser: what Airflow gets, and that no value from
//! a pipeline file becomes code.

use dataforge_core::PipelineConfig;
use dataforge_core::chrono::{TimeZone, Utc};
use serde_json::{Value, json};

use super::dag_file::{DagFile, DagFileError, Task};

/// Parses a DAG file with `ast` and says what it calls, the DAG's keyword arguments and the
/// task's (literals evaluated, other expressions as source text).
const INSPECT: &str = r#"
import ast, json, shlex, sys
tree = ast.parse(sys.stdin.read())
calls = sorted({ast.unparse(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)})
def lit(v):
    try:
        return ast.literal_eval(v)
    except ValueError:
        return ast.unparse(v)
def kwargs(name):
    call = next(n for n in ast.walk(tree) if isinstance(n, ast.Call) and ast.unparse(n.func) == name)
    return {k.arg: lit(k.value) for k in call.keywords}
dag = kwargs("DAG")
op = "BashOperator" if "BashOperator" in calls else "KubernetesPodOperator"
task = kwargs(op)
argv = None
if op == "BashOperator":
    # The words of the script up to the line after the run (newlines in values are quoted).
    words = shlex.split(task["bash_command"])
    argv = words[1:words.index("status=$?")]
print(json.dumps({"calls": calls, "dag": dag, "task": task, "argv": argv}))
"#;

fn inspect(source: &str) -> Value {
    use std::io::Write;
    let mut child = std::process::Command::new("python3")
        .args(["-c", INSPECT])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs");
    child
        .stdin
        .take()
        .expect("piped")
        .write_all(source.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("python3 ends");
    assert!(
        out.status.success(),
        "{}\n--- source:\n{source}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("json")
}

fn config(extra: Value) -> PipelineConfig {
    let mut doc = json!({
        "dag_id": "orders_daily",
        "description": "Orders",
        "schedule_interval": "@daily",
        "start_date": "2025-01-01",
        "timezone": "Europe/Paris",
        "catchup": true,
        "tags": ["shop"],
        "default_args": {"owner": "data", "retries": 3},
        "source": {"type": "file", "path": "in.jsonl"},
        "destination": {"type": "file", "path": "out.jsonl"}
    });
    for (k, v) in extra.as_object().expect("object") {
        doc[k] = v.clone();
    }
    PipelineConfig::from_json(doc).expect("valid").config
}

fn bash() -> Task {
    Task::Bash {
        dataforge: "/opt/dataforge/bin/dataforge".into(),
        workdir: "/srv/pipelines".into(),
    }
}

fn render(config: &PipelineConfig, task: &Task, file: &str) -> Result<String, DagFileError> {
    DagFile {
        config,
        pipeline_file: file,
        task,
        default_start: Utc
            .with_ymd_and_hms(2026, 2, 3, 4, 5, 6)
            .single()
            .expect("valid"),
    }
    .render()
}

#[test]
fn a_bash_dag_carries_the_pipelines_settings() {
    let c = config(json!({"end_date": "2025-12-31", "max_active_runs": 2}));
    let source = render(&c, &bash(), "/srv/pipelines/orders.json").expect("renders");
    let v = inspect(&source);
    assert_eq!(
        v["calls"],
        json!([
            "BashOperator",
            "CronDataIntervalTimetable",
            "DAG",
            "datetime.datetime"
        ])
    );
    let dag = &v["dag"];
    assert_eq!(dag["dag_id"], "orders_daily");
    assert_eq!(dag["description"], "Orders");
    // Presets become their cron expression, in the pipeline's time zone.
    assert_eq!(
        dag["schedule"],
        "CronDataIntervalTimetable('0 0 * * *', timezone='Europe/Paris')"
    );
    // Midnight in Paris is 23:00 UTC the day before (winter), 22:00 in summer.
    assert_eq!(
        dag["start_date"],
        "datetime.datetime(2024, 12, 31, 23, 0, 0, 0, tzinfo=datetime.timezone.utc)"
    );
    assert_eq!(
        dag["end_date"],
        "datetime.datetime(2025, 12, 30, 23, 0, 0, 0, tzinfo=datetime.timezone.utc)"
    );
    assert_eq!(dag["catchup"], true);
    assert_eq!(dag["max_active_runs"], 2);
    assert_eq!(dag["tags"], json!(["shop"]));
    // Retries happen in `dataforge run` only.
    assert_eq!(dag["default_args"], json!({"owner": "data", "retries": 0}));
    let task = &v["task"];
    assert_eq!(task["retries"], 0);
    assert_eq!(task["cwd"], "/srv/pipelines");
    assert_eq!(task.get("env"), None);
    assert_eq!(
        v["argv"],
        json!([
            "/opt/dataforge/bin/dataforge",
            "run",
            "/srv/pipelines/orders.json",
            "--pipeline",
            "orders_daily",
            "--logical-date",
            "{{ data_interval_start.isoformat() }}",
            "--report",
            "$report"
        ])
    );
    let command = task["bash_command"].as_str().expect("a string");
    assert!(command.ends_with("exit \"$status\"\n"), "{command}");
    // What Airflow 3 refuses or renders differently.
    for banned in [
        "schedule_interval",
        "execution_date",
        "next_ds",
        "prev_ds",
        "env=",
    ] {
        assert!(!source.contains(banned), "{banned} in\n{source}");
    }
}

#[test]
fn once_manual_and_cron_schedules() {
    let once = inspect(
        &render(
            &config(json!({"schedule_interval": "@once"})),
            &bash(),
            "/p.json",
        )
        .expect("renders"),
    );
    assert_eq!(once["dag"]["schedule"], "@once");
    let manual = config(json!({"schedule_interval": null, "start_date": null}));
    let manual = inspect(&render(&manual, &bash(), "/p.json").expect("renders"));
    assert_eq!(manual["dag"]["schedule"], Value::Null);
    assert_eq!(manual["dag"]["start_date"], Value::Null);
    assert!(!manual["calls"].to_string().contains("Timetable"));
    // A scheduled pipeline without start_date starts at the export's time.
    let cron = config(
        json!({"schedule_interval": "*/15 6-18 * * 1-5", "start_date": null, "timezone": "UTC"}),
    );
    let cron = inspect(&render(&cron, &bash(), "/p.json").expect("renders"));
    assert_eq!(
        cron["dag"]["schedule"],
        "CronDataIntervalTimetable('*/15 6-18 * * 1-5', timezone='UTC')"
    );
    assert_eq!(
        cron["dag"]["start_date"],
        "datetime.datetime(2026, 2, 3, 4, 5, 6, 0, tzinfo=datetime.timezone.utc)"
    );
}

#[test]
fn hostile_names_descriptions_tags_and_paths_stay_data() {
    let hostile = [
        "x\"); import os; os.system('touch /tmp/pwned'); (\"",
        "'''\nimport os\n'''",
        "\"\"\"\nraise SystemExit(1)\n\"\"\"",
        "back\\slash\\",
        "é ☃ \u{2028}\u{0}",
    ];
    for h in hostile {
        let mut c =
            config(json!({"description": h, "tags": [h, "ok"], "default_args": {"owner": h}}));
        // Pipeline files cannot hold such an id, but the quoting must not rely on that.
        c.dag_id = h.to_owned();
        let file = format!("/srv/it's $(touch /tmp/pwned) `id` {h}.json");
        let task = Task::Bash {
            dataforge: format!("/opt/{h}/dataforge"),
            workdir: format!("/srv/{h}"),
        };
        let source = render(&c, &task, &file);
        if h.contains('\0') {
            // A shell argument cannot hold a NUL.
            assert!(
                matches!(source, Err(DagFileError::Nul { .. })),
                "{source:?}"
            );
            continue;
        }
        let v = inspect(&source.expect("renders"));
        assert_eq!(
            v["calls"],
            json!([
                "BashOperator",
                "CronDataIntervalTimetable",
                "DAG",
                "datetime.datetime"
            ]),
            "{h}"
        );
        assert_eq!(v["dag"]["dag_id"], h);
        assert_eq!(v["dag"]["description"], h);
        assert_eq!(v["dag"]["tags"], json!([h, "ok"]));
        assert_eq!(v["dag"]["default_args"]["owner"], h);
        assert_eq!(v["task"]["cwd"], format!("/srv/{h}"));
        let argv = v["argv"].as_array().expect("argv");
        assert_eq!(argv[0], format!("/opt/{h}/dataforge"));
        assert_eq!(argv[2], file.as_str());
        assert_eq!(argv[4], h);
    }
}

#[test]
fn jinja_markup_in_a_templated_value_is_refused() {
    let c = config(json!({}));
    let e = render(&c, &bash(), "/srv/{{ var.value.secret }}.json").expect_err("refused");
    assert!(e.to_string().contains("pipeline file"), "{e}");
    let task = Task::Bash {
        dataforge: "/bin/dataforge".into(),
        workdir: "/srv/{% if %}".into(),
    };
    assert!(render(&c, &task, "/p.json").is_err());
    let k8s = Task::Kubernetes {
        image: "repo/{# x #}".into(),
        dataforge: "dataforge".into(),
    };
    assert!(render(&c, &k8s, "/p.json").is_err());
    // In the description (not a templated field) it is only text.
    let c = config(json!({"description": "{{ ds }}"}));
    assert!(render(&c, &bash(), "/p.json").is_ok());
}

#[test]
fn a_kubernetes_dag_runs_dataforge_in_the_image() {
    let task = Task::Kubernetes {
        image: "registry.example/dataforge:1.2".into(),
        dataforge: "dataforge".into(),
    };
    let source = render(&config(json!({})), &task, "/pipelines/orders.json").expect("renders");
    let v = inspect(&source);
    assert_eq!(
        v["calls"],
        json!([
            "CronDataIntervalTimetable",
            "DAG",
            "KubernetesPodOperator",
            "datetime.datetime"
        ])
    );
    assert!(source.contains(
        "from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator"
    ));
    let task = &v["task"];
    assert_eq!(task["image"], "registry.example/dataforge:1.2");
    assert_eq!(task["cmds"], json!(["dataforge"]));
    assert_eq!(
        task["arguments"],
        json!([
            "run",
            "/pipelines/orders.json",
            "--pipeline",
            "orders_daily",
            "--logical-date",
            "{{ data_interval_start.isoformat() }}",
            "--report",
            "/dev/stdout"
        ])
    );
    assert_eq!(task["retries"], 0);
    assert_eq!(task["get_logs"], true);
}
