//! Upload records in SQLite: the `uploads` table and the `Store` methods over it.

use rusqlite::{OptionalExtension, params};
use switchboard_engine::{AttachmentId, RoomId, UserId};

use super::SqliteStore;
use crate::store::{StoreError, Upload};

/// The migration that adds the table (an entry of `MIGRATIONS`).
pub(super) const MIGRATION: &str = r#"
CREATE TABLE uploads (
    id           INTEGER PRIMARY KEY,
    room         INTEGER NOT NULL REFERENCES rooms(id),
    uploader     INTEGER NOT NULL REFERENCES users(id),
    key          TEXT NOT NULL,
    name         TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size         INTEGER NOT NULL,
    created_ms   INTEGER NOT NULL,
    attached     INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX uploads_by_uploader ON uploads(uploader, created_ms);
CREATE INDEX uploads_unattached ON uploads(created_ms) WHERE attached = 0;
"#;

const COLUMNS: &str = "id, room, uploader, key, name, content_type, size, created_ms, attached";

fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Upload> {
    Ok(Upload {
        id: AttachmentId(r.get(0)?),
        room: RoomId(r.get(1)?),
        uploader: UserId(r.get(2)?),
        key: r.get(3)?,
        name: r.get(4)?,
        content_type: r.get(5)?,
        size: r.get(6)?,
        created_ms: r.get(7)?,
        attached: r.get(8)?,
    })
}

pub(super) async fn create(store: &SqliteStore, upload: &Upload) -> Result<(), StoreError> {
    let u = upload.clone();
    store
        .write(move |c| {
            c.execute(
                &format!(
                    "INSERT INTO uploads ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
                ),
                params![
                    u.id.0,
                    u.room.0,
                    u.uploader.0,
                    u.key,
                    u.name,
                    u.content_type,
                    u.size,
                    u.created_ms,
                    u.attached
                ],
            )?;
            Ok(())
        })
        .await
}

pub(super) async fn get(
    store: &SqliteStore,
    id: AttachmentId,
) -> Result<Option<Upload>, StoreError> {
    store
        .read(move |c| {
            c.query_row(
                &format!("SELECT {COLUMNS} FROM uploads WHERE id = ?1"),
                [id.0],
                from_row,
            )
            .optional()
        })
        .await
}

pub(super) async fn count_since(
    store: &SqliteStore,
    uploader: UserId,
    since_ms: u64,
) -> Result<u32, StoreError> {
    store
        .read(move |c| {
            c.prepare_cached(
                "SELECT count(*) FROM uploads WHERE uploader = ?1 AND created_ms >= ?2",
            )?
            .query_row(params![uploader.0, since_ms], |r| r.get(0))
        })
        .await
}

pub(super) async fn attach(
    store: &SqliteStore,
    id: AttachmentId,
    room: RoomId,
) -> Result<(), StoreError> {
    let changed = store
        .write(move |c| {
            c.prepare_cached("UPDATE uploads SET attached = 1 WHERE id = ?1 AND room = ?2")?
                .execute(params![id.0, room.0])
        })
        .await?;
    if changed == 1 {
        Ok(())
    } else {
        Err(StoreError::NotFound)
    }
}

pub(super) async fn unattached_before(
    store: &SqliteStore,
    before_ms: u64,
    limit: u32,
) -> Result<Vec<Upload>, StoreError> {
    store
        .read(move |c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM uploads WHERE attached = 0 AND created_ms < ?1
                 ORDER BY created_ms, id LIMIT ?2"
            ))?;
            let rows = stmt.query_map(params![before_ms, limit], from_row)?;
            rows.collect()
        })
        .await
}

pub(super) async fn delete_unattached(
    store: &SqliteStore,
    id: AttachmentId,
) -> Result<bool, StoreError> {
    store
        .write(move |c| {
            c.prepare_cached("DELETE FROM uploads WHERE id = ?1 AND attached = 0")?
                .execute([id.0])
        })
        .await
        .map(|n| n == 1)
}
