//! Upload records in Postgres: the `uploads` table and the `Store` methods over it.

use switchboard_engine::{AttachmentId, RoomId, UserId};
use tokio_postgres::Row;

use super::{PostgresStore, id, uid};
use crate::store::{StoreError, Upload};

/// The migration that adds the table (an entry of `MIGRATIONS`).
pub(super) const MIGRATION: &str = r#"
CREATE TABLE uploads (
    id           BIGINT PRIMARY KEY,
    room         BIGINT NOT NULL REFERENCES rooms(id),
    uploader     BIGINT NOT NULL REFERENCES users(id),
    key          TEXT NOT NULL,
    name         TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size         BIGINT NOT NULL,
    created_ms   BIGINT NOT NULL,
    attached     BOOLEAN NOT NULL DEFAULT false
);
CREATE INDEX uploads_by_uploader ON uploads (uploader, created_ms);
CREATE INDEX uploads_unattached ON uploads (created_ms) WHERE NOT attached;
"#;

fn from_row(r: &Row) -> Upload {
    Upload {
        id: AttachmentId(uid(r.get(0))),
        room: RoomId(uid(r.get(1))),
        uploader: UserId(uid(r.get(2))),
        key: r.get(3),
        name: r.get(4),
        content_type: r.get(5),
        size: uid(r.get(6)),
        created_ms: uid(r.get(7)),
        attached: r.get(8),
    }
}

pub(super) async fn create(store: &PostgresStore, u: &Upload) -> Result<(), StoreError> {
    store
        .execute(
            "INSERT INTO uploads
                 (id, room, uploader, key, name, content_type, size, created_ms, attached)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            &[
                &id(u.id.0),
                &id(u.room.0),
                &id(u.uploader.0),
                &u.key,
                &u.name,
                &u.content_type,
                &id(u.size),
                &id(u.created_ms),
                &u.attached,
            ],
        )
        .await?;
    Ok(())
}

pub(super) async fn get(
    store: &PostgresStore,
    upload: AttachmentId,
) -> Result<Option<Upload>, StoreError> {
    let row = store
        .query_opt(
            "SELECT id, room, uploader, key, name, content_type, size, created_ms, attached
             FROM uploads WHERE id = $1",
            &[&id(upload.0)],
        )
        .await?;
    Ok(row.as_ref().map(from_row))
}

pub(super) async fn count_since(
    store: &PostgresStore,
    uploader: UserId,
    since_ms: u64,
) -> Result<u32, StoreError> {
    let row = store
        .query_one(
            "SELECT count(*) FROM uploads WHERE uploader = $1 AND created_ms >= $2",
            &[&id(uploader.0), &id(since_ms)],
        )
        .await?;
    Ok(u32::try_from(row.get::<_, i64>(0)).unwrap_or(u32::MAX))
}

pub(super) async fn attach(
    store: &PostgresStore,
    upload: AttachmentId,
    room: RoomId,
) -> Result<(), StoreError> {
    let changed = store
        .execute(
            "UPDATE uploads SET attached = true WHERE id = $1 AND room = $2",
            &[&id(upload.0), &id(room.0)],
        )
        .await?;
    if changed == 1 {
        Ok(())
    } else {
        Err(StoreError::NotFound)
    }
}

pub(super) async fn unattached_before(
    store: &PostgresStore,
    before_ms: u64,
    limit: u32,
) -> Result<Vec<Upload>, StoreError> {
    let rows = store
        .query(
            "SELECT id, room, uploader, key, name, content_type, size, created_ms, attached
             FROM uploads WHERE NOT attached AND created_ms < $1
             ORDER BY created_ms, id LIMIT $2",
            &[&id(before_ms), &i64::from(limit)],
        )
        .await?;
    Ok(rows.iter().map(from_row).collect())
}

pub(super) async fn delete_unattached(
    store: &PostgresStore,
    upload: AttachmentId,
) -> Result<bool, StoreError> {
    let deleted = store
        .execute(
            "DELETE FROM uploads WHERE id = $1 AND NOT attached",
            &[&id(upload.0)],
        )
        .await?;
    Ok(deleted == 1)
}
