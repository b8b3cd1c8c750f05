//! Read and delivered watermarks in SQLite: one row per member who has either, in `reads`.
//! Reading a message delivers it too, so `set_read` raises both (the delivered watermark is
//! never below the read one).

use rusqlite::{Connection, OptionalExtension, params};
use switchboard_engine::domain::MemberReceipt;
use switchboard_engine::{Position, RoomId, UserId};

/// The migration (an entry of `MIGRATIONS`): what was read was delivered.
pub(super) const MIGRATION: &str = r#"
ALTER TABLE reads ADD COLUMN delivered_epoch INTEGER NOT NULL DEFAULT 0;
ALTER TABLE reads ADD COLUMN delivered_seq INTEGER NOT NULL DEFAULT 0;
UPDATE reads SET delivered_epoch = epoch, delivered_seq = seq;
"#;

fn position(r: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<Position> {
    Ok(Position::new(r.get(at)?, r.get(at + 1)?))
}

/// Raises the read watermark (and the delivered one with it); returns the read watermark now
/// stored.
pub(super) fn set_read(
    c: &Connection,
    room: RoomId,
    user: UserId,
    pos: Position,
) -> rusqlite::Result<Position> {
    let raised = c
        .prepare_cached(
            "INSERT INTO reads (room, user, epoch, seq, delivered_epoch, delivered_seq)
             VALUES (?1, ?2, ?3, ?4, ?3, ?4)
             ON CONFLICT (room, user) DO UPDATE SET
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
        )?
        .query_row(params![room.0, user.0, pos.epoch, pos.seq], |r| {
            position(r, 0)
        })
        .optional()?;
    match raised {
        Some(read) => Ok(read),
        None => c
            .prepare_cached("SELECT epoch, seq FROM reads WHERE room = ?1 AND user = ?2")?
            .query_row(params![room.0, user.0], |r| position(r, 0)),
    }
}

/// Raises the delivered watermark; the new one when it rose, `None` when it was there already.
pub(super) fn set_delivered(
    c: &Connection,
    room: RoomId,
    user: UserId,
    pos: Position,
) -> rusqlite::Result<Option<Position>> {
    c.prepare_cached(
        "INSERT INTO reads (room, user, epoch, seq, delivered_epoch, delivered_seq)
         VALUES (?1, ?2, 0, 0, ?3, ?4)
         ON CONFLICT (room, user) DO UPDATE SET
             delivered_epoch = excluded.delivered_epoch, delivered_seq = excluded.delivered_seq
         WHERE (excluded.delivered_epoch, excluded.delivered_seq)
             > (reads.delivered_epoch, reads.delivered_seq)
         RETURNING delivered_epoch, delivered_seq",
    )?
    .query_row(params![room.0, user.0, pos.epoch, pos.seq], |r| {
        position(r, 0)
    })
    .optional()
}

/// A page of the room's members, by id after `after`, with their watermarks.
pub(super) fn receipts(
    c: &Connection,
    room: RoomId,
    after: Option<UserId>,
    limit: u32,
) -> rusqlite::Result<Vec<MemberReceipt>> {
    let mut stmt = c.prepare_cached(
        "SELECT mb.user, coalesce(r.epoch, 0), coalesce(r.seq, 0),
                coalesce(r.delivered_epoch, 0), coalesce(r.delivered_seq, 0)
         FROM members mb LEFT JOIN reads r ON r.room = mb.room AND r.user = mb.user
         WHERE mb.room = ?1 AND mb.user > ?2 ORDER BY mb.user LIMIT ?3",
    )?;
    let after = after.map_or(0, |u| u.0);
    let rows = stmt.query_map(params![room.0, after, limit], |r| {
        Ok(MemberReceipt::from_stored(
            UserId(r.get(0)?),
            position(r, 1)?,
            position(r, 3)?,
        ))
    })?;
    rows.collect()
}
