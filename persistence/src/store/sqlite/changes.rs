//! Edits, deletes, reactions and replies in SQLite (see [`crate::store::changes`]).
//!
//! The full-text index (`messages_fts`, an FTS5 table keyed by its own rowid) must follow an
//! edit or a delete, so a message's row remembers its index entry in `messages.fts` (filled for
//! the rows stored before migration 10 by the migration itself, through a temporary index of
//! the entries by position: one pass, never a scan per change).

use rusqlite::{Connection, OptionalExtension, params};
use switchboard_engine::domain::{Attachment, Change, ChatMessage};
use switchboard_engine::{Position, RoomId, UserId};

use crate::store::changes::quote;
use crate::store::{Target, attachments};

/// The migration (an entry of `MIGRATIONS`).
pub(super) const MIGRATION: &str = r#"
ALTER TABLE messages ADD COLUMN kind INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN ref_epoch INTEGER;
ALTER TABLE messages ADD COLUMN ref_seq INTEGER;
ALTER TABLE messages ADD COLUMN edited INTEGER;
ALTER TABLE messages ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN fts INTEGER;
CREATE TEMP TABLE fts_entries AS SELECT rowid AS id, room, epoch, seq FROM messages_fts;
CREATE INDEX temp.fts_entries_by_position ON fts_entries (room, epoch, seq);
UPDATE messages SET fts = (
    SELECT id FROM fts_entries e
    WHERE e.room = messages.room AND e.epoch = messages.epoch AND e.seq = messages.seq
);
DROP TABLE temp.fts_entries;
CREATE TABLE reactions (
    room  INTEGER NOT NULL,
    epoch INTEGER NOT NULL,
    seq   INTEGER NOT NULL,
    emoji TEXT NOT NULL,
    user  INTEGER NOT NULL,
    ts    INTEGER NOT NULL,
    PRIMARY KEY (room, epoch, seq, emoji, user)
) WITHOUT ROWID;
"#;

/// The rowid the next full-text entry takes (the writer is the only one adding entries).
pub(super) fn next_fts(tx: &Connection) -> rusqlite::Result<i64> {
    let last: Option<i64> = tx
        .prepare_cached("SELECT rowid FROM messages_fts ORDER BY rowid DESC LIMIT 1")?
        .query_row([], |r| r.get(0))
        .optional()?;
    Ok(last.unwrap_or(0) + 1)
}

/// Adds `text` to the full-text index as entry `rowid`.
pub(super) fn index(
    tx: &Connection,
    rowid: i64,
    text: &str,
    room: RoomId,
    pos: Position,
) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO messages_fts (rowid, text, room, epoch, seq) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![rowid, text, room.0, pos.epoch, pos.seq])?;
    Ok(())
}

/// Removes a message's full-text entry, if it has one.
fn unindex(tx: &Connection, fts: Option<i64>) -> rusqlite::Result<()> {
    if let Some(rowid) = fts {
        tx.prepare_cached("DELETE FROM messages_fts WHERE rowid = ?1")?
            .execute([rowid])?;
    }
    Ok(())
}

/// Applies a stored change to its target, in the batch's transaction. A target that is not a
/// live message of the room (deleted meanwhile) is left as it is.
pub(super) fn apply(tx: &Connection, m: &ChatMessage) -> rusqlite::Result<()> {
    let Some(change) = m.change.as_deref() else {
        return Ok(());
    };
    let (room, t) = (m.room, change.target());
    let live: Option<(Option<i64>, Option<String>)> = tx
        .prepare_cached(
            "SELECT fts, attachments FROM messages
             WHERE room = ?1 AND epoch = ?2 AND seq = ?3 AND kind = 0 AND deleted = 0",
        )?
        .query_row(params![room.0, t.epoch, t.seq], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .optional()?;
    let Some((fts, files)) = live else {
        return Ok(());
    };
    match change {
        Change::Edit { .. } => {
            unindex(tx, fts)?;
            let rowid = next_fts(tx)?;
            index(tx, rowid, &m.text, room, t)?;
            tx.prepare_cached(
                "UPDATE messages SET text = ?4, edited = ?5, fts = ?6
                 WHERE room = ?1 AND epoch = ?2 AND seq = ?3",
            )?
            .execute(params![room.0, t.epoch, t.seq, m.text, m.ts, rowid])?;
        }
        Change::Delete { .. } => {
            unindex(tx, fts)?;
            tx.prepare_cached(
                "UPDATE messages SET text = '', attachments = NULL, deleted = 1, fts = NULL,
                                     pinned_ts = NULL
                 WHERE room = ?1 AND epoch = ?2 AND seq = ?3",
            )?
            .execute(params![room.0, t.epoch, t.seq])?;
            tx.prepare_cached("DELETE FROM reactions WHERE room = ?1 AND epoch = ?2 AND seq = ?3")?
                .execute(params![room.0, t.epoch, t.seq])?;
            let files: Vec<Attachment> = attachments::decode(files.as_deref()).unwrap_or_default();
            let mut release =
                tx.prepare_cached("UPDATE uploads SET attached = 0 WHERE id = ?1 AND room = ?2")?;
            for file in files {
                release.execute(params![file.id.0, room.0])?;
            }
        }
        Change::React {
            emoji,
            removed: false,
            ..
        } => {
            tx.prepare_cached(
                "INSERT OR IGNORE INTO reactions (room, epoch, seq, emoji, user, ts)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![room.0, t.epoch, t.seq, emoji, m.sender.0, m.ts])?;
        }
        Change::React {
            emoji,
            removed: true,
            ..
        } => {
            tx.prepare_cached(
                "DELETE FROM reactions
                 WHERE room = ?1 AND epoch = ?2 AND seq = ?3 AND emoji = ?4 AND user = ?5",
            )?
            .execute(params![room.0, t.epoch, t.seq, emoji, m.sender.0])?;
        }
        Change::Pin { removed, .. } => {
            tx.prepare_cached(
                "UPDATE messages SET pinned_ts = ?4 WHERE room = ?1 AND epoch = ?2 AND seq = ?3",
            )?
            .execute(params![room.0, t.epoch, t.seq, (!removed).then_some(m.ts)])?;
        }
    }
    Ok(())
}

/// The room's pinned messages, the most recently pinned first, at most `limit`, as history
/// shows them to `viewer`.
pub(super) fn pins(
    c: &Connection,
    room: RoomId,
    viewer: UserId,
    limit: u32,
) -> rusqlite::Result<Vec<ChatMessage>> {
    let mut stmt = c.prepare_cached(&format!(
        "SELECT {} FROM messages WHERE room = ?1 AND kind = 0 AND pinned_ts IS NOT NULL
         ORDER BY pinned_ts DESC, epoch DESC, seq DESC LIMIT ?2",
        super::MESSAGE_COLUMNS
    ))?;
    let mut page = stmt
        .query_map(params![room.0, limit], super::message_from_row)?
        .collect::<Result<Vec<_>, _>>()?;
    let order: Vec<Position> = page.iter().map(|m| m.pos).collect();
    page.sort_by_key(|m| m.pos);
    decorate(c, room, Some(viewer), &mut page)?;
    crate::store::changes::reorder(&mut page, &order);
    Ok(page)
}

/// Fills the quotes of a page's replies with the quoted messages as they are now.
pub(super) fn quotes(c: &Connection, page: &mut [ChatMessage]) -> rusqlite::Result<()> {
    let wanted = crate::store::changes::quoted(page);
    if wanted.is_empty() {
        return Ok(());
    }
    let mut stmt = c.prepare_cached(
        "SELECT sender, text, deleted FROM messages
         WHERE room = ?1 AND epoch = ?2 AND seq = ?3 AND kind = 0",
    )?;
    let mut found = Vec::with_capacity(wanted.len());
    for (room, pos) in wanted {
        let row = stmt
            .query_row(params![room.0, pos.epoch, pos.seq], |r| {
                Ok((UserId(r.get(0)?), r.get::<_, String>(1)?, r.get(2)?))
            })
            .optional()?;
        if let Some((sender, text, deleted)) = row {
            found.push((room, pos, sender, text, deleted));
        }
    }
    quote(page, &found);
    Ok(())
}

/// Fills a page's quotes and, for a reader, each message's reactions.
pub(super) fn decorate(
    c: &Connection,
    room: RoomId,
    viewer: Option<UserId>,
    page: &mut [ChatMessage],
) -> rusqlite::Result<()> {
    quotes(c, page)?;
    let (Some(viewer), Some(first), Some(last)) = (viewer, page.first(), page.last()) else {
        return Ok(());
    };
    let mut stmt = c.prepare_cached(
        "SELECT epoch, seq, emoji, count(*), max(user = ?6) FROM reactions
         WHERE room = ?1 AND (epoch, seq) >= (?2, ?3) AND (epoch, seq) <= (?4, ?5)
         GROUP BY epoch, seq, emoji ORDER BY epoch, seq, min(ts), emoji",
    )?;
    let rows = stmt
        .query_map(
            params![
                room.0,
                first.pos.epoch,
                first.pos.seq,
                last.pos.epoch,
                last.pos.seq,
                viewer.0
            ],
            |r| {
                Ok((
                    Position::new(r.get(0)?, r.get(1)?),
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                ))
            },
        )?
        .collect::<Result<Vec<_>, _>>()?;
    crate::store::changes::react(page, rows);
    Ok(())
}

/// The message at `pos` as a change or a reply needs it; `None` unless it is a message of the
/// room (an edit, delete or reaction is no target).
pub(super) fn target(
    c: &Connection,
    room: RoomId,
    pos: Position,
) -> rusqlite::Result<Option<Target>> {
    let found = c
        .prepare_cached(
            "SELECT sender, ts, text, deleted, pinned_ts IS NOT NULL FROM messages
             WHERE room = ?1 AND epoch = ?2 AND seq = ?3 AND kind = 0",
        )?
        .query_row(params![room.0, pos.epoch, pos.seq], |r| {
            Ok(Target {
                sender: UserId(r.get(0)?),
                ts: r.get(1)?,
                text: r.get(2)?,
                deleted: r.get(3)?,
                pinned: r.get(4)?,
                reactions: Vec::new(),
            })
        })
        .optional()?;
    let Some(mut target) = found else {
        return Ok(None);
    };
    let mut stmt = c.prepare_cached(
        "SELECT emoji, user FROM reactions WHERE room = ?1 AND epoch = ?2 AND seq = ?3
         ORDER BY ts, emoji, user",
    )?;
    let rows = stmt.query_map(params![room.0, pos.epoch, pos.seq], |r| {
        Ok((r.get::<_, String>(0)?, UserId(r.get(1)?)))
    })?;
    for row in rows {
        let (emoji, user) = row?;
        target.add(emoji, user);
    }
    Ok(Some(target))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use switchboard_engine::domain::ChatMessage;

    use super::super::{MIGRATIONS, SqliteStore};
    use super::*;
    use crate::store::Store;

    /// A database written before migration 10: its messages get their full-text entries'
    /// rowids from the migration, so an edit of one replaces its entry (the old words are no
    /// longer found) without a scan.
    #[tokio::test]
    async fn messages_from_before_the_migration_follow_their_edits_in_search() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.sqlite3");
        {
            let c = Connection::open(&path).unwrap();
            for sql in &MIGRATIONS[..9] {
                c.execute_batch(sql).unwrap();
            }
            c.execute_batch(
                "PRAGMA user_version = 9;
                 INSERT INTO users (id, name, password_hash) VALUES (1, 'old', '');
                 INSERT INTO rooms (id, name, kind, epoch) VALUES (1, 'r', 'public', 1);
                 INSERT INTO members (room, user, role) VALUES (1, 1, 'owner');
                 INSERT INTO messages (room, epoch, seq, sender, cmid, text, ts)
                 VALUES (1, 1, 1, 1, 'a', 'walrus talk', 1), (1, 1, 2, 1, 'b', 'walrus too', 2);
                 INSERT INTO messages_fts (text, room, epoch, seq)
                 VALUES ('walrus talk', 1, 1, 1), ('walrus too', 1, 1, 2);",
            )
            .unwrap();
        }
        let store = SqliteStore::open(&path, false).unwrap();
        let (room, user) = (RoomId(1), UserId(1));
        assert_eq!(
            store.search(user, "walrus", None, 10).await.unwrap().len(),
            2
        );
        let edit = ChatMessage {
            room,
            pos: Position::new(1, 3),
            sender: user,
            cmid: "e".into(),
            text: "narwhal talk".into(),
            ts: 3,
            change: Some(Box::new(Change::Edit {
                target: Position::new(1, 1),
            })),
            ..ChatMessage::default()
        };
        store.append(Arc::new(vec![edit])).await.unwrap();
        let found = store.search(user, "walrus", None, 10).await.unwrap();
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].pos, Position::new(1, 2));
        assert_eq!(
            store.search(user, "narwhal", None, 10).await.unwrap().len(),
            1
        );
    }
}
