//! The state-store suite against PostgreSQL (a fresh schema per test), plus PostgreSQL's own
//! tests: migrations by two stores and by two processes at once, and the CI rule.
//!
//! The database comes from `DATAFORGE_TEST_DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`); under `CI=true` an unreachable one fails.

mod support;

use std::sync::Arc;

use dataforge_core::{State, StateStore};
use dataforge_state::{POSTGRES_SCHEMA_VERSION, PostgresStateStore};
use support::Fixture;

/// A fresh schema for `test`: dropped first (leftovers of a failed run); the store creates it.
async fn fresh_schema(test: &str) -> Option<(String, String, tokio_postgres::Client)> {
    let url = support::database_url();
    let client = support::pg_connect(&url).await?;
    let schema = format!("dfs_{test}");
    support::drop_schema(&client, &schema).await;
    Some((url, schema, client))
}

async fn open(test: &str) -> Option<Fixture> {
    let (url, schema, _client) = fresh_schema(test).await?;
    let store = PostgresStateStore::connect_in_schema(&url, &schema)
        .await
        .expect("connect");
    assert_eq!(store.schema(), schema);
    Some(Fixture {
        store: Arc::new(store),
        keep: None,
        schema: Some((url, schema)),
    })
}

state_store_suite!(open);

/// The versions in `schema_migrations`, in order.
async fn versions(client: &tokio_postgres::Client, schema: &str) -> Vec<i64> {
    client
        .query(
            &format!(
                "SELECT version FROM {}.schema_migrations ORDER BY version",
                postgres_protocol::escape::escape_identifier(schema)
            ),
            &[],
        )
        .await
        .expect("schema_migrations")
        .iter()
        .map(|r| r.get(0))
        .collect()
}

fn all_versions() -> Vec<i64> {
    (1..=POSTGRES_SCHEMA_VERSION).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_stores_connecting_to_a_fresh_schema_at_once_migrate_it_once() {
    for i in 0..5 {
        let Some((url, schema, client)) = fresh_schema(&format!("two_stores_{i}")).await else {
            return;
        };
        let (a, b) = tokio::join!(
            PostgresStateStore::connect_in_schema(&url, &schema),
            PostgresStateStore::connect_in_schema(&url, &schema)
        );
        let (a, b) = (a.expect("first"), b.expect("second"));
        assert_eq!(versions(&client, &schema).await, all_versions());
        let mut s = State::new();
        s.insert("k".into(), 1.into());
        a.save("p", &s).await.expect("save");
        assert_eq!(b.load("p").await.expect("load"), s);
        drop(
            PostgresStateStore::connect_in_schema(&url, &schema)
                .await
                .expect("again"),
        );
        assert_eq!(versions(&client, &schema).await, all_versions());
        support::drop_schema(&client, &schema).await;
    }
}

const CHILD_SCHEMA: &str = "DATAFORGE_STATE_TEST_CHILD_SCHEMA";

/// The child side of `two_processes_connecting_to_a_fresh_schema_at_once_migrate_it_once`:
/// connects to the schema named by the variable, records a run (a no-op when run on its own).
#[tokio::test]
async fn child_connects_to_the_schema() {
    let Ok(schema) = std::env::var(CHILD_SCHEMA) else {
        return;
    };
    let store = PostgresStateStore::connect_in_schema(&support::database_url(), &schema)
        .await
        .expect("child connect");
    let run = dataforge_core::RunRecord::new(
        "p",
        format!("run-{}", std::process::id()),
        support::at(1, 0),
        dataforge_core::RunTrigger::Manual,
    );
    store.record_run(&run).await.expect("child record");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_connecting_to_a_fresh_schema_at_once_migrate_it_once() {
    for i in 0..3 {
        let Some((_url, schema, client)) = fresh_schema(&format!("two_processes_{i}")).await else {
            return;
        };
        let children: Vec<_> = (0..2)
            .map(|_| {
                support::spawn_test_child(
                    "child_connects_to_the_schema",
                    &[(CHILD_SCHEMA, schema.as_str())],
                )
            })
            .collect();
        tokio::task::spawn_blocking(move || {
            for child in children {
                support::expect_success(child);
            }
        })
        .await
        .expect("children");
        assert_eq!(versions(&client, &schema).await, all_versions());
        let runs: i64 = client
            .query_one(
                &format!(
                    "SELECT count(*) FROM {}.runs",
                    postgres_protocol::escape::escape_identifier(&schema)
                ),
                &[],
            )
            .await
            .expect("count")
            .get(0);
        assert_eq!(runs, 2, "each process recorded its run");
        support::drop_schema(&client, &schema).await;
    }
}

#[tokio::test]
async fn the_default_schema_is_dataforge() {
    assert_eq!(PostgresStateStore::DEFAULT_SCHEMA, "dataforge");
}

#[tokio::test]
async fn an_unreachable_server_is_a_retryable_error_without_the_password() {
    let e = PostgresStateStore::connect("postgres://u:secret-pw@127.0.0.1:1/db?sslmode=disable")
        .await
        .expect_err("nothing listens on port 1");
    assert!(e.is_retryable(), "{e}");
    let chain = dataforge_core::error_chain(&e);
    assert!(!chain.contains("secret-pw"), "{chain}");
    let Err(e) =
        dataforge_state::open_state_store(Some("not a uri"), std::path::Path::new(".")).await
    else {
        panic!("a bad URI must be refused");
    };
    assert!(e.to_string().contains("DATAFORGE_STATE_URL"), "{e}");
}

#[test]
fn a_missing_database_fails_under_ci_and_is_skipped_outside() {
    if std::env::var_os("DATAFORGE_STATE_TEST_CHILD_CI").is_some() {
        return;
    }
    let bad = [
        (
            "DATAFORGE_TEST_DATABASE_URL",
            "postgres://postgres@127.0.0.1:1/test?sslmode=disable",
        ),
        ("DATAFORGE_STATE_TEST_CHILD_CI", "1"),
    ];
    let under_ci =
        support::spawn_test_child("cursors_round_trip", &[bad[0], bad[1], ("CI", "true")])
            .wait_with_output()
            .expect("child");
    assert!(
        !under_ci.status.success(),
        "CI=true must fail without a database"
    );
    let outside =
        support::spawn_test_child("cursors_round_trip", &[bad[0], bad[1], ("CI", "false")])
            .wait_with_output()
            .expect("child");
    assert!(outside.status.success(), "skipped outside CI");
    assert!(String::from_utf8_lossy(&outside.stderr).contains("SKIPPING"));
}

// ---- run claims: several schedulers sharing one store ----

use std::time::Duration;

use dataforge_core::{Claim, ClaimRequest, RunQuery, RunRecord, RunState, RunTrigger};

const LEASE: Duration = Duration::from_secs(30);

fn request(owner: &str, day: u32) -> ClaimRequest {
    ClaimRequest::new(
        "orders",
        support::at(day, 0),
        support::at(day + 1, 0),
        owner,
        format!("run-{owner}-{day}"),
        LEASE,
    )
}

/// The run `claim` ends as with `status`.
fn record(claim: &Claim, status: RunState) -> RunRecord {
    let mut r = RunRecord::new(
        &claim.pipeline_id,
        &claim.run_id,
        claim.logical_date,
        RunTrigger::Scheduled,
    )
    .with_data_interval(claim.logical_date, claim.data_interval_end);
    r.status = status;
    r.attempts = claim.attempt;
    r
}

/// Makes every lease in `schema` lapse, as if its owner stopped heartbeating long ago.
async fn lapse_leases(client: &tokio_postgres::Client, schema: &str) {
    client
        .batch_execute(&format!(
            "UPDATE {}.run_claims SET lease_until = now() - interval '1 second'",
            postgres_protocol::escape::escape_identifier(schema)
        ))
        .await
        .expect("lapse");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_is_granted_once_renewed_by_its_owner_and_finished_for_good() {
    let Some((url, schema, client)) = fresh_schema("claims_once").await else {
        return;
    };
    let store = PostgresStateStore::connect_in_schema(&url, &schema)
        .await
        .expect("connect");
    assert!(store.coordinates_runs());
    let a = store
        .claim_run(&request("a", 1))
        .await
        .expect("claim")
        .expect("granted to the first claimer");
    assert_eq!(
        (a.attempt, a.run_id.as_str(), a.owner.as_str()),
        (1, "run-a-1", "a")
    );
    assert_eq!(
        store.claim_run(&request("b", 1)).await.expect("claim"),
        None
    );
    assert_eq!(
        store.claim_run(&request("a", 1)).await.expect("claim"),
        None,
        "held, not re-entrant"
    );
    assert!(store.renew_claim(&a, LEASE).await.expect("renew"));
    let mut stranger = a.clone();
    stranger.owner = "b".into();
    assert!(!store.renew_claim(&stranger, LEASE).await.expect("renew"));
    // A live lease is no orphan.
    let ids = vec!["orders".to_owned()];
    assert_eq!(
        store.claim_orphan(&ids, "b", LEASE).await.expect("scan"),
        None
    );

    assert!(
        store
            .finish_claim(&a, &record(&a, RunState::Success))
            .await
            .expect("finish")
    );
    let runs = store
        .runs(&RunQuery::pipeline("orders"))
        .await
        .expect("runs");
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].status, RunState::Success);
    // A finished run is never claimed again, even once its lease is long gone.
    lapse_leases(&client, &schema).await;
    assert_eq!(
        store.claim_run(&request("b", 1)).await.expect("claim"),
        None
    );
    assert_eq!(
        store.claim_orphan(&ids, "b", LEASE).await.expect("scan"),
        None
    );
    assert!(!store.renew_claim(&a, LEASE).await.expect("renew"));
    support::drop_schema(&client, &schema).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lapsed_lease_is_taken_over_as_the_next_attempt_and_fences_the_old_owner() {
    let Some((url, schema, client)) = fresh_schema("claims_lapse").await else {
        return;
    };
    let store = PostgresStateStore::connect_in_schema(&url, &schema)
        .await
        .expect("connect");
    let a = store
        .claim_run(&request("a", 1))
        .await
        .expect("claim")
        .expect("granted");
    store
        .record_run(&record(&a, RunState::Running))
        .await
        .expect("record");
    lapse_leases(&client, &schema).await;
    // Another pipeline's scheduler does not take it.
    let others = vec!["customers".to_owned()];
    assert_eq!(
        store.claim_orphan(&others, "b", LEASE).await.expect("scan"),
        None
    );
    let ids = vec!["orders".to_owned()];
    let b = store
        .claim_orphan(&ids, "b", LEASE)
        .await
        .expect("scan")
        .expect("the lapsed run is taken over");
    assert_eq!(
        (b.attempt, b.run_id.as_str(), b.owner.as_str()),
        (2, "run-a-1", "b")
    );
    assert_eq!(b.data_interval_end, support::at(2, 0));
    // The old owner, waking up, holds nothing and records nothing.
    assert!(!store.renew_claim(&a, LEASE).await.expect("renew"));
    assert!(
        !store
            .finish_claim(&a, &record(&a, RunState::Failed))
            .await
            .expect("finish")
    );
    let runs = store
        .runs(&RunQuery::pipeline("orders"))
        .await
        .expect("runs");
    assert_eq!(
        runs[0].status,
        RunState::Running,
        "the old owner's outcome is not recorded"
    );
    assert!(
        store
            .finish_claim(&b, &record(&b, RunState::Success))
            .await
            .expect("finish")
    );
    let runs = store
        .runs(&RunQuery::pipeline("orders"))
        .await
        .expect("runs");
    assert_eq!(
        (runs.len(), runs[0].status, runs[0].attempts),
        (1, RunState::Success, 2)
    );
    support::drop_schema(&client, &schema).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_run_is_released_for_another_scheduler() {
    let Some((url, schema, client)) = fresh_schema("claims_release").await else {
        return;
    };
    let store = PostgresStateStore::connect_in_schema(&url, &schema)
        .await
        .expect("connect");
    let a = store
        .claim_run(&request("a", 1))
        .await
        .expect("claim")
        .expect("granted");
    assert!(
        store
            .finish_claim(&a, &record(&a, RunState::Cancelled))
            .await
            .expect("finish")
    );
    let ids = vec!["orders".to_owned()];
    let b = store
        .claim_orphan(&ids, "b", LEASE)
        .await
        .expect("scan")
        .expect("released, so claimable at once");
    assert_eq!((b.attempt, b.owner.as_str()), (2, "b"));
    support::drop_schema(&client, &schema).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_row_locked_by_another_claimer_is_skipped_not_waited_for() {
    let Some((url, schema, mut client)) = fresh_schema("claims_skip_locked").await else {
        return;
    };
    let store = PostgresStateStore::connect_in_schema(&url, &schema)
        .await
        .expect("connect");
    let a = store
        .claim_run(&request("a", 1))
        .await
        .expect("claim")
        .expect("granted");
    lapse_leases(&client, &schema).await;
    let tx = client.transaction().await.expect("begin");
    tx.batch_execute(&format!(
        "SELECT * FROM {}.run_claims FOR UPDATE",
        postgres_protocol::escape::escape_identifier(&schema)
    ))
    .await
    .expect("lock");
    let ids = vec!["orders".to_owned()];
    let skipped =
        tokio::time::timeout(Duration::from_secs(5), store.claim_orphan(&ids, "b", LEASE))
            .await
            .expect("SKIP LOCKED does not wait for the lock");
    assert_eq!(skipped.expect("scan"), None);
    tx.rollback().await.expect("rollback");
    let b = store.claim_orphan(&ids, "b", LEASE).await.expect("scan");
    assert_eq!(b.map(|c| c.attempt), Some(a.attempt + 1));
    support::drop_schema(&client, &schema).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_concurrent_claimers_exactly_one_wins_each_run() {
    const CLAIMERS: usize = 4;
    const RUNS: u32 = 20;
    let Some((url, schema, client)) = fresh_schema("claims_race").await else {
        return;
    };
    let mut stores = Vec::new();
    for _ in 0..CLAIMERS {
        // A connection each, as separate processes have.
        stores.push(Arc::new(
            PostgresStateStore::connect_in_schema(&url, &schema)
                .await
                .expect("connect"),
        ));
    }
    for day in 1..=RUNS {
        let tasks: Vec<_> = stores
            .iter()
            .enumerate()
            .map(|(i, store)| {
                let store = store.clone();
                let req = request(&format!("owner{i}"), day);
                tokio::spawn(async move { store.claim_run(&req).await.expect("claim") })
            })
            .collect();
        let mut winners = Vec::new();
        for t in tasks {
            winners.extend(t.await.expect("task"));
        }
        assert_eq!(winners.len(), 1, "day {day}: {winners:?}");
        assert_eq!(winners[0].attempt, 1);
    }
    support::drop_schema(&client, &schema).await;
}
