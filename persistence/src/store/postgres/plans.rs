//! Plans in Postgres: the `plan` column of `users` (migration 8) and the `Store` methods over
//! it. A user gets `free` when created; only `set_plan` changes it.

use switchboard_engine::UserId;
use switchboard_engine::domain::Plan;

use super::{PostgresStore, id};
use crate::store::StoreError;

/// The migration that adds the column (an entry of `MIGRATIONS`). A column with a constant
/// default is added without rewriting the table.
pub(super) const MIGRATION: &str = r#"
ALTER TABLE users ADD COLUMN plan TEXT NOT NULL DEFAULT 'free'
    CHECK (plan IN ('free', 'premium'));
"#;

pub(super) async fn set_plan(
    store: &PostgresStore,
    user: UserId,
    plan: Plan,
) -> Result<(), StoreError> {
    let changed = store
        .execute(
            "UPDATE users SET plan = $2 WHERE id = $1",
            &[&id(user.0), &plan.as_str()],
        )
        .await?;
    if changed == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

pub(super) async fn plan(store: &PostgresStore, user: UserId) -> Result<Plan, StoreError> {
    let row = store
        .query_opt("SELECT plan FROM users WHERE id = $1", &[&id(user.0)])
        .await?
        .ok_or(StoreError::NotFound)?;
    let stored: &str = row.get(0);
    Plan::parse(stored).ok_or_else(|| StoreError::Backend(format!("unknown plan {stored:?}")))
}
