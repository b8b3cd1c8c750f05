//! Revocations in Postgres: the `revocations` table (migration 7) and the `Store` methods over
//! it. One row per subject ever revoked: users are bounded, so is the table.

use super::{PostgresStore, id, uid};
use crate::store::{Revocation, StoreError};

/// The migration that adds the table (an entry of `MIGRATIONS`).
pub(super) const MIGRATION: &str = r#"
CREATE TABLE revocations (
    subject     TEXT PRIMARY KEY,
    before_secs BIGINT NOT NULL,
    recorded_ms BIGINT NOT NULL
);
CREATE INDEX revocations_by_time ON revocations (recorded_ms, subject);
"#;

pub(super) async fn revoke(store: &PostgresStore, r: &Revocation) -> Result<(), StoreError> {
    store
        .execute(
            "INSERT INTO revocations (subject, before_secs, recorded_ms) VALUES ($1, $2, $3)
             ON CONFLICT (subject) DO UPDATE SET
                 before_secs = GREATEST(revocations.before_secs, EXCLUDED.before_secs),
                 recorded_ms = EXCLUDED.recorded_ms",
            &[&r.subject, &id(r.before_secs), &id(r.recorded_ms)],
        )
        .await?;
    Ok(())
}

pub(super) async fn since(
    store: &PostgresStore,
    since_ms: u64,
    limit: u32,
) -> Result<Vec<Revocation>, StoreError> {
    let rows = store
        .query(
            "SELECT subject, before_secs, recorded_ms FROM revocations
             WHERE recorded_ms >= $1 ORDER BY recorded_ms, subject LIMIT $2",
            &[&id(since_ms), &i64::from(limit)],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| Revocation {
            subject: r.get(0),
            before_secs: uid(r.get(1)),
            recorded_ms: uid(r.get(2)),
        })
        .collect())
}
