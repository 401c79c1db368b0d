//! The PostgreSQL schema, as versioned migrations applied once under an advisory lock.

use tokio_postgres::Client;

/// The migrations, in order: `(version, SQL)`, with `{schema}` for the quoted schema. Plain
/// `CREATE` (no `IF NOT EXISTS`): applying one twice fails loudly rather than passing
/// unnoticed.
pub(super) const MIGRATIONS: &[(i64, &str)] = &[
    (
        1,
        "CREATE TABLE {schema}.runs (
            run_id              text PRIMARY KEY,
            pipeline_id         text NOT NULL,
            logical_date        timestamptz NOT NULL,
            data_interval_start timestamptz NOT NULL,
            data_interval_end   timestamptz NOT NULL,
            run_trigger         text NOT NULL,
            status              text NOT NULL,
            attempts            bigint NOT NULL,
            rows_extracted      bigint NOT NULL,
            rows_rejected       bigint NOT NULL,
            rows_loaded         bigint NOT NULL,
            started_at          timestamptz,
            ended_at            timestamptz,
            duration_seconds    double precision,
            error               text,
            updated_at          timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX runs_pipeline_logical_date ON {schema}.runs (pipeline_id, logical_date);",
    ),
    (
        2,
        "CREATE TABLE {schema}.cursors (
            pipeline_id text PRIMARY KEY,
            state       jsonb NOT NULL,
            updated_at  timestamptz NOT NULL DEFAULT now()
        );",
    ),
    (
        3,
        "CREATE TABLE {schema}.run_claims (
            pipeline_id       text NOT NULL,
            logical_date      timestamptz NOT NULL,
            data_interval_end timestamptz NOT NULL,
            run_id            text NOT NULL,
            owner             text,
            status            text NOT NULL,
            attempt           bigint NOT NULL,
            lease_until       timestamptz NOT NULL,
            updated_at        timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (pipeline_id, logical_date)
        );
        CREATE INDEX run_claims_claimable ON {schema}.run_claims (lease_until)
            WHERE status IN ('queued', 'running');",
    ),
];

/// The latest version applied, or 0 when `schema_migrations` does not exist yet.
async fn current(
    client: &impl tokio_postgres::GenericClient,
    q: &str,
) -> Result<i64, tokio_postgres::Error> {
    let table = format!("{q}.schema_migrations");
    let exists: Option<String> = client
        .query_one("SELECT to_regclass($1)::text", &[&table])
        .await?
        .get(0);
    if exists.is_none() {
        return Ok(0);
    }
    client
        .query_one(
            &format!("SELECT coalesce(max(version), 0) FROM {table}"),
            &[],
        )
        .await
        .map(|r| r.get(0))
}

/// Brings `schema` (quoted as `q`) to the latest version: the version is read, and when it is
/// behind, the migration transaction takes an advisory lock (one per schema), reads it again
/// and applies what is still missing, so two processes starting together apply each
/// migration once.
pub(super) async fn migrate(
    client: &mut Client,
    schema: &str,
    q: &str,
) -> Result<Vec<i64>, tokio_postgres::Error> {
    let latest = MIGRATIONS.last().map_or(0, |(v, _)| *v);
    if current(client, q).await? >= latest {
        return Ok(Vec::new());
    }
    let tx = client.transaction().await?;
    tx.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
        &[&format!("dataforge_state_migrations:{schema}")],
    )
    .await?;
    tx.batch_execute(&format!(
        "CREATE SCHEMA IF NOT EXISTS {q};
         CREATE TABLE IF NOT EXISTS {q}.schema_migrations (
             version    bigint PRIMARY KEY,
             applied_at timestamptz NOT NULL DEFAULT now()
         )"
    ))
    .await?;
    let now = current(&tx, q).await?;
    if now > latest {
        tracing::warn!(
            found = now,
            known = latest,
            "the state database was migrated by a newer dataforge"
        );
    }
    let mut applied = Vec::new();
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > now) {
        tx.batch_execute(&sql.replace("{schema}", q)).await?;
        tx.execute(
            &format!("INSERT INTO {q}.schema_migrations (version, applied_at) VALUES ($1, now())"),
            &[version],
        )
        .await?;
        applied.push(*version);
    }
    tx.commit().await?;
    Ok(applied)
}
