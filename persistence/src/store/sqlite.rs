//! The embedded store: one SQLite file in WAL mode. One writer connection, owned by a thread
//! that runs every write with group commit ([`writer`]), and a few reader connections, each
//! behind a `std::sync::Mutex` that is only ever taken inside `spawn_blocking`, never across
//! an `.await`. Users of identity providers are in [`subjects`],
//! plans in [`plans`], profiles in [`profiles`], upload records in [`uploads`], the room list
//! in [`room_list`].

mod changes;
mod plans;
mod profiles;
mod receipts;
mod revocations;
#[macro_use]
mod room_list;
mod subjects;
mod uploads;
mod writer;

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};
use switchboard_engine::domain::{
    ChatMessage, MemberReceipt, Plan, Profile, Role, RoomCursor, RoomInfo, RoomKind, RoomSummary,
    UserInfo,
};
use switchboard_engine::{AttachmentId, Position, RoomId, UserId};

use super::{HistoryQuery, Revocation, Store, StoreError, Target, Upload, attachments};

/// Schema migrations, applied in order and tracked by `PRAGMA user_version`. Never edit a
/// released entry: append a new one.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE COLLATE NOCASE,
    password_hash TEXT NOT NULL,
    created_at    INTEGER NOT NULL DEFAULT (unixepoch())
);
CREATE TABLE rooms (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    kind       TEXT NOT NULL,
    epoch      INTEGER NOT NULL DEFAULT 0,
    direct_key TEXT UNIQUE,
    created_at INTEGER NOT NULL DEFAULT (unixepoch())
);
CREATE TABLE members (
    room INTEGER NOT NULL REFERENCES rooms(id),
    user INTEGER NOT NULL REFERENCES users(id),
    role TEXT NOT NULL,
    PRIMARY KEY (room, user)
) WITHOUT ROWID;
CREATE INDEX members_by_user ON members(user, room);
CREATE TABLE messages (
    room   INTEGER NOT NULL,
    epoch  INTEGER NOT NULL,
    seq    INTEGER NOT NULL,
    sender INTEGER NOT NULL,
    cmid   TEXT NOT NULL,
    text   TEXT NOT NULL,
    ts     INTEGER NOT NULL,
    PRIMARY KEY (room, epoch, seq)
) WITHOUT ROWID;
CREATE UNIQUE INDEX messages_by_cmid ON messages(room, sender, cmid);
CREATE TABLE reads (
    room  INTEGER NOT NULL,
    user  INTEGER NOT NULL,
    epoch INTEGER NOT NULL,
    seq   INTEGER NOT NULL,
    PRIMARY KEY (room, user)
) WITHOUT ROWID;
"#,
    r#"
CREATE VIRTUAL TABLE messages_fts USING fts5(
    text, room UNINDEXED, epoch UNINDEXED, seq UNINDEXED, tokenize = 'unicode61'
);
INSERT INTO messages_fts (text, room, epoch, seq) SELECT text, room, epoch, seq FROM messages;
"#,
    r#"
ALTER TABLE rooms ADD COLUMN owner TEXT;
"#,
    subjects::MIGRATION,
    uploads::MIGRATION,
    // 6: a message's attachments (`store::attachments`).
    r#"
ALTER TABLE messages ADD COLUMN attachments TEXT;
"#,
    // 7: revocations of an identity provider's users.
    revocations::MIGRATION,
    // 8: a user's plan.
    plans::MIGRATION,
    // 9: a user's profile: display name and status.
    profiles::MIGRATION,
    // 10: edits, deletes, reactions and replies.
    changes::MIGRATION,
    // 11: the room list: a member's muted flag and when they joined.
    room_list::MIGRATION,
    // 12: delivered watermarks beside the read ones.
    receipts::MIGRATION,
    // 13: the users a message mentions.
    crate::store::mentions::MIGRATION,
    // 14: pins.
    crate::store::changes::PINS_MIGRATION,
];

const READERS: usize = 4;

pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    writer: writer::Writer,
    readers: Vec<Mutex<Connection>>,
    next_reader: AtomicUsize,
}

fn backend(e: rusqlite::Error) -> StoreError {
    match e {
        rusqlite::Error::SqliteFailure(f, _)
            if f.code == rusqlite::ErrorCode::ConstraintViolation =>
        {
            StoreError::Conflict
        }
        e => StoreError::Backend(e.to_string()),
    }
}

/// Creates the database file readable only by its owner (it holds messages and password
/// hashes) if it does not exist yet. SQLite gives its `-wal` and `-shm` files the database
/// file's mode, so they are private too. An existing file keeps its mode.
fn create_private(path: &Path) -> Result<(), StoreError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(StoreError::Backend(format!(
            "creating {}: {e}",
            path.display()
        ))),
    }
}

fn open(path: &Path, durable: bool) -> Result<Connection, StoreError> {
    let conn = Connection::open(path).map_err(backend)?;
    let sync = if durable { "FULL" } else { "NORMAL" };
    conn.execute_batch(&format!(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = {sync}; PRAGMA busy_timeout = 5000;
         PRAGMA foreign_keys = ON;"
    ))
    .map_err(backend)?;
    // Every statement is prepared once per connection and kept (`prepare_cached`): parsing
    // took a tenth of a node's CPU in a connect storm.
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(conn)
}

/// Prepared statements kept per connection: more than the store has.
const STATEMENT_CACHE: usize = 128;

impl SqliteStore {
    /// Opens (creating if needed) the database file at `path` and applies pending migrations.
    /// `durable` selects `synchronous = FULL`, which survives power loss, not only a crash.
    pub fn open(path: &Path, durable: bool) -> Result<Self, StoreError> {
        create_private(path)?;
        let mut writer = open(path, durable)?;
        migrate(&mut writer)?;
        let readers = (0..READERS)
            .map(|_| open(path, durable).map(Mutex::new))
            .collect::<Result<_, _>>()?;
        Ok(SqliteStore {
            inner: Arc::new(Inner {
                writer: writer::Writer::start(writer)?,
                readers,
                next_reader: AtomicUsize::new(0),
            }),
        })
    }

    async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, rusqlite::Error> + Send + 'static,
    {
        self.inner.writer.write(f).await
    }

    async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, rusqlite::Error> + Send + 'static,
    {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let i = inner.next_reader.fetch_add(1, Ordering::Relaxed) % inner.readers.len();
            let conn = inner.readers[i].lock().unwrap_or_else(|p| p.into_inner());
            f(&conn).map_err(backend)
        })
        .await
        .map_err(|e| StoreError::Backend(e.to_string()))?
    }
}

fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let version: usize = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(backend)?;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version) {
        let tx = conn.transaction().map_err(backend)?;
        tx.execute_batch(sql).map_err(backend)?;
        tx.pragma_update(None, "user_version", i + 1)
            .map_err(backend)?;
        tx.commit().map_err(backend)?;
    }
    Ok(())
}

fn room_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<RoomInfo> {
    let kind: String = row.get(2)?;
    Ok(RoomInfo {
        id: RoomId(row.get(0)?),
        name: row.get(1)?,
        kind: RoomKind::parse(&kind).unwrap_or(RoomKind::Private),
    })
}

fn message_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<ChatMessage> {
    let mut m = ChatMessage {
        room: RoomId(row.get(0)?),
        pos: Position::new(row.get(1)?, row.get(2)?),
        sender: UserId(row.get(3)?),
        cmid: row.get(4)?,
        text: row.get(5)?,
        ts: row.get(6)?,
        attachments: attachments::decode(row.get_ref(7)?.as_str_or_null()?).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(7, rusqlite::types::Type::Text, Box::new(e))
        })?,
        edited: row.get(11)?,
        deleted: row.get(12)?,
        mentions: crate::store::mentions::decode(row.get_ref(13)?.as_str_or_null()?),
        pinned: row.get::<_, Option<i64>>(14)?.is_some(),
        ..ChatMessage::default()
    };
    let reference = match (
        row.get::<_, Option<u64>>(9)?,
        row.get::<_, Option<u64>>(10)?,
    ) {
        (Some(epoch), Some(seq)) => Some(Position::new(epoch, seq)),
        _ => None,
    };
    crate::store::changes::restore(&mut m, row.get(8)?, reference);
    Ok(m)
}

const MESSAGE_COLUMNS: &str = "room, epoch, seq, sender, cmid, text, ts, attachments, kind, ref_epoch, ref_seq, edited, deleted, mentions, pinned_ts";

#[async_trait]
impl Store for SqliteStore {
    async fn create_user(&self, name: &str, password_hash: &str) -> Result<UserInfo, StoreError> {
        let (name, hash) = (name.to_owned(), password_hash.to_owned());
        self.write(move |c| {
            c.prepare_cached("INSERT INTO users (name, password_hash) VALUES (?1, ?2)")?
                .execute(params![name, hash])?;
            Ok(UserInfo {
                id: UserId(c.last_insert_rowid() as u64),
                name,
            })
        })
        .await
    }

    async fn user_by_name(&self, name: &str) -> Result<Option<(UserInfo, String)>, StoreError> {
        let name = name.to_owned();
        self.read(move |c| {
            c.prepare_cached("SELECT id, name, password_hash FROM users WHERE name = ?1")?
                .query_row([name], |r| {
                    Ok((
                        UserInfo {
                            id: UserId(r.get(0)?),
                            name: r.get(1)?,
                        },
                        r.get(2)?,
                    ))
                })
                .optional()
        })
        .await
    }

    async fn user(&self, id: UserId) -> Result<Option<UserInfo>, StoreError> {
        self.read(move |c| {
            c.prepare_cached("SELECT id, name FROM users WHERE id = ?1")?
                .query_row([id.0], |r| {
                    Ok(UserInfo {
                        id: UserId(r.get(0)?),
                        name: r.get(1)?,
                    })
                })
                .optional()
        })
        .await
    }

    async fn external_user(&self, subject: &str, name: &str) -> Result<UserInfo, StoreError> {
        subjects::external_user(self, subject, name).await
    }

    async fn create_room(
        &self,
        name: &str,
        kind: RoomKind,
        owner: UserId,
    ) -> Result<RoomInfo, StoreError> {
        let name = name.to_owned();
        self.write(move |c| {
            let tx = c.savepoint()?;
            tx.prepare_cached("INSERT INTO rooms (name, kind) VALUES (?1, ?2)")?
                .execute(params![name, kind.as_str()])?;
            let id = tx.last_insert_rowid() as u64;
            tx.prepare_cached(concat!(
                "INSERT INTO members (room, user, role, joined_ms) VALUES (?1, ?2, ?3, ",
                joined_now!(),
                ")"
            ))?
            .execute(params![id, owner.0, Role::Owner.as_str()])?;
            tx.commit()?;
            Ok(RoomInfo {
                id: RoomId(id),
                name,
                kind,
            })
        })
        .await
    }

    async fn room(&self, id: RoomId) -> Result<Option<RoomInfo>, StoreError> {
        self.read(move |c| {
            c.prepare_cached("SELECT id, name, kind FROM rooms WHERE id = ?1")?
                .query_row([id.0], room_from_row)
                .optional()
        })
        .await
    }

    async fn direct_room(&self, a: UserId, b: UserId) -> Result<(RoomInfo, bool), StoreError> {
        let (lo, hi) = (a.min(b), a.max(b));
        let key = format!("{lo}:{hi}");
        self.write(move |c| {
            let tx = c.savepoint()?;
            let existing = tx
                .query_row(
                    "SELECT id, name, kind FROM rooms WHERE direct_key = ?1",
                    [&key],
                    room_from_row,
                )
                .optional()?;
            let room = match existing {
                Some(room) => (room, false),
                None => {
                    tx.prepare_cached(
                        "INSERT INTO rooms (name, kind, direct_key) VALUES (?1, 'direct', ?1)",
                    )?
                    .execute([&key])?;
                    let id = tx.last_insert_rowid() as u64;
                    for user in [lo, hi] {
                        tx.prepare_cached(concat!(
                            "INSERT OR IGNORE INTO members (room, user, role, joined_ms)
                             VALUES (?1, ?2, 'member', ",
                            joined_now!(),
                            ")"
                        ))?
                        .execute(params![id, user.0])?;
                    }
                    let room = RoomInfo {
                        id: RoomId(id),
                        name: key,
                        kind: RoomKind::Direct,
                    };
                    (room, true)
                }
            };
            tx.commit()?;
            Ok(room)
        })
        .await
    }

    async fn add_member(&self, room: RoomId, user: UserId, role: Role) -> Result<(), StoreError> {
        self.write(move |c| {
            c.prepare_cached(concat!(
                "INSERT OR IGNORE INTO members (room, user, role, joined_ms) VALUES (?1, ?2, ?3, ",
                joined_now!(),
                ")"
            ))?
            .execute(params![room.0, user.0, role.as_str()])?;
            Ok(())
        })
        .await
    }

    async fn remove_member(&self, room: RoomId, user: UserId) -> Result<(), StoreError> {
        self.write(move |c| {
            c.prepare_cached("DELETE FROM members WHERE room = ?1 AND user = ?2")?
                .execute(params![room.0, user.0])?;
            Ok(())
        })
        .await
    }

    async fn members(&self, room: RoomId) -> Result<Vec<(UserId, Role)>, StoreError> {
        self.read(move |c| {
            let mut stmt = c.prepare_cached("SELECT user, role FROM members WHERE room = ?1")?;
            let rows = stmt.query_map([room.0], |r| {
                let role: String = r.get(1)?;
                Ok((
                    UserId(r.get(0)?),
                    Role::parse(&role).unwrap_or(Role::Member),
                ))
            })?;
            rows.collect()
        })
        .await
    }

    async fn rooms_of(&self, user: UserId) -> Result<Vec<RoomInfo>, StoreError> {
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT r.id, r.name, r.kind FROM members m JOIN rooms r ON r.id = m.room
                 WHERE m.user = ?1 ORDER BY r.id",
            )?;
            let rows = stmt.query_map([user.0], room_from_row)?;
            rows.collect()
        })
        .await
    }

    async fn room_list(
        &self,
        user: UserId,
        before: Option<RoomCursor>,
        limit: u32,
    ) -> Result<Vec<RoomSummary>, StoreError> {
        self.read(move |c| room_list::room_list(c, user, before, limit))
            .await
    }

    async fn set_muted(&self, room: RoomId, user: UserId, muted: bool) -> Result<bool, StoreError> {
        self.write(move |c| room_list::set_muted(c, room, user, muted))
            .await
    }

    async fn is_member(&self, room: RoomId, user: UserId) -> Result<bool, StoreError> {
        self.read(move |c| {
            c.prepare_cached("SELECT EXISTS (SELECT 1 FROM members WHERE room = ?1 AND user = ?2)")?
                .query_row(params![room.0, user.0], |r| r.get(0))
        })
        .await
    }

    async fn shares_room(&self, a: UserId, b: UserId) -> Result<bool, StoreError> {
        self.read(move |c| {
            c.prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM members x JOIN members y ON x.room = y.room
                 WHERE x.user = ?1 AND y.user = ?2)",
            )?
            .query_row(params![a.0, b.0], |r| r.get(0))
        })
        .await
    }

    async fn room_owner(&self, room: RoomId) -> Result<Option<String>, StoreError> {
        self.read(move |c| {
            c.prepare_cached("SELECT owner FROM rooms WHERE id = ?1")?
                .query_row([room.0], |r| r.get::<_, Option<String>>(0))
                .optional()
        })
        .await?
        .ok_or(StoreError::NotFound)
    }

    async fn next_epoch(&self, room: RoomId, owner: &str) -> Result<u64, StoreError> {
        let owner = owner.to_owned();
        self.write(move |c| {
            c.prepare_cached(
                "UPDATE rooms SET epoch = epoch + 1, owner = ?2 WHERE id = ?1 RETURNING epoch",
            )?
            .query_row(params![room.0, owner], |r| r.get(0))
            .optional()
        })
        .await?
        .ok_or(StoreError::NotFound)
    }

    async fn append(&self, batch: Arc<Vec<ChatMessage>>) -> Result<Vec<usize>, StoreError> {
        self.write(move |c| {
            let tx = c.savepoint()?;
            let mut fenced = Vec::new();
            {
                let mut current = tx.prepare_cached("SELECT epoch FROM rooms WHERE id = ?1")?;
                let mut epochs = HashMap::new();
                let mut stmt = tx.prepare_cached(
                    "INSERT OR IGNORE INTO messages
                     (room, epoch, seq, sender, cmid, text, ts, attachments, kind, ref_epoch,
                      ref_seq, fts, mentions)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
                )?;
                // The next full-text entry's rowid, read when first needed (again after a
                // change, which may have added entries).
                let mut next_fts = None;
                for (i, m) in batch.iter().enumerate() {
                    let epoch = match epochs.get(&m.room) {
                        Some(&e) => e,
                        None => {
                            let e: u64 = current
                                .query_row([m.room.0], |r| r.get(0))
                                .optional()?
                                .unwrap_or(0);
                            *epochs.entry(m.room).or_insert(e)
                        }
                    };
                    if m.pos.epoch < epoch {
                        fenced.push(i);
                        continue;
                    }
                    let (kind, reference, text) = crate::store::changes::columns(m);
                    let fts = match kind {
                        crate::store::changes::MESSAGE => match next_fts {
                            Some(n) => Some(n),
                            None => Some(changes::next_fts(&tx)?),
                        },
                        _ => None,
                    };
                    let inserted = stmt.execute(params![
                        m.room.0,
                        m.pos.epoch,
                        m.pos.seq,
                        m.sender.0,
                        m.cmid,
                        text,
                        m.ts,
                        attachments::encode(&m.attachments),
                        kind,
                        reference.map(|p| p.epoch),
                        reference.map(|p| p.seq),
                        fts,
                        crate::store::mentions::encode(&m.mentions)
                    ])?;
                    if inserted == 0 {
                        next_fts = fts;
                        continue;
                    }
                    match fts {
                        Some(rowid) => {
                            changes::index(&tx, rowid, text, m.room, m.pos)?;
                            next_fts = Some(rowid + 1);
                        }
                        None => {
                            changes::apply(&tx, m)?;
                            next_fts = None;
                        }
                    }
                }
            }
            tx.commit()?;
            Ok(fenced)
        })
        .await
    }

    async fn history(&self, room: RoomId, q: HistoryQuery) -> Result<Vec<ChatMessage>, StoreError> {
        let limit = q.limit;
        // A client's history: messages only, as they are now.
        let only = if q.changes { "" } else { "AND kind = 0" };
        self.read(move |c| {
            // Newest page before a position is read backwards, then reversed to oldest first.
            let (sql, bound, newest_first) = match (q.after, q.before) {
                (Some(after), _) => (
                    format!(
                        "SELECT {MESSAGE_COLUMNS} FROM messages WHERE room = ?1 {only}
                         AND (epoch, seq) > (?2, ?3) ORDER BY epoch, seq LIMIT ?4"
                    ),
                    after,
                    false,
                ),
                (None, Some(before)) => (
                    format!(
                        "SELECT {MESSAGE_COLUMNS} FROM messages WHERE room = ?1 {only}
                         AND (epoch, seq) < (?2, ?3) ORDER BY epoch DESC, seq DESC LIMIT ?4"
                    ),
                    before,
                    true,
                ),
                (None, None) => (
                    format!(
                        "SELECT {MESSAGE_COLUMNS} FROM messages WHERE room = ?1 {only}
                         AND (epoch, seq) < (?2, ?3) ORDER BY epoch DESC, seq DESC LIMIT ?4"
                    ),
                    Position::new(i64::MAX as u64, i64::MAX as u64),
                    true,
                ),
            };
            let mut stmt = c.prepare_cached(&sql)?;
            let rows = stmt.query_map(
                params![room.0, bound.epoch as i64, bound.seq as i64, limit],
                message_from_row,
            )?;
            let mut out: Vec<ChatMessage> = rows.collect::<Result<_, _>>()?;
            if newest_first {
                out.reverse();
            }
            let viewer = if q.changes { None } else { q.viewer };
            changes::decorate(c, room, viewer, &mut out)?;
            Ok(out)
        })
        .await
    }

    async fn target(&self, room: RoomId, pos: Position) -> Result<Option<Target>, StoreError> {
        self.read(move |c| changes::target(c, room, pos)).await
    }

    async fn find_cmid(
        &self,
        room: RoomId,
        sender: UserId,
        cmid: &str,
    ) -> Result<Option<Position>, StoreError> {
        let cmid = cmid.to_owned();
        self.read(move |c| {
            c.prepare_cached(
                "SELECT epoch, seq FROM messages WHERE room = ?1 AND sender = ?2 AND cmid = ?3",
            )?
            .query_row(params![room.0, sender.0, cmid], |r| {
                Ok(Position::new(r.get(0)?, r.get(1)?))
            })
            .optional()
        })
        .await
    }

    async fn search(
        &self,
        user: UserId,
        query: &str,
        room: Option<RoomId>,
        limit: u32,
    ) -> Result<Vec<ChatMessage>, StoreError> {
        let terms = super::search_terms(query);
        if terms.is_empty() {
            return Ok(Vec::new());
        }
        // Every term quoted: FTS5 query syntax never comes from the user.
        let matcher = terms
            .iter()
            .map(|t| format!("\"{t}\""))
            .collect::<Vec<_>>()
            .join(" ");
        let room = room.map(|r| r.0 as i64);
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT m.room, m.epoch, m.seq, m.sender, m.cmid, m.text, m.ts, m.attachments,
                        m.kind, m.ref_epoch, m.ref_seq, m.edited, m.deleted, m.mentions,
                        m.pinned_ts
                 FROM messages_fts f
                 JOIN messages m ON m.room = f.room AND m.epoch = f.epoch AND m.seq = f.seq
                 JOIN members mb ON mb.room = m.room AND mb.user = ?1
                 WHERE messages_fts MATCH ?2 AND (?3 IS NULL OR m.room = ?3)
                   AND m.kind = 0 AND m.deleted = 0
                 ORDER BY m.ts DESC, m.room, m.epoch DESC, m.seq DESC LIMIT ?4",
            )?;
            let rows = stmt.query_map(params![user.0, matcher, room, limit], message_from_row)?;
            let mut found = rows.collect::<Result<Vec<_>, _>>()?;
            changes::quotes(c, &mut found)?;
            Ok(found)
        })
        .await
    }

    async fn set_read(
        &self,
        room: RoomId,
        user: UserId,
        pos: Position,
    ) -> Result<Position, StoreError> {
        self.write(move |c| receipts::set_read(c, room, user, pos))
            .await
    }

    async fn pins(
        &self,
        room: RoomId,
        viewer: UserId,
        limit: u32,
    ) -> Result<Vec<ChatMessage>, StoreError> {
        self.read(move |c| changes::pins(c, room, viewer, limit))
            .await
    }

    async fn set_delivered(
        &self,
        room: RoomId,
        user: UserId,
        pos: Position,
    ) -> Result<Option<Position>, StoreError> {
        self.write(move |c| receipts::set_delivered(c, room, user, pos))
            .await
    }

    async fn receipts(
        &self,
        room: RoomId,
        after: Option<UserId>,
        limit: u32,
    ) -> Result<Vec<MemberReceipt>, StoreError> {
        self.read(move |c| receipts::receipts(c, room, after, limit))
            .await
    }

    async fn read_positions(&self, room: RoomId) -> Result<Vec<(UserId, Position)>, StoreError> {
        self.read(move |c| {
            let mut stmt =
                c.prepare_cached("SELECT user, epoch, seq FROM reads WHERE room = ?1")?;
            let rows = stmt.query_map([room.0], |r| {
                Ok((UserId(r.get(0)?), Position::new(r.get(1)?, r.get(2)?)))
            })?;
            rows.collect()
        })
        .await
    }

    async fn create_upload(&self, upload: &Upload) -> Result<(), StoreError> {
        uploads::create(self, upload).await
    }

    async fn upload(&self, id: AttachmentId) -> Result<Option<Upload>, StoreError> {
        uploads::get(self, id).await
    }

    async fn uploads_since(&self, uploader: UserId, since_ms: u64) -> Result<u32, StoreError> {
        uploads::count_since(self, uploader, since_ms).await
    }

    async fn attach_upload(&self, id: AttachmentId, room: RoomId) -> Result<(), StoreError> {
        uploads::attach(self, id, room).await
    }

    async fn unattached_before(
        &self,
        before_ms: u64,
        limit: u32,
    ) -> Result<Vec<Upload>, StoreError> {
        uploads::unattached_before(self, before_ms, limit).await
    }

    async fn delete_unattached(&self, id: AttachmentId) -> Result<bool, StoreError> {
        uploads::delete_unattached(self, id).await
    }

    async fn revoke(&self, revocation: &Revocation) -> Result<(), StoreError> {
        revocations::revoke(self, revocation).await
    }

    async fn revocations_since(
        &self,
        since_ms: u64,
        limit: u32,
    ) -> Result<Vec<Revocation>, StoreError> {
        revocations::since(self, since_ms, limit).await
    }

    async fn set_plan(&self, user: UserId, plan: Plan) -> Result<(), StoreError> {
        plans::set_plan(self, user, plan).await
    }

    async fn plan(&self, user: UserId) -> Result<Plan, StoreError> {
        plans::plan(self, user).await
    }

    async fn profiles(&self, ids: &[UserId]) -> Result<Vec<Profile>, StoreError> {
        profiles::profiles(self, ids).await
    }

    async fn set_profile(
        &self,
        user: UserId,
        display_name: Option<&str>,
        status: Option<&str>,
    ) -> Result<Profile, StoreError> {
        profiles::set_profile(self, user, display_name, status).await
    }

    async fn find_users(&self, prefix: &str, limit: u32) -> Result<Vec<Profile>, StoreError> {
        profiles::find_users(self, prefix, limit).await
    }
}
