//! Revocations in SQLite: the `revocations` table (migration 7) and the `Store` methods over
//! it. One row per subject ever revoked: users are bounded, so is the table.

use rusqlite::params;

use super::SqliteStore;
use crate::store::{Revocation, StoreError};

/// The migration that adds the table (an entry of `MIGRATIONS`).
pub(super) const MIGRATION: &str = r#"
CREATE TABLE revocations (
    subject     TEXT PRIMARY KEY,
    before_secs INTEGER NOT NULL,
    recorded_ms INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX revocations_by_time ON revocations(recorded_ms, subject);
"#;

pub(super) async fn revoke(store: &SqliteStore, r: &Revocation) -> Result<(), StoreError> {
    let r = r.clone();
    store
        .write(move |c| {
            c.prepare_cached(
                "INSERT INTO revocations (subject, before_secs, recorded_ms) VALUES (?1, ?2, ?3)
                 ON CONFLICT (subject) DO UPDATE SET
                     before_secs = max(before_secs, excluded.before_secs),
                     recorded_ms = excluded.recorded_ms",
            )?
            .execute(params![r.subject, r.before_secs, r.recorded_ms])
        })
        .await?;
    Ok(())
}

pub(super) async fn since(
    store: &SqliteStore,
    since_ms: u64,
    limit: u32,
) -> Result<Vec<Revocation>, StoreError> {
    store
        .read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT subject, before_secs, recorded_ms FROM revocations
                 WHERE recorded_ms >= ?1 ORDER BY recorded_ms, subject LIMIT ?2",
            )?;
            let rows = stmt.query_map(params![since_ms, limit], |r| {
                Ok(Revocation {
                    subject: r.get(0)?,
                    before_secs: r.get(1)?,
                    recorded_ms: r.get(2)?,
                })
            })?;
            rows.collect()
        })
        .await
}
