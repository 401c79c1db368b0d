//! End-to-end load benchmark: the release `dataforge` CLI loading orders into PostgreSQL,
//! against `psql` loading the same rows (flattened, as CSV) into an identical table, in the same
//! run.
//!
//! ```text
//! cargo bench -p dataforge-benches --bench load
//! DATAFORGE_BENCH_SIZES=100000,1000000 DATAFORGE_BENCH_WORKLOADS=shopify_orders,upsert \
//! DATAFORGE_BENCH_ROUNDS=3 DATAFORGE_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test \
//!     cargo bench -p dataforge-benches --bench load
//! ```
//!
//! The workloads (`DATAFORGE_BENCH_WORKLOADS`, a comma list, default all):
//! - `small`: small orders (~450 B, this crate's generator), every column: file (JSONL) →
//!   `flatten` → `cast` → postgres `replace`, against `psql \copy` of the flat CSV. One run per
//!   size.
//! - `shopify_orders`: Shopify-shaped orders (~1.45 KB, `benches/python/gen_orders.py --seed 7`):
//!   file (JSONL) → `drop_columns` → `flatten` → `select_columns` (15 columns) → `cast` →
//!   postgres `replace` into a table dropped before each run, against `psql \copy` of the same
//!   15 columns as CSV into an empty `CREATE TABLE … (LIKE <dataforge's table>)`.
//! - `upsert`: the same rows into tables that already hold them all (loaded once, untimed):
//!   the postgres destination's `upsert` (primary key `id`) against a psql script that, in one
//!   transaction, copies the CSV into a temporary stage and runs
//!   `INSERT … ON CONFLICT (id) DO UPDATE SET` every other column. DataForge's merge leaves
//!   rows equal to the stored ones alone (`WHERE … IS DISTINCT FROM …`), so with the same
//!   rows it updates none while psql's script rewrites every one: the bench prints DataForge's
//!   inserted/updated counts. Each table is vacuumed (untimed) before its side's run.
//!
//! `shopify_orders` and `upsert` run `DATAFORGE_BENCH_ROUNDS` (default 3) paired rounds,
//! alternating which side goes first, and print each round and the medians. The generated
//! JSONL is cached as `$CARGO_TARGET_DIR/bench-data/orders_{n}_seed7.jsonl` (1 M orders take
//! about 70 s to generate), beside a marker holding its size.
//!
//! Both sides run as child processes under GNU `time` (`/usr/bin/time`, which takes the child's
//! `ru_maxrss` from `wait4`): psql's peak RSS is that; DataForge's is `peak_rss_bytes` of its
//! run report (its own `VmHWM`). The workspace forbids `unsafe`, so the bench cannot call
//! `wait4` itself. The flat CSV for psql is made by the same pipeline with the `file`
//! destination, outside the timed runs.
#![allow(clippy::print_stdout)] // a bench prints its results

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use serde_json::{Value, json};

use dataforge_destinations as _;
use dataforge_sources as _;
use dataforge_transforms as _;

/// The seed given to `gen_orders.py`.
const SEED: u64 = 7;
/// The schema every table of the bench lives in (dropped at the end).
const SCHEMA: &str = "dataforge_bench";
/// The columns `shopify_orders` and `upsert` keep, in order.
const SHOPIFY_COLUMNS: [&str; 15] = [
    "id",
    "order_number",
    "email",
    "created_at",
    "updated_at",
    "currency",
    "financial_status",
    "total_price",
    "subtotal_price",
    "total_tax",
    "customer_id",
    "customer_email",
    "customer_first_name",
    "customer_last_name",
    "tags",
];
const WORKLOADS: [&str; 3] = ["small", "shopify_orders", "upsert"];

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
}

fn dataforge_binary() -> PathBuf {
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "--release", "-q", "-p", "dataforge-cli"])
        .current_dir(workspace_root())
        .status()
        .expect("cargo build the dataforge CLI");
    assert!(status.success(), "building the dataforge CLI failed");
    target_dir().join("release").join("dataforge")
}

/// `"name"`, quoted as an SQL identifier.
fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `schema.table`, quoted.
fn table(name: &str) -> String {
    format!("{}.{}", ident(SCHEMA), ident(name))
}

/// Runs SQL through psql (untimed) and returns its output, trimmed.
fn psql(url: &str, sql: &str) -> String {
    let out = Command::new("psql")
        .args([url, "-v", "ON_ERROR_STOP=1", "-Atqc", sql])
        .output()
        .expect("psql (apt-get install postgresql-client)");
    assert!(
        out.status.success(),
        "psql failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn count_rows(url: &str, name: &str) -> u64 {
    psql(url, &format!("SELECT count(*) FROM {}", table(name)))
        .parse()
        .unwrap_or(0)
}

/// Asserts that two tables of the same columns hold the same rows, duplicates included.
fn assert_same_rows(url: &str, a: &str, b: &str) {
    for (x, y) in [(a, b), (b, a)] {
        let extra = psql(
            url,
            &format!(
                "SELECT count(*) FROM (SELECT * FROM {} EXCEPT ALL SELECT * FROM {}) d",
                table(x),
                table(y)
            ),
        );
        assert_eq!(extra, "0", "{x} holds {extra} rows that {y} does not");
    }
}

/// A child process's wall time and peak RSS.
struct ChildRun {
    seconds: f64,
    /// `ru_maxrss` of the child, from `wait4` (by GNU time), in bytes.
    peak_rss: u64,
}

/// Runs `cmd` (program, arguments, environment and directory as set) under GNU time, which
/// reports the child's peak RSS (`ru_maxrss` from `wait4`) in `rusage_file`; panics when the
/// child fails. The wall time includes `time`'s own fork and exec (about a millisecond).
fn run_with_rusage(cmd: &Command, rusage_file: &Path) -> ChildRun {
    let mut timed = Command::new("/usr/bin/time");
    timed
        .arg("-f")
        .arg("%M")
        .arg("-o")
        .arg(rusage_file)
        .arg(cmd.get_program())
        .args(cmd.get_args());
    for (key, value) in cmd.get_envs() {
        match value {
            Some(v) => timed.env(key, v),
            None => timed.env_remove(key),
        };
    }
    if let Some(dir) = cmd.get_current_dir() {
        timed.current_dir(dir);
    }
    let started = Instant::now();
    let out = timed
        .output()
        .expect("run a child under /usr/bin/time (apt-get install time)");
    let seconds = started.elapsed().as_secs_f64();
    assert!(
        out.status.success(),
        "{:?} failed: {}{}",
        cmd.get_program(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(rusage_file).expect("GNU time's output");
    let kib: u64 = text
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or_else(|| panic!("no peak RSS in GNU time's output: {text:?}"));
    ChildRun {
        seconds,
        peak_rss: kib * 1024,
    }
}

/// Runs a psql command line (`-v ON_ERROR_STOP=1` added), timed, with its peak RSS.
fn psql_timed(url: &str, args: &[&str], dir: &Path) -> ChildRun {
    let mut cmd = Command::new("psql");
    cmd.args([url, "-v", "ON_ERROR_STOP=1"]).args(args);
    run_with_rusage(&cmd, &dir.join("psql.rusage"))
}

/// `"a", "b"`: names quoted as SQL identifiers.
fn ident_list<'a>(names: impl IntoIterator<Item = &'a str>) -> String {
    names.into_iter().map(ident).collect::<Vec<_>>().join(", ")
}

/// The `\copy` that loads `csv` (with a header naming `columns`) into `target`. The CSV is the
/// `file` destination's: an empty field is NULL, `""` an empty string, as `COPY` reads them.
fn copy_command(target: &str, columns: &[String], csv: &Path) -> String {
    format!(
        "\\copy {target} ({}) FROM '{}' WITH (FORMAT csv, HEADER true)",
        ident_list(columns.iter().map(String::as_str)),
        csv.display().to_string().replace('\'', "''")
    )
}

/// The column names in a CSV file's header.
fn csv_header(csv: &Path) -> Vec<String> {
    let mut first = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(std::fs::File::open(csv).expect("open the CSV")),
        &mut first,
    )
    .expect("read the CSV's header");
    first
        .trim_end()
        .split(',')
        .map(|c| c.trim_matches('"').replace("\"\"", "\""))
        .collect()
}

fn pipeline(source: &Path, transforms: Value, destination: Value) -> Value {
    json!({
        "dag_id": "bench_load",
        "schedule_interval": null,
        "start_date": "2026-01-01",
        "source": {"type": "file", "path": source, "format": "jsonl"},
        "transforms": transforms,
        "destination": destination,
    })
}

/// The small orders' transforms: every column kept.
fn small_transforms() -> Value {
    json!([
        {"type": "flatten", "separator": "_"},
        {"type": "cast", "columns": {"total_price": "decimal", "created_at": "timestamp"}}
    ])
}

/// The Shopify orders' transforms: the 15 columns of [`SHOPIFY_COLUMNS`], flat.
fn shopify_transforms() -> Value {
    json!([
        {"type": "drop_columns", "columns": ["line_items", "shipping_address"]},
        {"type": "flatten", "separator": "_"},
        {"type": "select_columns", "columns": SHOPIFY_COLUMNS},
        {"type": "cast", "columns": {"total_price": "float"}}
    ])
}

fn csv_destination(path: &Path) -> Value {
    json!({"type": "file", "path": path, "format": "csv", "write_mode": "replace"})
}

fn postgres_replace(name: &str) -> Value {
    json!({"type": "postgres", "schema": SCHEMA, "table": name, "write_mode": "replace"})
}

fn postgres_upsert(name: &str) -> Value {
    json!({"type": "postgres", "schema": SCHEMA, "table": name, "write_mode": "upsert",
           "primary_key": ["id"]})
}

/// What a DataForge run did, from its wall clock and its `--report`.
struct Run {
    seconds: f64,
    report_seconds: f64,
    rows: u64,
    rows_inserted: Option<u64>,
    rows_updated: Option<u64>,
    peak_rss: u64,
}

/// The bench's fixed surroundings.
struct Bench {
    url: String,
    bin: PathBuf,
    dir: tempfile::TempDir,
    rounds: usize,
}

impl Bench {
    fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Runs a pipeline through the `dataforge` binary (timed: process start to exit).
    fn run_dataforge(&self, name: &str, p: &Value) -> Run {
        let file = self.dir().join(format!("{name}.json"));
        let report = self.dir().join(format!("{name}.report.json"));
        std::fs::write(&file, serde_json::to_vec_pretty(p).expect("json")).expect("write pipeline");
        let mut cmd = Command::new(&self.bin);
        cmd.arg("run")
            .arg(&file)
            .arg("--report")
            .arg(&report)
            .env("DATAFORGE_CONN_POSTGRES_DEFAULT", &self.url)
            .env("DATAFORGE_HOME", self.dir().join("home"))
            .env("RUST_LOG", "warn");
        let child = run_with_rusage(&cmd, &self.dir().join("dataforge.rusage"));
        let text = std::fs::read_to_string(&report).expect("report");
        let v: Value = serde_json::from_str(&text).expect("report json");
        let r = v.get(0).unwrap_or(&v);
        Run {
            seconds: child.seconds,
            report_seconds: r["seconds"]["total"].as_f64().unwrap_or(f64::NAN),
            rows: r["rows_loaded"].as_u64().unwrap_or(0),
            rows_inserted: r["load"]["rows_inserted"].as_u64(),
            rows_updated: r["load"]["rows_updated"].as_u64(),
            peak_rss: r["peak_rss_bytes"].as_u64().unwrap_or(0),
        }
    }
}

/// The Shopify orders of one size: the cached JSONL and the flat CSV made from it.
struct ShopifyData {
    jsonl: PathBuf,
    csv: PathBuf,
}

/// `gen_orders.py --n N --seed 7` as JSONL, cached under the target directory; reused when its
/// size marker matches the file.
fn cached_orders(n: u64) -> PathBuf {
    let data = target_dir().join("bench-data");
    let path = data.join(format!("orders_{n}_seed{SEED}.jsonl"));
    let marker = data.join(format!("orders_{n}_seed{SEED}.jsonl.size"));
    let size = std::fs::metadata(&path).map(|m| m.len()).ok();
    let marked = std::fs::read_to_string(&marker)
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok());
    if size.is_some() && size == marked {
        return path;
    }
    std::fs::create_dir_all(&data).expect("create the bench-data directory");
    let _ = std::fs::remove_file(&marker);
    let tmp = data.join(format!("orders_{n}_seed{SEED}.jsonl.tmp"));
    println!(
        "generating {n} orders (gen_orders.py --seed {SEED}, once) into {}",
        path.display()
    );
    let started = Instant::now();
    let status = Command::new("python3")
        .arg(workspace_root().join("benches/python/gen_orders.py"))
        .args([
            "--n",
            &n.to_string(),
            "--seed",
            &SEED.to_string(),
            "--jsonl",
        ])
        .arg(&tmp)
        .status()
        .expect("python3");
    assert!(status.success(), "gen_orders.py failed");
    std::fs::rename(&tmp, &path).expect("rename the generated orders");
    let len = std::fs::metadata(&path).expect("generated orders").len();
    std::fs::write(&marker, len.to_string()).expect("write the size marker");
    println!("  {len} bytes in {:.1} s", started.elapsed().as_secs_f64());
    path
}

/// The Shopify orders of size `n`, made once per bench run (the JSONL once per target dir).
fn shopify_data<'a>(
    bench: &Bench,
    made: &'a mut HashMap<u64, ShopifyData>,
    n: u64,
) -> &'a ShopifyData {
    made.entry(n).or_insert_with(|| {
        let jsonl = cached_orders(n);
        let csv = bench.dir().join(format!("shopify_{n}.csv"));
        let to_csv = pipeline(&jsonl, shopify_transforms(), csv_destination(&csv));
        let run = bench.run_dataforge("shopify_to_csv", &to_csv);
        assert_eq!(run.rows, n, "the CSV holds every order");
        ShopifyData { jsonl, csv }
    })
}

/// One side of a round: its timed run.
struct Side {
    seconds: f64,
    peak_rss: u64,
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.is_empty() {
        f64::NAN
    } else if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    }
}

/// A round's figures: rows/s of DataForge and psql, their ratio, peak RSS of both (MB).
type Figures = [f64; 5];

fn print_figures(label: &str, [df_rate, ps_rate, ratio, df_rss, ps_rss]: Figures) {
    println!(
        "  {label:<27} dataforge {df_rate:>9.0} rows/s, psql {ps_rate:>9.0} rows/s, ratio {ratio:.2}x; peak RSS dataforge {df_rss:.1} MB, psql {ps_rss:.1} MB"
    );
}

/// Runs `rounds` paired rounds of `n` rows, DataForge first in odd rounds and psql first in
/// even ones, printing each round and the medians (the ratio's median is the median of the
/// rounds' ratios).
fn paired_rounds(
    rounds: usize,
    n: u64,
    mut dataforge: impl FnMut() -> Side,
    mut psql: impl FnMut() -> Side,
) {
    let mut all: Vec<Figures> = Vec::new();
    for round in 1..=rounds {
        let dataforge_first = round % 2 == 1;
        let (df, ps) = if dataforge_first {
            let df = dataforge();
            (df, psql())
        } else {
            let ps = psql();
            (dataforge(), ps)
        };
        let (df_rate, ps_rate) = (n as f64 / df.seconds, n as f64 / ps.seconds);
        let figures = [
            df_rate,
            ps_rate,
            df_rate / ps_rate,
            mb(df.peak_rss),
            mb(ps.peak_rss),
        ];
        let first = if dataforge_first { "dataforge" } else { "psql" };
        print_figures(&format!("round {round} ({first} first):"), figures);
        all.push(figures);
    }
    let median_of = |i: usize| median(all.iter().map(|f| f[i]).collect());
    print_figures(
        &format!("median of {rounds}:"),
        [0, 1, 2, 3, 4].map(median_of),
    );
}

/// `small`: the small orders, every column, one run per size (as the bench always did).
fn small(bench: &Bench, sizes: &[u64]) {
    println!(
        "small orders (~450 B, every column): file (JSONL) -> flatten, cast -> postgres replace, vs psql \\copy (CSV)"
    );
    let url = bench.url.as_str();
    let mut peaks = Vec::new();
    for &n in sizes {
        let jsonl = bench.dir().join(format!("small_orders_{n}.jsonl"));
        dataforge_benches::write_orders_jsonl(&jsonl, n).expect("generate orders");
        // The flat CSV for psql, made by the same transforms (not timed).
        let csv = bench.dir().join(format!("small_orders_{n}.csv"));
        let to_csv = pipeline(&jsonl, small_transforms(), csv_destination(&csv));
        bench.run_dataforge("small_to_csv", &to_csv);
        psql(
            url,
            &format!(
                "DROP TABLE IF EXISTS {}; DROP TABLE IF EXISTS {}",
                table("orders_df"),
                table("orders_psql")
            ),
        );
        let to_pg = pipeline(&jsonl, small_transforms(), postgres_replace("orders_df"));
        let df = bench.run_dataforge("small_to_pg", &to_pg);
        assert_eq!(df.rows, n, "dataforge loaded every row");
        // An identical, empty table for psql (same columns and types).
        psql(
            url,
            &format!(
                "CREATE TABLE {} (LIKE {})",
                table("orders_psql"),
                table("orders_df")
            ),
        );
        let copy = copy_command(&table("orders_psql"), &csv_header(&csv), &csv);
        let ps = psql_timed(url, &["-Atqc", &copy], bench.dir());
        assert_eq!(count_rows(url, "orders_psql"), n, "psql loaded every row");
        let df_rate = n as f64 / df.seconds;
        let psql_rate = n as f64 / ps.seconds;
        println!(
            "N = {n:>9}: dataforge {df_rate:>9.0} rows/s ({:.2} s wall, {:.2} s in-run), psql \\copy {psql_rate:>9.0} rows/s ({:.2} s), ratio {:.2}x, peak RSS dataforge {:.1} MB, psql {:.1} MB",
            df.seconds,
            df.report_seconds,
            ps.seconds,
            df_rate / psql_rate,
            mb(df.peak_rss),
            mb(ps.peak_rss),
        );
        peaks.push((n, df.peak_rss));
    }
    if let [(n1, p1), .., (n2, p2)] = peaks.as_slice() {
        println!(
            "dataforge peak RSS {:.1} MB at N = {n1} vs {:.1} MB at N = {n2}: {:.2}x",
            mb(*p1),
            mb(*p2),
            *p2 as f64 / (*p1).max(1) as f64
        );
    }
}

/// `shopify_orders`: the Shopify orders' 15 columns into an empty table, paired rounds.
fn shopify_orders(bench: &Bench, n: u64, data: &ShopifyData) {
    let url = bench.url.as_str();
    let (df_table, ps_table) = ("shopify_df", "shopify_psql");
    let to_pg = pipeline(
        &data.jsonl,
        shopify_transforms(),
        postgres_replace(df_table),
    );
    let copy = copy_command(&table(ps_table), &csv_header(&data.csv), &data.csv);
    println!("N = {n}:");
    // Round 1 runs DataForge first, so its table exists when psql's is made LIKE it.
    paired_rounds(
        bench.rounds,
        n,
        || {
            psql(url, &format!("DROP TABLE IF EXISTS {}", table(df_table)));
            let run = bench.run_dataforge("shopify_to_pg", &to_pg);
            assert_eq!(run.rows, n, "dataforge loaded every row");
            assert_eq!(
                count_rows(url, df_table),
                n,
                "dataforge's table holds every row"
            );
            Side {
                seconds: run.seconds,
                peak_rss: run.peak_rss,
            }
        },
        || {
            psql(
                url,
                &format!(
                    "DROP TABLE IF EXISTS {0}; CREATE TABLE {0} (LIKE {1})",
                    table(ps_table),
                    table(df_table)
                ),
            );
            let run = psql_timed(url, &["-Atqc", &copy], bench.dir());
            assert_eq!(count_rows(url, ps_table), n, "psql's table holds every row");
            Side {
                seconds: run.seconds,
                peak_rss: run.peak_rss,
            }
        },
    );
    assert_same_rows(url, df_table, ps_table);
    println!("  both tables hold the same {n} rows (EXCEPT ALL both ways: 0)");
}

/// `upsert`: the same rows upserted into tables that already hold them all, paired rounds.
fn upsert(bench: &Bench, n: u64, data: &ShopifyData) {
    let url = bench.url.as_str();
    let (df_table, ps_table) = ("shopify_up_df", "shopify_up_psql");
    let to_pg = pipeline(&data.jsonl, shopify_transforms(), postgres_upsert(df_table));
    // The tables, full (untimed): DataForge's upsert creates its table with PRIMARY KEY (id);
    // psql's is made LIKE it, that key included.
    psql(
        url,
        &format!(
            "DROP TABLE IF EXISTS {}; DROP TABLE IF EXISTS {}",
            table(df_table),
            table(ps_table)
        ),
    );
    let first = bench.run_dataforge("upsert_initial", &to_pg);
    assert_eq!(
        first.rows_inserted,
        Some(n),
        "the first upsert inserts every row"
    );
    psql(
        url,
        &format!(
            "CREATE TABLE {} (LIKE {} INCLUDING INDEXES)",
            table(ps_table),
            table(df_table)
        ),
    );
    let header = csv_header(&data.csv);
    psql_timed(
        url,
        &["-Atqc", &copy_command(&table(ps_table), &header, &data.csv)],
        bench.dir(),
    );
    let keys = |name: &str| {
        psql(
            url,
            &format!(
                "SELECT string_agg(a.attname, ',' ORDER BY k.ord) FROM pg_index i \
                 CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord) \
                 JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum \
                 WHERE i.indrelid = '{}'::regclass AND i.indisprimary",
                table(name)
            ),
        )
    };
    assert_eq!(
        keys(df_table),
        "id",
        "dataforge's table has PRIMARY KEY (id)"
    );
    assert_eq!(keys(ps_table), "id", "psql's table has PRIMARY KEY (id)");
    let set: Vec<String> = header
        .iter()
        .filter(|c| *c != "id")
        .map(|c| format!("{0} = EXCLUDED.{0}", ident(c)))
        .collect();
    let script = format!(
        "CREATE TEMP TABLE stage (LIKE {target}) ON COMMIT DROP;\n{copy}\n\
         INSERT INTO {target} SELECT * FROM stage ON CONFLICT (id) DO UPDATE SET {set};\n",
        target = table(ps_table),
        copy = copy_command("stage", &header, &data.csv),
        set = set.join(", "),
    );
    let script_file = bench.dir().join(format!("upsert_{n}.sql"));
    std::fs::write(&script_file, script).expect("write the upsert script");
    let script_path = script_file.to_string_lossy().into_owned();
    let mut updated = None;
    println!("N = {n}:");
    // Each side's table is vacuumed before its run (untimed), so that the dead rows of the
    // round before do not weigh on the next.
    paired_rounds(
        bench.rounds,
        n,
        || {
            psql(url, &format!("VACUUM {}", table(df_table)));
            let run = bench.run_dataforge("upsert", &to_pg);
            assert_eq!(run.rows, n, "dataforge staged every row");
            assert_eq!(
                count_rows(url, df_table),
                n,
                "dataforge's table holds every row once"
            );
            updated = Some((run.rows_inserted, run.rows_updated));
            Side {
                seconds: run.seconds,
                peak_rss: run.peak_rss,
            }
        },
        || {
            psql(url, &format!("VACUUM {}", table(ps_table)));
            let run = psql_timed(url, &["-1", "-q", "-f", &script_path], bench.dir());
            assert_eq!(
                count_rows(url, ps_table),
                n,
                "psql's table holds every row once"
            );
            Side {
                seconds: run.seconds,
                peak_rss: run.peak_rss,
            }
        },
    );
    if let Some((inserted, updated)) = updated {
        println!(
            "  dataforge's last upsert: {n} rows staged, {} inserted, {} updated (it skips rows equal to the stored ones); psql's updates every row",
            inserted.map_or("?".into(), |v| v.to_string()),
            updated.map_or("?".into(), |v| v.to_string()),
        );
    }
    assert_same_rows(url, df_table, ps_table);
    println!("  both tables hold the same {n} rows (EXCEPT ALL both ways: 0)");
}

fn main() {
    let url = std::env::var("DATAFORGE_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let sizes: Vec<u64> = std::env::var("DATAFORGE_BENCH_SIZES")
        .unwrap_or_else(|_| "100000,1000000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let workloads: Vec<String> = std::env::var("DATAFORGE_BENCH_WORKLOADS")
        .unwrap_or_else(|_| WORKLOADS.join(","))
        .split(',')
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect();
    for w in &workloads {
        assert!(
            WORKLOADS.contains(&w.as_str()),
            "unknown workload {w:?} in DATAFORGE_BENCH_WORKLOADS (known: {})",
            WORKLOADS.join(", ")
        );
    }
    let wants = |w: &str| workloads.iter().any(|x| x == w);
    let bench = Bench {
        bin: dataforge_binary(),
        dir: tempfile::tempdir().expect("tempdir"),
        rounds: env_or("DATAFORGE_BENCH_ROUNDS", 3usize).max(1),
        url,
    };
    psql(
        &bench.url,
        &format!("CREATE SCHEMA IF NOT EXISTS {}", ident(SCHEMA)),
    );
    if wants("small") {
        small(&bench, &sizes);
    }
    let mut data: HashMap<u64, ShopifyData> = HashMap::new();
    if wants("shopify_orders") {
        println!(
            "shopify_orders (~1.45 KB, gen_orders.py --seed {SEED}): file (JSONL) -> drop_columns, flatten, select_columns (15), cast -> postgres replace into a fresh table, vs psql \\copy (CSV of the 15 columns) into an empty table LIKE it; {} paired rounds",
            bench.rounds
        );
        for &n in &sizes {
            shopify_orders(&bench, n, shopify_data(&bench, &mut data, n));
        }
    }
    if wants("upsert") {
        println!(
            "upsert (the shopify_orders rows into a table holding them all, PRIMARY KEY (id)): postgres upsert vs psql -1 (temp stage, \\copy, INSERT ... ON CONFLICT (id) DO UPDATE SET every column); {} paired rounds",
            bench.rounds
        );
        for &n in &sizes {
            upsert(&bench, n, shopify_data(&bench, &mut data, n));
        }
    }
    psql(
        &bench.url,
        &format!("DROP SCHEMA {} CASCADE", ident(SCHEMA)),
    );
}
