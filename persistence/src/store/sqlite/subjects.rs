//! Users of identity providers in the SQLite store: the `subjects` table links a provider's
//! subject (Cognito's `sub`) to the user created the first time it was seen.

use rusqlite::{OptionalExtension, params};
use switchboard_engine::UserId;
use switchboard_engine::domain::UserInfo;

use super::SqliteStore;
use crate::store::{StoreError, names};

/// Appended to the store's migrations.
pub(super) const MIGRATION: &str = r#"
CREATE TABLE subjects (
    subject TEXT PRIMARY KEY,
    user    INTEGER NOT NULL REFERENCES users(id)
) WITHOUT ROWID;
"#;

fn user_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<UserInfo> {
    Ok(UserInfo {
        id: UserId(row.get(0)?),
        name: row.get(1)?,
    })
}

pub(super) async fn external_user(
    store: &SqliteStore,
    subject: &str,
    name: &str,
) -> Result<UserInfo, StoreError> {
    const LINKED: &str = "SELECT u.id, u.name FROM subjects s JOIN users u ON u.id = s.user
                          WHERE s.subject = ?1";
    let subject = subject.to_owned();
    let key = subject.clone();
    let linked = store
        .read(move |c| c.query_row(LINKED, [key], user_from_row).optional())
        .await?;
    if let Some(user) = linked {
        return Ok(user);
    }
    let names = names::candidates(name, &subject);
    // One writer: the check and the insert cannot interleave with another first sighting.
    store
        .write(move |c| {
            let tx = c.savepoint()?;
            if let Some(user) = tx.query_row(LINKED, [&subject], user_from_row).optional()? {
                return Ok(Some(user));
            }
            for name in names {
                let added = tx.prepare_cached("INSERT INTO users (name, password_hash) VALUES (?1, '') ON CONFLICT DO NOTHING")?.execute([&name],
            )?;
                if added == 1 {
                    let id = tx.last_insert_rowid();
                    tx.prepare_cached("INSERT INTO subjects (subject, user) VALUES (?1, ?2)")?.execute(params![subject, id],
                    )?;
                    tx.commit()?;
                    return Ok(Some(UserInfo {
                        id: UserId(id as u64),
                        name,
                    }));
                }
            }
            Ok(None)
        })
        .await?
        .ok_or(StoreError::Conflict)
}
