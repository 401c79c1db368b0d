//! `dataforge airflow export` through the binary (files written, exit codes, hostile values
//! from pipeline files kept as data), and a connection defined for Airflow
//! (`AIRFLOW_CONN_<ID>`, JSON form) loading into the real PostgreSQL.

mod support;

use std::path::Path;

use serde_json::json;
use support::{database_url, dataforge, runtime, test_db, text, write};

const SCHEMA: &str = "dataforge_test_airflow_conn";

fn pipeline(dag_id: &str, description: &str, tags: serde_json::Value) -> String {
    serde_json::to_string_pretty(&json!({
        "dag_id": dag_id,
        "description": description,
        "schedule_interval": "0 6 * * 1-5",
        "start_date": "2025-01-01",
        "timezone": "America/New_York",
        "tags": tags,
        "default_args": {"owner": description, "retries": 2},
        "source": {"type": "file", "path": "in.jsonl"},
        "destination": {"type": "file", "path": "out.jsonl"},
    }))
    .expect("json")
}

/// Python's parser on a DAG file: the calls it makes and the DAG's literal arguments.
fn python_view(path: &Path) -> serde_json::Value {
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import ast, json, sys\n\
             tree = ast.parse(open(sys.argv[1], encoding='utf-8').read())\n\
             calls = sorted({ast.unparse(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)})\n\
             dag = next(n for n in ast.walk(tree) if isinstance(n, ast.Call) and ast.unparse(n.func) == 'DAG')\n\
             lit = {k.arg: ast.literal_eval(k.value) for k in dag.keywords if k.arg in ('dag_id', 'description', 'tags', 'default_args')}\n\
             print(json.dumps({'calls': calls, 'dag': lit}))",
        ])
        .arg(path)
        .output()
        .expect("python3 runs");
    assert!(out.status.success(), "{}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("json")
}

#[test]
fn export_writes_one_dag_file_per_pipeline_with_hostile_values_quoted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let hostile = "x\"); __import__('os').system('touch pwned'); (\"\n'''\"\"\"\\";
    write(
        dir.path(),
        "a.json",
        &pipeline("orders_a", hostile, json!([hostile, "shop"])),
    );
    write(
        dir.path(),
        "b.json",
        &pipeline("orders.b-2", "plain", json!([])),
    );
    let out = dataforge(
        dir.path(),
        &[
            "airflow",
            "export",
            ".",
            "--out",
            "dags",
            "--dataforge-bin",
            "/usr/local/bin/dataforge",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("2 DAG file(s)"),
        "{}",
        text(&out.stdout)
    );
    let mut names: Vec<String> = std::fs::read_dir(dir.path().join("dags"))
        .expect("dags")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["orders.b-2.py", "orders_a.py"]);

    let a = python_view(&dir.path().join("dags/orders_a.py"));
    assert_eq!(
        a["calls"],
        json!([
            "BashOperator",
            "CronDataIntervalTimetable",
            "DAG",
            "datetime.datetime"
        ])
    );
    assert_eq!(a["dag"]["dag_id"], "orders_a");
    assert_eq!(a["dag"]["description"], hostile);
    assert_eq!(a["dag"]["tags"], json!([hostile, "shop"]));
    assert_eq!(
        a["dag"]["default_args"],
        json!({"owner": hostile, "retries": 0})
    );
    let source = std::fs::read_to_string(dir.path().join("dags/orders_a.py")).expect("read");
    let cwd = std::fs::canonicalize(dir.path()).expect("canonical");
    // Absolute paths: the working directory and the pipeline file.
    assert!(
        source.contains(&format!(
            "cwd={}",
            serde_json::to_string(&cwd).expect("json")
        )),
        "{source}"
    );
    assert!(
        source.contains(&format!(" run {}/a.json ", cwd.display())),
        "{source}"
    );
    assert!(source.contains("timezone=\"America/New_York\""), "{source}");
    assert!(!dir.path().join("pwned").exists());
}

#[test]
fn export_exit_codes() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "good.json", &pipeline("good", "ok", json!([])));
    write(
        dir.path(),
        "bad.json",
        r#"{"dag_id": "bad", "source": {"type": "file"}}"#,
    );
    let out = dataforge(
        dir.path(),
        &["airflow", "export", ".", "--out", "dags"],
        &[],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("bad.json"),
        "{}",
        text(&out.stderr)
    );
    assert!(
        !dir.path().join("dags").exists(),
        "nothing is written when a file is invalid"
    );

    std::fs::remove_file(dir.path().join("bad.json")).expect("rm");
    let k8s_without_image = dataforge(
        dir.path(),
        &[
            "airflow",
            "export",
            ".",
            "--out",
            "dags",
            "--operator",
            "kubernetes",
        ],
        &[],
    );
    assert_eq!(k8s_without_image.status.code(), Some(2));
    assert!(text(&k8s_without_image.stderr).contains("--image"));
    let image_without_k8s = dataforge(
        dir.path(),
        &["airflow", "export", ".", "--out", "dags", "--image", "x"],
        &[],
    );
    assert_eq!(image_without_k8s.status.code(), Some(2));
    let jinja_workdir = dataforge(
        dir.path(),
        &[
            "airflow",
            "export",
            ".",
            "--out",
            "dags",
            "--workdir",
            "/srv/{{ var.value.x }}",
        ],
        &[],
    );
    assert_eq!(jinja_workdir.status.code(), Some(2));
    assert!(
        text(&jinja_workdir.stderr).contains("Jinja"),
        "{}",
        text(&jinja_workdir.stderr)
    );
    let missing_out = dataforge(dir.path(), &["airflow", "export", "."], &[]);
    assert_eq!(missing_out.status.code(), Some(2));

    let k8s = dataforge(
        dir.path(),
        &[
            "airflow",
            "export",
            "good.json",
            "--out",
            "k8s",
            "--operator",
            "kubernetes",
            "--image",
            "registry.example/dataforge:1",
        ],
        &[],
    );
    assert_eq!(k8s.status.code(), Some(0), "{}", text(&k8s.stderr));
    let view = python_view(&dir.path().join("k8s/good.py"));
    assert!(
        view["calls"].to_string().contains("KubernetesPodOperator"),
        "{view}"
    );
}

#[test]
fn a_connection_defined_for_airflow_loads_into_postgres() {
    let rt = runtime();
    let Some(client) = test_db(&rt, SCHEMA) else {
        return;
    };
    let conn = dataforge_core::Connection::parse("test", &database_url()).expect("uri");
    let airflow_json = json!({
        "conn_type": "postgres",
        "host": conn.host().unwrap_or("127.0.0.1"),
        "port": conn.port().unwrap_or(5432),
        "login": conn.username(),
        "password": conn.password().map(|p| p.expose().to_owned()),
        "schema": conn.path(),
        "extra": {"sslmode": conn.param("sslmode").unwrap_or_else(|| "disable".into())},
    })
    .to_string();
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "in.jsonl",
        "{\"id\": 1}\n{\"id\": 2}\n{\"id\": 3}\n",
    );
    let file = json!({
        "dag_id": "airflow_conn",
        "source": {"type": "file", "path": "in.jsonl"},
        "destination": {"type": "postgres", "conn_id": "warehouse", "schema": SCHEMA,
                        "table": "rows", "write_mode": "replace"},
    });
    write(dir.path(), "p.json", &file.to_string());
    let out = dataforge(
        dir.path(),
        &["run", "p.json"],
        &[("AIRFLOW_CONN_WAREHOUSE", airflow_json.as_str())],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let n: i64 = rt
        .block_on(client.query_one(&format!("SELECT count(*) FROM {SCHEMA}.rows"), &[]))
        .expect("count")
        .get(0);
    assert_eq!(n, 3);

    // DATAFORGE_CONN_ wins: pointing it at a closed port fails the run, whatever Airflow says.
    let out = dataforge(
        dir.path(),
        &["run", "p.json"],
        &[
            ("AIRFLOW_CONN_WAREHOUSE", airflow_json.as_str()),
            (
                "DATAFORGE_CONN_WAREHOUSE",
                "postgres://nobody:hunter2@127.0.0.1:1/none?connect_timeout=2",
            ),
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(!all.contains("hunter2"), "{all}");
    rt.block_on(client.batch_execute(&format!("DROP SCHEMA {SCHEMA} CASCADE")))
        .expect("drop the schema");
}
