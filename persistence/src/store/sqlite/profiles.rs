//! Profiles in SQLite: the `display_name`, `display_key` and `status` columns of `users`
//! (migration 9) and the `Store` methods over them. `display_key` is the display name folded
//! by [`fold`], what prefix searches compare; the account name is ASCII, so SQLite's `LIKE`
//! (ASCII case-insensitive) compares it, through its `NOCASE` index.

use rusqlite::{OptionalExtension, params};
use switchboard_engine::UserId;
use switchboard_engine::domain::Profile;

use super::SqliteStore;
use crate::store::{MAX_FOUND_USERS, StoreError, fold, prefix_pattern};

/// The migration that adds the columns (an entry of `MIGRATIONS`). `NOCASE` on the key lets
/// `LIKE` use its index (a folded key holds no upper-case ASCII anyway).
pub(super) const MIGRATION: &str = r#"
ALTER TABLE users ADD COLUMN display_name TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN display_key TEXT NOT NULL DEFAULT '' COLLATE NOCASE;
ALTER TABLE users ADD COLUMN status TEXT NOT NULL DEFAULT '';
CREATE INDEX users_by_display_key ON users (display_key);
"#;

const COLUMNS: &str = "id, name, display_name, status";

fn profile_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Profile> {
    Ok(Profile {
        id: UserId(r.get(0)?),
        name: r.get(1)?,
        display_name: r.get(2)?,
        status: r.get(3)?,
    })
}

pub(super) async fn profiles(
    store: &SqliteStore,
    ids: &[UserId],
) -> Result<Vec<Profile>, StoreError> {
    let mut ids = ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    store
        .read(move |c| {
            let mut stmt =
                c.prepare_cached(&format!("SELECT {COLUMNS} FROM users WHERE id = ?1"))?;
            let mut out = Vec::with_capacity(ids.len());
            for id in ids {
                out.extend(stmt.query_row([id.0], profile_from_row).optional()?);
            }
            Ok(out)
        })
        .await
}

pub(super) async fn set_profile(
    store: &SqliteStore,
    user: UserId,
    display_name: Option<&str>,
    status: Option<&str>,
) -> Result<Profile, StoreError> {
    let key = display_name.map(fold);
    let (display_name, status) = (display_name.map(str::to_owned), status.map(str::to_owned));
    store
        .write(move |c| {
            c.prepare_cached(&format!(
                "UPDATE users SET display_name = coalesce(?2, display_name),
                     display_key = coalesce(?3, display_key), status = coalesce(?4, status)
                 WHERE id = ?1 RETURNING {COLUMNS}"
            ))?
            .query_row(params![user.0, display_name, key, status], profile_from_row)
            .optional()
        })
        .await?
        .ok_or(StoreError::NotFound)
}

pub(super) async fn find_users(
    store: &SqliteStore,
    prefix: &str,
    limit: u32,
) -> Result<Vec<Profile>, StoreError> {
    let pattern = prefix_pattern(prefix);
    let limit = limit.min(MAX_FOUND_USERS);
    store
        .read(move |c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM users
                 WHERE name LIKE ?1 ESCAPE '\\' OR display_key LIKE ?1 ESCAPE '\\'
                 ORDER BY name, id LIMIT ?2"
            ))?;
            let rows = stmt.query_map(params![pattern, limit], profile_from_row)?;
            rows.collect()
        })
        .await
}
