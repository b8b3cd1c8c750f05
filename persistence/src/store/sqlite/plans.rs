//! Plans in SQLite: the `plan` column of `users` (migration 8) and the `Store` methods over
//! it. A user gets `free` when created; only `set_plan` changes it.

use rusqlite::{OptionalExtension, params};
use switchboard_engine::UserId;
use switchboard_engine::domain::Plan;

use super::SqliteStore;
use crate::store::StoreError;

/// The migration that adds the column (an entry of `MIGRATIONS`).
pub(super) const MIGRATION: &str = r#"
ALTER TABLE users ADD COLUMN plan TEXT NOT NULL DEFAULT 'free'
    CHECK (plan IN ('free', 'premium'));
"#;

pub(super) async fn set_plan(
    store: &SqliteStore,
    user: UserId,
    plan: Plan,
) -> Result<(), StoreError> {
    let changed = store
        .write(move |c| {
            c.prepare_cached("UPDATE users SET plan = ?2 WHERE id = ?1")?
                .execute(params![user.0, plan.as_str()])
        })
        .await?;
    if changed == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

pub(super) async fn plan(store: &SqliteStore, user: UserId) -> Result<Plan, StoreError> {
    let stored: Option<String> = store
        .read(move |c| {
            c.prepare_cached("SELECT plan FROM users WHERE id = ?1")?
                .query_row([user.0], |r| r.get(0))
                .optional()
        })
        .await?;
    let stored = stored.ok_or(StoreError::NotFound)?;
    Plan::parse(&stored).ok_or_else(|| StoreError::Backend(format!("unknown plan {stored:?}")))
}
