//! The room list in Postgres (see [`crate::store::room_list`]): one statement for the page,
//! then one for the last messages' reactions (and one for quotes, when a last message is a
//! reply).
//!
//! The statement reads each of the user's rooms once (`members_by_user`), finds its last
//! message with a backward scan of the messages' primary key (`LATERAL … LIMIT 1`), sorts the
//! user's rooms by activity in memory (a user has hundreds or thousands, never millions) and
//! keeps one page; only that page's rooms then cost more: their last message by primary key,
//! the read watermark (`reads`' primary key), the unread count (a forward scan of the primary
//! key from the watermark, stopped by `LIMIT` at `UNREAD_PROBE` rows) and, for a direct
//! conversation, the other member's profile.

use switchboard_engine::domain::{ReactionCount, RoomCursor, RoomKind, RoomSummary};
use switchboard_engine::{RoomId, UserId};

use super::{PostgresStore, id, message_from_row, uid};
use crate::store::StoreError;
use crate::store::room_list::{UNREAD_PROBE, bound, mentioned, peer_name, unread};

/// The migration (an entry of `MIGRATIONS`). `joined_ms` of existing members stays NULL (the
/// room's creation stands in); new members get the time of their insert.
pub(super) const MIGRATION: &str = r#"
ALTER TABLE members ADD COLUMN muted BOOLEAN NOT NULL DEFAULT false;
ALTER TABLE members ADD COLUMN joined_ms BIGINT;
ALTER TABLE members ALTER COLUMN joined_ms
    SET DEFAULT (extract(epoch FROM now()) * 1000)::bigint;
"#;

/// The page: the last message's columns first (0–14, as [`message_from_row`] reads them,
/// NULL without one), then the room's. Parameters: the user, the cursor (activity, room),
/// the limit and [`UNREAD_PROBE`]. Public so that the benchmark can `EXPLAIN` it.
pub const ROOM_LIST_PAGE: &str = concat!(
    "WITH mine AS (
         SELECT mb.room, mb.muted, r.name, r.kind, l.epoch, l.seq,
                COALESCE(l.ts, mb.joined_ms,
                         (extract(epoch FROM r.created_at) * 1000)::bigint) AS activity
         FROM members mb
         JOIN rooms r ON r.id = mb.room
         LEFT JOIN LATERAL (
             SELECT m.epoch, m.seq, m.ts FROM messages m
             WHERE m.room = mb.room AND m.kind = 0
             ORDER BY m.epoch DESC, m.seq DESC LIMIT 1
         ) l ON true
         WHERE mb.user_id = $1
     ), page AS (
         SELECT * FROM mine WHERE (activity, room) < ($2, $3)
         ORDER BY activity DESC, room DESC LIMIT $4
     )
     SELECT ",
    message_columns!("l."),
    ", p.room, p.name, p.kind, p.muted, p.activity, u.unread,
            o.id, o.name, o.display_name, o.status, u.mentioned
     FROM page p
     LEFT JOIN messages l ON l.room = p.room AND l.epoch = p.epoch AND l.seq = p.seq
     LEFT JOIN reads rd ON rd.room = p.room AND rd.user_id = $1
     CROSS JOIN LATERAL (
         SELECT count(*) AS unread,
                count(*) FILTER (WHERE strpos(c.mentions, ',' || $1::text || ',') > 0)
                    AS mentioned
         FROM (SELECT n.mentions FROM messages n
               WHERE n.room = p.room
                 AND (n.epoch, n.seq) > (COALESCE(rd.epoch, 0), COALESCE(rd.seq, 0))
                 AND n.kind = 0 AND n.sender <> $1 AND NOT n.deleted
               LIMIT $5) c
     ) u
     LEFT JOIN LATERAL (
         SELECT pu.id, pu.name, pu.display_name, pu.status
         FROM members x JOIN users pu ON pu.id = x.user_id
         WHERE p.kind = 'direct' AND x.room = p.room AND x.user_id <> $1
         ORDER BY x.user_id LIMIT 1
     ) o ON true
     ORDER BY p.activity DESC, p.room DESC"
);

pub(super) async fn room_list(
    store: &PostgresStore,
    user: UserId,
    before: Option<RoomCursor>,
    limit: u32,
) -> Result<Vec<RoomSummary>, StoreError> {
    let (activity, room) = bound(before);
    let rows = store
        .query(
            ROOM_LIST_PAGE,
            &[
                &id(user.0),
                &activity,
                &room,
                &i64::from(limit),
                &i64::from(UNREAD_PROBE),
            ],
        )
        .await?;
    let mut list = Vec::with_capacity(rows.len());
    for r in &rows {
        let last = match r.get::<_, Option<i64>>(1) {
            Some(_) => Some(message_from_row(r)?),
            None => None,
        };
        let kind = RoomKind::parse(r.get(17)).unwrap_or(RoomKind::Private);
        let peer = r
            .get::<_, Option<i64>>(21)
            .map(|peer| switchboard_engine::domain::Profile {
                id: UserId(uid(peer)),
                name: r.get(22),
                display_name: r.get(23),
                status: r.get(24),
            });
        let (unread, unread_more) = unread(uid(r.get(20)));
        list.push(RoomSummary {
            id: RoomId(uid(r.get(15))),
            name: peer.as_ref().map_or_else(|| r.get(16), peer_name),
            kind,
            peer,
            activity: uid(r.get(19)),
            last,
            unread,
            unread_more,
            mentions: mentioned(uid(r.get(25))),
            muted: r.get(18),
        });
    }
    decorate(store, user, &mut list).await?;
    Ok(list)
}

/// Fills the last messages' quotes and reactions (counts, and whether `viewer` is among
/// them), as history shows them.
async fn decorate(
    store: &PostgresStore,
    viewer: UserId,
    list: &mut [RoomSummary],
) -> Result<(), StoreError> {
    let mut last: Vec<_> = list.iter_mut().filter_map(|s| s.last.take()).collect();
    if last.is_empty() {
        return Ok(());
    }
    super::changes::quotes(store, &mut last).await?;
    let rooms: Vec<i64> = last.iter().map(|m| id(m.room.0)).collect();
    let epochs: Vec<i64> = last.iter().map(|m| id(m.pos.epoch)).collect();
    let seqs: Vec<i64> = last.iter().map(|m| id(m.pos.seq)).collect();
    let rows = store
        .query(
            "SELECT r.room, r.epoch, r.seq, r.emoji, count(*), bool_or(r.user_id = $4)
             FROM unnest($1::bigint[], $2::bigint[], $3::bigint[]) AS u(room, epoch, seq)
             JOIN reactions r ON r.room = u.room AND r.epoch = u.epoch AND r.seq = u.seq
             GROUP BY r.room, r.epoch, r.seq, r.emoji
             ORDER BY r.room, r.epoch, r.seq, min(r.ts), r.emoji",
            &[&rooms, &epochs, &seqs, &id(viewer.0)],
        )
        .await?;
    for r in &rows {
        let room = RoomId(uid(r.get(0)));
        if let Some(m) = last.iter_mut().find(|m| m.room == room) {
            m.reactions.push(ReactionCount {
                emoji: r.get(3),
                count: r.get::<_, i64>(4) as u32,
                mine: r.get(5),
            });
        }
    }
    for m in last {
        if let Some(s) = list.iter_mut().find(|s| s.id == m.room) {
            s.last = Some(m);
        }
    }
    Ok(())
}

/// Sets the member's muted flag; false when `user` is not a member of `room`.
pub(super) async fn set_muted(
    store: &PostgresStore,
    room: RoomId,
    user: UserId,
    muted: bool,
) -> Result<bool, StoreError> {
    let changed = store
        .execute(
            "UPDATE members SET muted = $3 WHERE room = $1 AND user_id = $2",
            &[&id(room.0), &id(user.0), &muted],
        )
        .await?;
    Ok(changed == 1)
}
