//! The room list in SQLite (see [`crate::store::room_list`]): one statement orders the user's
//! rooms by activity (each room's last message found by a backward step on the messages'
//! primary key) and cuts the page; then, for the page's rooms only, a few point reads each
//! (last message, watermark and capped unread count, the other member of a direct
//! conversation), cheap on an embedded database.

use rusqlite::{Connection, OptionalExtension, params};
use switchboard_engine::domain::{Profile, RoomCursor, RoomKind, RoomSummary};
use switchboard_engine::{Position, RoomId, UserId};

use super::{MESSAGE_COLUMNS, message_from_row};
use crate::store::room_list::{UNREAD_PROBE, bound, mentioned, peer_name, unread};

/// The migration (an entry of `MIGRATIONS`). SQLite cannot default a new column to the
/// time, so the inserts into `members` set `joined_ms` ([`JOINED_NOW`]); existing members
/// keep NULL (the room's creation stands in).
pub(super) const MIGRATION: &str = r#"
ALTER TABLE members ADD COLUMN muted INTEGER NOT NULL DEFAULT 0;
ALTER TABLE members ADD COLUMN joined_ms INTEGER;
"#;

/// Now in milliseconds since the Unix epoch, as the inserts into `members` record it.
macro_rules! joined_now {
    () => {
        "CAST(unixepoch('subsec') * 1000 AS INTEGER)"
    };
}

pub(super) fn room_list(
    c: &Connection,
    user: UserId,
    before: Option<RoomCursor>,
    limit: u32,
) -> rusqlite::Result<Vec<RoomSummary>> {
    let (activity, room) = bound(before);
    let mut page = c.prepare_cached(
        "SELECT room, name, kind, muted, activity FROM (
             SELECT mb.room, r.name, r.kind, mb.muted,
                    COALESCE((SELECT m.ts FROM messages m WHERE m.room = mb.room AND m.kind = 0
                              ORDER BY m.epoch DESC, m.seq DESC LIMIT 1),
                             mb.joined_ms, r.created_at * 1000) AS activity
             FROM members mb JOIN rooms r ON r.id = mb.room
             WHERE mb.user = ?1)
         WHERE (activity, room) < (?2, ?3)
         ORDER BY activity DESC, room DESC LIMIT ?4",
    )?;
    let rows = page.query_map(params![user.0, activity, room, limit], |r| {
        let kind: String = r.get(2)?;
        Ok(RoomSummary {
            id: RoomId(r.get(0)?),
            name: r.get(1)?,
            kind: RoomKind::parse(&kind).unwrap_or(RoomKind::Private),
            peer: None,
            activity: r.get(4)?,
            last: None,
            unread: 0,
            unread_more: false,
            mentions: 0,
            muted: r.get(3)?,
        })
    })?;
    let mut list = rows.collect::<Result<Vec<_>, _>>()?;
    for s in &mut list {
        fill(c, user, s)?;
    }
    Ok(list)
}

/// One room's last message (as history shows it to `user`), unread count and peer.
fn fill(c: &Connection, user: UserId, s: &mut RoomSummary) -> rusqlite::Result<()> {
    let last = c
        .prepare_cached(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE room = ?1 AND kind = 0
             ORDER BY epoch DESC, seq DESC LIMIT 1"
        ))?
        .query_row([s.id.0], message_from_row)
        .optional()?;
    if let Some(mut m) = last {
        super::changes::decorate(c, s.id, Some(user), std::slice::from_mut(&mut m))?;
        s.last = Some(m);
    }
    let read = c
        .prepare_cached("SELECT epoch, seq FROM reads WHERE room = ?1 AND user = ?2")?
        .query_row(params![s.id.0, user.0], |r| {
            Ok(Position::new(r.get(0)?, r.get(1)?))
        })
        .optional()?
        .unwrap_or_default();
    let (counted, mentions): (u64, u64) = c
        .prepare_cached(
            "SELECT count(*), count(*) FILTER (WHERE instr(mentions, ?6) > 0) FROM (
                 SELECT mentions FROM messages WHERE room = ?1 AND (epoch, seq) > (?2, ?3)
                 AND kind = 0 AND sender <> ?4 AND deleted = 0 LIMIT ?5)",
        )?
        .query_row(
            params![
                s.id.0,
                read.epoch,
                read.seq,
                user.0,
                UNREAD_PROBE,
                crate::store::mentions::needle(user)
            ],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
    (s.unread, s.unread_more) = unread(counted);
    s.mentions = mentioned(mentions);
    if s.kind == RoomKind::Direct {
        let peer = c
            .prepare_cached(
                "SELECT u.id, u.name, u.display_name, u.status
                 FROM members x JOIN users u ON u.id = x.user
                 WHERE x.room = ?1 AND x.user <> ?2 ORDER BY x.user LIMIT 1",
            )?
            .query_row(params![s.id.0, user.0], |r| {
                Ok(Profile {
                    id: UserId(r.get(0)?),
                    name: r.get(1)?,
                    display_name: r.get(2)?,
                    status: r.get(3)?,
                })
            })
            .optional()?;
        if let Some(peer) = peer {
            s.name = peer_name(&peer);
            s.peer = Some(peer);
        }
    }
    Ok(())
}

/// Sets the member's muted flag; false when `user` is not a member of `room`.
pub(super) fn set_muted(
    c: &Connection,
    room: RoomId,
    user: UserId,
    muted: bool,
) -> rusqlite::Result<bool> {
    let changed = c
        .prepare_cached("UPDATE members SET muted = ?3 WHERE room = ?1 AND user = ?2")?
        .execute(params![room.0, user.0, muted])?;
    Ok(changed == 1)
}
