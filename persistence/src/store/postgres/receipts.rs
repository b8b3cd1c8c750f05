//! Read and delivered watermarks in Postgres: one row per member who has either, in `reads`.
//! Reading a message delivers it too, so `set_read` raises both (the delivered watermark is
//! never below the read one).

use switchboard_engine::domain::MemberReceipt;
use switchboard_engine::{Position, RoomId, UserId};
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use super::{PostgresStore, id, uid};
use crate::store::StoreError;

/// The migration (an entry of `MIGRATIONS`): what was read was delivered.
pub(super) const MIGRATION: &str = r#"
ALTER TABLE reads ADD COLUMN delivered_epoch BIGINT NOT NULL DEFAULT 0;
ALTER TABLE reads ADD COLUMN delivered_seq BIGINT NOT NULL DEFAULT 0;
UPDATE reads SET delivered_epoch = epoch, delivered_seq = seq;
"#;

fn position(r: &Row, at: usize) -> Position {
    Position::new(uid(r.get(at)), uid(r.get(at + 1)))
}

/// Raises the read watermark (and the delivered one with it); returns the read watermark now
/// stored.
pub(super) async fn set_read(
    store: &PostgresStore,
    room: RoomId,
    user: UserId,
    pos: Position,
) -> Result<Position, StoreError> {
    let params: [&(dyn ToSql + Sync); 4] = [&id(room.0), &id(user.0), &id(pos.epoch), &id(pos.seq)];
    let raised = store
        .query_opt(
            "INSERT INTO reads (room, user_id, epoch, seq, delivered_epoch, delivered_seq)
             VALUES ($1, $2, $3, $4, $3, $4)
             ON CONFLICT (room, user_id) DO UPDATE SET
                 epoch = CASE WHEN (excluded.epoch, excluded.seq) > (reads.epoch, reads.seq)
                         THEN excluded.epoch ELSE reads.epoch END,
                 seq = CASE WHEN (excluded.epoch, excluded.seq) > (reads.epoch, reads.seq)
                       THEN excluded.seq ELSE reads.seq END,
                 delivered_epoch = CASE WHEN (excluded.epoch, excluded.seq)
                                        > (reads.delivered_epoch, reads.delivered_seq)
                                   THEN excluded.epoch ELSE reads.delivered_epoch END,
                 delivered_seq = CASE WHEN (excluded.epoch, excluded.seq)
                                      > (reads.delivered_epoch, reads.delivered_seq)
                                 THEN excluded.seq ELSE reads.delivered_seq END
             WHERE (excluded.epoch, excluded.seq) > (reads.epoch, reads.seq)
                OR (excluded.epoch, excluded.seq) > (reads.delivered_epoch, reads.delivered_seq)
             RETURNING epoch, seq",
            &params,
        )
        .await?;
    let row = match raised {
        Some(row) => row,
        None => {
            store
                .query_one(
                    "SELECT epoch, seq FROM reads WHERE room = $1 AND user_id = $2",
                    &params[..2],
                )
                .await?
        }
    };
    Ok(position(&row, 0))
}

/// Raises the delivered watermark; the new one when it rose, `None` when it was there already.
pub(super) async fn set_delivered(
    store: &PostgresStore,
    room: RoomId,
    user: UserId,
    pos: Position,
) -> Result<Option<Position>, StoreError> {
    let row = store
        .query_opt(
            "INSERT INTO reads (room, user_id, epoch, seq, delivered_epoch, delivered_seq)
             VALUES ($1, $2, 0, 0, $3, $4)
             ON CONFLICT (room, user_id) DO UPDATE SET
                 delivered_epoch = excluded.delivered_epoch,
                 delivered_seq = excluded.delivered_seq
             WHERE (excluded.delivered_epoch, excluded.delivered_seq)
                 > (reads.delivered_epoch, reads.delivered_seq)
             RETURNING delivered_epoch, delivered_seq",
            &[&id(room.0), &id(user.0), &id(pos.epoch), &id(pos.seq)],
        )
        .await?;
    Ok(row.map(|r| position(&r, 0)))
}

/// A page of the room's members, by id after `after`, with their watermarks.
pub(super) async fn receipts(
    store: &PostgresStore,
    room: RoomId,
    after: Option<UserId>,
    limit: u32,
) -> Result<Vec<MemberReceipt>, StoreError> {
    let after = after.map_or(0, |u| u.0);
    let rows = store
        .query(
            "SELECT mb.user_id, coalesce(r.epoch, 0), coalesce(r.seq, 0),
                    coalesce(r.delivered_epoch, 0), coalesce(r.delivered_seq, 0)
             FROM members mb LEFT JOIN reads r ON r.room = mb.room AND r.user_id = mb.user_id
             WHERE mb.room = $1 AND mb.user_id > $2 ORDER BY mb.user_id LIMIT $3",
            &[&id(room.0), &id(after), &i64::from(limit)],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| MemberReceipt::from_stored(UserId(uid(r.get(0))), position(r, 1), position(r, 3)))
        .collect())
}
