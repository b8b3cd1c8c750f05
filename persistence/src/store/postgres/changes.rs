//! Edits, deletes, reactions and replies in Postgres (see [`crate::store::changes`]). The
//! search index is an expression index on `text`, so it follows an edit or a delete by itself.

use switchboard_engine::domain::{Attachment, Change, ChatMessage};
use switchboard_engine::{Position, RoomId, UserId};
use tokio_postgres::Client;

use super::{PostgresStore, db, id, uid};
use crate::store::changes::{quote, quoted, react};
use crate::store::{StoreError, Target, attachments};

/// The migration (an entry of `MIGRATIONS`). Columns with constant defaults: no table rewrite.
pub(super) const MIGRATION: &str = r#"
ALTER TABLE messages ADD COLUMN kind SMALLINT NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN ref_epoch BIGINT;
ALTER TABLE messages ADD COLUMN ref_seq BIGINT;
ALTER TABLE messages ADD COLUMN edited BIGINT;
ALTER TABLE messages ADD COLUMN deleted BOOLEAN NOT NULL DEFAULT false;
CREATE TABLE reactions (
    room    BIGINT NOT NULL,
    epoch   BIGINT NOT NULL,
    seq     BIGINT NOT NULL,
    emoji   TEXT NOT NULL,
    user_id BIGINT NOT NULL,
    ts      BIGINT NOT NULL,
    PRIMARY KEY (room, epoch, seq, emoji, user_id)
);
"#;

/// Applies the batch's stored changes (those at `applied`) to their targets, in order, inside
/// the batch's transaction. A target that is not a live message (deleted meanwhile) is left.
pub(super) async fn apply<'a>(
    client: &Client,
    changes: impl Iterator<Item = &'a ChatMessage>,
) -> Result<(), StoreError> {
    for m in changes {
        let Some(change) = m.change.as_deref() else {
            continue;
        };
        let t = change.target();
        let at = [id(m.room.0), id(t.epoch), id(t.seq)];
        match change {
            Change::Edit { .. } => {
                client
                    .execute(
                        "UPDATE messages SET text = $4, edited = $5
                         WHERE room = $1 AND epoch = $2 AND seq = $3 AND kind = 0 AND NOT deleted",
                        &[&at[0], &at[1], &at[2], &m.text, &id(m.ts)],
                    )
                    .await
                    .map_err(db)?;
            }
            Change::Delete { .. } => {
                let old = client
                    .query_opt(
                        "UPDATE messages m SET text = '', attachments = NULL, deleted = true,
                                               pinned_ts = NULL
                         FROM (SELECT attachments FROM messages
                               WHERE room = $1 AND epoch = $2 AND seq = $3 AND kind = 0
                                 AND NOT deleted FOR UPDATE) old
                         WHERE m.room = $1 AND m.epoch = $2 AND m.seq = $3
                         RETURNING old.attachments",
                        &[&at[0], &at[1], &at[2]],
                    )
                    .await
                    .map_err(db)?;
                let Some(old) = old else { continue };
                client
                    .execute(
                        "DELETE FROM reactions WHERE room = $1 AND epoch = $2 AND seq = $3",
                        &[&at[0], &at[1], &at[2]],
                    )
                    .await
                    .map_err(db)?;
                let files: Vec<Attachment> =
                    attachments::decode(old.get(0)).map_err(attachments::corrupt)?;
                let ids: Vec<i64> = files.iter().map(|f| id(f.id.0)).collect();
                if !ids.is_empty() {
                    client
                        .execute(
                            "UPDATE uploads SET attached = false WHERE id = ANY($1) AND room = $2",
                            &[&ids, &at[0]],
                        )
                        .await
                        .map_err(db)?;
                }
            }
            Change::React {
                emoji,
                removed: false,
                ..
            } => {
                client
                    .execute(
                        "INSERT INTO reactions (room, epoch, seq, emoji, user_id, ts)
                         SELECT $1, $2, $3, $4, $5, $6 WHERE EXISTS (
                             SELECT 1 FROM messages WHERE room = $1 AND epoch = $2 AND seq = $3
                             AND kind = 0 AND NOT deleted)
                         ON CONFLICT DO NOTHING",
                        &[&at[0], &at[1], &at[2], emoji, &id(m.sender.0), &id(m.ts)],
                    )
                    .await
                    .map_err(db)?;
            }
            Change::React {
                emoji,
                removed: true,
                ..
            } => {
                client
                    .execute(
                        "DELETE FROM reactions WHERE room = $1 AND epoch = $2 AND seq = $3
                         AND emoji = $4 AND user_id = $5",
                        &[&at[0], &at[1], &at[2], emoji, &id(m.sender.0)],
                    )
                    .await
                    .map_err(db)?;
            }
            Change::Pin { removed, .. } => {
                let pinned = (!removed).then(|| id(m.ts));
                client
                    .execute(
                        "UPDATE messages SET pinned_ts = $4
                         WHERE room = $1 AND epoch = $2 AND seq = $3 AND kind = 0 AND NOT deleted",
                        &[&at[0], &at[1], &at[2], &pinned],
                    )
                    .await
                    .map_err(db)?;
            }
        }
    }
    Ok(())
}

/// The room's pinned messages, the most recently pinned first, at most `limit`, as history
/// shows them to `viewer`.
pub(super) async fn pins(
    store: &PostgresStore,
    room: RoomId,
    viewer: UserId,
    limit: u32,
) -> Result<Vec<ChatMessage>, StoreError> {
    let rows = store
        .query(
            concat!(
                "SELECT ",
                message_columns!(""),
                " FROM messages WHERE room = $1 AND kind = 0 AND pinned_ts IS NOT NULL
                 ORDER BY pinned_ts DESC, epoch DESC, seq DESC LIMIT $2"
            ),
            &[&id(room.0), &i64::from(limit)],
        )
        .await?;
    let mut page = rows
        .iter()
        .map(super::message_from_row)
        .collect::<Result<Vec<_>, _>>()?;
    let order: Vec<Position> = page.iter().map(|m| m.pos).collect();
    page.sort_by_key(|m| m.pos);
    decorate(store, room, Some(viewer), &mut page).await?;
    crate::store::changes::reorder(&mut page, &order);
    Ok(page)
}

/// Fills the quotes of a page's replies with the quoted messages as they are now.
pub(super) async fn quotes(
    store: &PostgresStore,
    page: &mut [ChatMessage],
) -> Result<(), StoreError> {
    let wanted = quoted(page);
    if wanted.is_empty() {
        return Ok(());
    }
    let rooms: Vec<i64> = wanted.iter().map(|(r, _)| id(r.0)).collect();
    let epochs: Vec<i64> = wanted.iter().map(|(_, p)| id(p.epoch)).collect();
    let seqs: Vec<i64> = wanted.iter().map(|(_, p)| id(p.seq)).collect();
    let rows = store
        .query(
            "SELECT m.room, m.epoch, m.seq, m.sender, m.text, m.deleted
             FROM unnest($1::bigint[], $2::bigint[], $3::bigint[]) AS u(room, epoch, seq)
             JOIN messages m ON m.room = u.room AND m.epoch = u.epoch AND m.seq = u.seq
             WHERE m.kind = 0",
            &[&rooms, &epochs, &seqs],
        )
        .await?;
    let found: Vec<_> = rows
        .iter()
        .map(|r| {
            (
                RoomId(uid(r.get(0))),
                Position::new(uid(r.get(1)), uid(r.get(2))),
                UserId(uid(r.get(3))),
                r.get::<_, String>(4),
                r.get::<_, bool>(5),
            )
        })
        .collect();
    quote(page, &found);
    Ok(())
}

/// Fills a page's quotes and, for a reader, each message's reactions.
pub(super) async fn decorate(
    store: &PostgresStore,
    room: RoomId,
    viewer: Option<UserId>,
    page: &mut [ChatMessage],
) -> Result<(), StoreError> {
    quotes(store, page).await?;
    let (Some(viewer), Some(first), Some(last)) = (viewer, page.first(), page.last()) else {
        return Ok(());
    };
    let rows = store
        .query(
            "SELECT epoch, seq, emoji, count(*), bool_or(user_id = $6) FROM reactions
             WHERE room = $1 AND (epoch, seq) >= ($2, $3) AND (epoch, seq) <= ($4, $5)
             GROUP BY epoch, seq, emoji ORDER BY epoch, seq, min(ts), emoji",
            &[
                &id(room.0),
                &id(first.pos.epoch),
                &id(first.pos.seq),
                &id(last.pos.epoch),
                &id(last.pos.seq),
                &id(viewer.0),
            ],
        )
        .await?;
    let rows = rows
        .iter()
        .map(|r| {
            (
                Position::new(uid(r.get(0)), uid(r.get(1))),
                r.get(2),
                r.get::<_, i64>(3) as u32,
                r.get(4),
            )
        })
        .collect();
    react(page, rows);
    Ok(())
}

/// The message at `pos` as a change or a reply needs it (see `Store::target`).
pub(super) async fn target(
    store: &PostgresStore,
    room: RoomId,
    pos: Position,
) -> Result<Option<Target>, StoreError> {
    let at = [id(room.0), id(pos.epoch), id(pos.seq)];
    let Some(row) = store
        .query_opt(
            "SELECT sender, ts, text, deleted, pinned_ts IS NOT NULL FROM messages
             WHERE room = $1 AND epoch = $2 AND seq = $3 AND kind = 0",
            &[&at[0], &at[1], &at[2]],
        )
        .await?
    else {
        return Ok(None);
    };
    let mut target = Target {
        sender: UserId(uid(row.get(0))),
        ts: uid(row.get(1)),
        text: row.get(2),
        deleted: row.get(3),
        pinned: row.get(4),
        reactions: Vec::new(),
    };
    let rows = store
        .query(
            "SELECT emoji, user_id FROM reactions WHERE room = $1 AND epoch = $2 AND seq = $3
             ORDER BY ts, emoji, user_id",
            &[&at[0], &at[1], &at[2]],
        )
        .await?;
    for r in rows {
        target.add(r.get(0), UserId(uid(r.get(1))));
    }
    Ok(Some(target))
}
