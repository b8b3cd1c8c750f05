//! Profiles in Postgres: the `display_name`, `display_key` and `status` columns of `users`
//! (migration 9) and the `Store` methods over them. `display_key` is the display name folded
//! by [`fold`] (in Rust, so both stores fold alike whatever the database's locale); account
//! names are ASCII, so `lower(name)` folds them.
//!
//! A prefix search is a range over a `text_pattern_ops` index (byte order, whatever the
//! collation) on each of `lower(name)` and `display_key`, so it reads only the matching
//! entries, also under a prepared statement's generic plan (where a `LIKE $1` could not use
//! the index); `LIKE` then keeps exactly the texts that start with the prefix.

use switchboard_engine::UserId;
use switchboard_engine::domain::Profile;
use tokio_postgres::Row;

use super::{PostgresStore, id, uid};
use crate::store::{MAX_FOUND_USERS, StoreError, fold, prefix_pattern};

/// The migration that adds the columns and the prefix indexes (an entry of `MIGRATIONS`).
/// Columns with a constant default are added without rewriting the table.
pub(super) const MIGRATION: &str = r#"
ALTER TABLE users
    ADD COLUMN display_name TEXT NOT NULL DEFAULT '',
    ADD COLUMN display_key TEXT NOT NULL DEFAULT '',
    ADD COLUMN status TEXT NOT NULL DEFAULT '';
CREATE INDEX users_by_name_prefix ON users (lower(name) text_pattern_ops);
CREATE INDEX users_by_display_key ON users (display_key text_pattern_ops);
"#;

fn profile_from_row(r: &Row) -> Profile {
    Profile {
        id: UserId(uid(r.get(0))),
        name: r.get(1),
        display_name: r.get(2),
        status: r.get(3),
    }
}

pub(super) async fn profiles(
    store: &PostgresStore,
    ids: &[UserId],
) -> Result<Vec<Profile>, StoreError> {
    let ids: Vec<i64> = ids.iter().map(|u| id(u.0)).collect();
    let rows = store
        .query(
            "SELECT id, name, display_name, status FROM users WHERE id = ANY($1) ORDER BY id",
            &[&ids],
        )
        .await?;
    Ok(rows.iter().map(profile_from_row).collect())
}

pub(super) async fn set_profile(
    store: &PostgresStore,
    user: UserId,
    display_name: Option<&str>,
    status: Option<&str>,
) -> Result<Profile, StoreError> {
    let key = display_name.map(fold);
    let row = store
        .query_opt(
            "UPDATE users SET display_name = coalesce($2, display_name),
                 display_key = coalesce($3, display_key), status = coalesce($4, status)
             WHERE id = $1 RETURNING id, name, display_name, status",
            &[&id(user.0), &display_name, &key, &status],
        )
        .await?
        .ok_or(StoreError::NotFound)?;
    Ok(profile_from_row(&row))
}

pub(super) async fn find_users(
    store: &PostgresStore,
    prefix: &str,
    limit: u32,
) -> Result<Vec<Profile>, StoreError> {
    let low = fold(prefix);
    // Every text that starts with `low` sorts (bytewise) from `low` to `low` followed by the
    // greatest character; `LIKE` drops the rest.
    let high = format!("{low}{}", char::MAX);
    let pattern = prefix_pattern(prefix);
    let limit = i64::from(limit.min(MAX_FOUND_USERS));
    let rows = store
        .query(FIND_USERS, &[&low, &high, &pattern, &limit])
        .await?;
    Ok(rows.iter().map(profile_from_row).collect())
}

/// `$1`, `$2`: the range of texts starting with the folded prefix; `$3` its `LIKE` pattern;
/// `$4` the limit.
const FIND_USERS: &str = "SELECT id, name, display_name, status FROM users
     WHERE (lower(name) ~>=~ $1 AND lower(name) ~<~ $2 AND lower(name) LIKE $3)
        OR (display_key ~>=~ $1 AND display_key ~<~ $2 AND display_key LIKE $3)
     ORDER BY lower(name) COLLATE \"C\", id LIMIT $4";

#[cfg(test)]
mod tests {
    use tokio_postgres::NoTls;

    use super::FIND_USERS;
    use crate::store::postgres::{PostgresConfig, PostgresStore};
    use crate::store::scratch::{ScratchDatabase, admin_url};

    /// The search reads the two prefix indexes, under the generic plan a prepared statement
    /// ends up with, rather than every row of `users`.
    #[tokio::test]
    async fn prefix_search_reads_the_indexes() {
        let db = ScratchDatabase::create(&admin_url(), "prefix")
            .await
            .unwrap();
        let config = PostgresConfig {
            url: Some(db.url.clone()),
            pool_size: 1,
            ..PostgresConfig::default()
        };
        PostgresStore::connect(&config)
            .await
            .unwrap()
            .migrate()
            .await
            .unwrap();
        let (client, conn) = tokio_postgres::connect(&db.url, NoTls).await.unwrap();
        tokio::spawn(conn);
        // A table this small would be scanned whole; the question is whether it need be.
        client
            .batch_execute(&format!(
                "SET enable_seqscan = off; SET plan_cache_mode = force_generic_plan;
                 PREPARE find AS {FIND_USERS}"
            ))
            .await
            .unwrap();
        let plan: Vec<String> = client
            .query("EXPLAIN EXECUTE find('zed', 'zed', 'zed%', 20)", &[])
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        let plan = plan.join("\n");
        assert!(!plan.contains("Seq Scan"), "{plan}");
        for index in ["users_by_name_prefix", "users_by_display_key"] {
            assert!(plan.contains(index), "{index} unused:\n{plan}");
        }
    }
}
