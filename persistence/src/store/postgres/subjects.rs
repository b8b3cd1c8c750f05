//! Users of identity providers in the Postgres store: the `subjects` table links a provider's
//! subject (Cognito's `sub`) to the user created the first time it was seen.

use switchboard_engine::UserId;
use switchboard_engine::domain::UserInfo;
use tokio_postgres::Row;

use super::{PostgresStore, db, uid};
use crate::store::{StoreError, names};

/// Appended to the store's migrations.
pub(super) const MIGRATION: &str = r#"
CREATE TABLE subjects (
    subject TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users(id)
);
"#;

pub(super) async fn external_user(
    store: &PostgresStore,
    subject: &str,
    name: &str,
) -> Result<UserInfo, StoreError> {
    const LINKED: &str = "SELECT u.id, u.name FROM subjects s JOIN users u ON u.id = s.user_id
                          WHERE s.subject = $1";
    let user_of = |r: Row| UserInfo {
        id: UserId(uid(r.get(0))),
        name: r.get(1),
    };
    if let Some(row) = store.query_opt(LINKED, &[&subject]).await? {
        return Ok(user_of(row));
    }
    let mut conn = store.conn().await?;
    let tx = conn.client.transaction().await.map_err(db)?;
    for name in names::candidates(name, subject) {
        let added = tx
            .query_opt(
                "INSERT INTO users (name, password_hash) VALUES ($1, '')
                 ON CONFLICT DO NOTHING RETURNING id",
                &[&name],
            )
            .await
            .map_err(db)?;
        let Some(row) = added else { continue };
        let user: i64 = row.get(0);
        // Another node seeing the same subject at once waits here for the first to commit,
        // then links nothing and returns the first one's user; this transaction's user
        // row goes with the rollback.
        let linked = tx
            .execute(
                "INSERT INTO subjects (subject, user_id) VALUES ($1, $2)
                 ON CONFLICT (subject) DO NOTHING",
                &[&subject, &user],
            )
            .await
            .map_err(db)?;
        if linked == 0 {
            tx.rollback().await.map_err(db)?;
            drop(conn);
            let row = store.query_opt(LINKED, &[&subject]).await?;
            return row.map(user_of).ok_or(StoreError::NotFound);
        }
        tx.commit().await.map_err(db)?;
        return Ok(UserInfo {
            id: UserId(uid(user)),
            name,
        });
    }
    Err(StoreError::Conflict)
}
