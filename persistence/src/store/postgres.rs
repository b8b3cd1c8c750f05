//! The production store: PostgreSQL through a bb8 pool of tokio-postgres connections.
//!
//! Ids are `BIGINT` (positive, so `u64` ⇄ `i64` is lossless). Batches are stored with one
//! multi-row `INSERT … SELECT FROM unnest(…) ON CONFLICT DO NOTHING` per batch, so a retried
//! batch never duplicates. Migrations are versioned in `schema_migrations`; a released
//! migration is never edited, only followed by a new one. Users of identity providers are in
//! [`subjects`], plans in [`plans`], profiles in [`profiles`], upload records in [`uploads`],
//! the room list in [`room_list`].

mod plans;
mod profiles;
mod receipts;
mod revocations;
mod subjects;
mod uploads;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use switchboard_engine::domain::{
    ChatMessage, MemberReceipt, Plan, Profile, Role, RoomCursor, RoomInfo, RoomKind, RoomSummary,
    UserInfo,
};
use switchboard_engine::settings::secs;
use switchboard_engine::{AttachmentId, Position, RoomId, UserId};
use tokio_postgres::Row;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;

use super::pg_pool::{CachingManager, PgPool};
use super::{HistoryQuery, Revocation, Store, StoreError, Target, Upload, attachments};

/// Versioned schema migrations, applied in order inside one transaction each.
pub const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE users (
    id            BIGSERIAL PRIMARY KEY,
    name          TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_by_name ON users (lower(name));
CREATE TABLE rooms (
    id         BIGSERIAL PRIMARY KEY,
    name       TEXT NOT NULL,
    kind       TEXT NOT NULL,
    epoch      BIGINT NOT NULL DEFAULT 0,
    direct_key TEXT UNIQUE,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE TABLE members (
    room    BIGINT NOT NULL REFERENCES rooms(id),
    user_id BIGINT NOT NULL REFERENCES users(id),
    role    TEXT NOT NULL,
    PRIMARY KEY (room, user_id)
);
CREATE INDEX members_by_user ON members (user_id, room);
CREATE TABLE messages (
    room   BIGINT NOT NULL,
    epoch  BIGINT NOT NULL,
    seq    BIGINT NOT NULL,
    sender BIGINT NOT NULL,
    cmid   TEXT NOT NULL,
    text   TEXT NOT NULL,
    ts     BIGINT NOT NULL,
    PRIMARY KEY (room, epoch, seq)
);
CREATE UNIQUE INDEX messages_by_cmid ON messages (room, sender, cmid);
CREATE TABLE reads (
    room    BIGINT NOT NULL,
    user_id BIGINT NOT NULL,
    epoch   BIGINT NOT NULL,
    seq     BIGINT NOT NULL,
    PRIMARY KEY (room, user_id)
);
"#,
    r#"
CREATE INDEX messages_by_words ON messages USING GIN (to_tsvector('simple', text));
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
    super::mentions::MIGRATION,
    // 14: pins.
    super::changes::PINS_MIGRATION,
];

/// Advisory lock key held while migrating ("sbmigrat" as ASCII).
const MIGRATION_LOCK: i64 = 0x7362_6d69_6772_6174;

/// `[database]` in the node's configuration, deserialised directly: Postgres, for production.
/// Unset `url` keeps the embedded SQLite store.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PostgresConfig {
    /// e.g. `postgres://switchboard@db.internal:5432/switchboard`. When set, all durable state
    /// lives in Postgres; [`PostgresStore::connect`] fails without it.
    pub url: Option<String>,
    /// Connections in the pool.
    pub pool_size: u32,
    /// `connect_timeout_secs`: how long to wait for a pooled connection while every one is
    /// busy, and for one attempt to connect. A checkout fails at once when an attempt fails
    /// (refused, authentication, unknown database), naming the address and the cause; at
    /// start-up an unreachable server is tried again for this long.
    #[serde(rename = "connect_timeout_secs", with = "secs")]
    pub connect_timeout: Duration,
    /// Prepare hot statements once per pooled connection rather than on every query.
    pub statement_cache: bool,
    /// Apply pending schema migrations at start-up (read by the node). Turn off when
    /// migrating separately with `switchboard migrate`.
    pub migrate_on_start: bool,
}

impl Default for PostgresConfig {
    fn default() -> Self {
        PostgresConfig {
            url: None,
            pool_size: 16,
            connect_timeout: Duration::from_secs(5),
            statement_cache: true,
            migrate_on_start: true,
        }
    }
}

type Manager = CachingManager;

pub struct PostgresStore {
    pool: PgPool,
}

fn backend(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string())
}

fn db(e: tokio_postgres::Error) -> StoreError {
    if e.code() == Some(&SqlState::UNIQUE_VIOLATION) {
        StoreError::Conflict
    } else {
        backend(e)
    }
}

fn id(v: u64) -> i64 {
    v as i64
}

fn uid(v: i64) -> u64 {
    v as u64
}

fn room_from_row(r: &Row) -> RoomInfo {
    RoomInfo {
        id: RoomId(uid(r.get(0))),
        name: r.get(1),
        kind: RoomKind::parse(r.get(2)).unwrap_or(RoomKind::Private),
    }
}

/// The columns [`message_from_row`] reads, in its order.
macro_rules! message_columns {
    ($m:literal) => {
        concat!(
            $m,
            "room, ",
            $m,
            "epoch, ",
            $m,
            "seq, ",
            $m,
            "sender, ",
            $m,
            "cmid, ",
            $m,
            "text, ",
            $m,
            "ts, ",
            $m,
            "attachments, ",
            $m,
            "kind, ",
            $m,
            "ref_epoch, ",
            $m,
            "ref_seq, ",
            $m,
            "edited, ",
            $m,
            "deleted, ",
            $m,
            "mentions, ",
            $m,
            "pinned_ts"
        )
    };
}

// After `message_columns`, which their statements use.
mod changes;
mod room_list;
pub use room_list::ROOM_LIST_PAGE;

/// A message from a row of [`message_columns`].
fn message_from_row(r: &Row) -> Result<ChatMessage, StoreError> {
    let mut m = ChatMessage {
        room: RoomId(uid(r.get(0))),
        pos: Position::new(uid(r.get(1)), uid(r.get(2))),
        sender: UserId(uid(r.get(3))),
        cmid: r.get(4),
        text: r.get(5),
        ts: uid(r.get(6)),
        attachments: attachments::decode(r.get(7)).map_err(attachments::corrupt)?,
        edited: r.get::<_, Option<i64>>(11).map(uid),
        deleted: r.get(12),
        mentions: super::mentions::decode(r.get(13)),
        pinned: r.get::<_, Option<i64>>(14).is_some(),
        ..ChatMessage::default()
    };
    let reference = match (r.get::<_, Option<i64>>(9), r.get::<_, Option<i64>>(10)) {
        (Some(epoch), Some(seq)) => Some(Position::new(uid(epoch), uid(seq))),
        _ => None,
    };
    super::changes::restore(&mut m, r.get(8), reference);
    Ok(m)
}

impl PostgresStore {
    /// Connects the pool (checking one connection) without touching the schema. A server
    /// that cannot be reached is tried again for `connect_timeout`; the error names the
    /// address (without password) and the cause.
    pub async fn connect(config: &PostgresConfig) -> Result<Self, StoreError> {
        Ok(PostgresStore {
            pool: PgPool::connect(config).await?,
        })
    }

    /// Applies every migration not yet recorded; returns how many ran.
    pub async fn migrate(&self) -> Result<usize, StoreError> {
        let mut conn = self.pool.get().await?;
        // Serialises concurrent migrators (several nodes starting at once); released below or
        // when the session ends.
        conn.client
            .batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK})"))
            .await
            .map_err(db)?;
        let result = Self::apply(&mut conn.client).await;
        conn.client
            .batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})"))
            .await
            .map_err(db)?;
        result
    }

    async fn apply(conn: &mut tokio_postgres::Client) -> Result<usize, StoreError> {
        conn.batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                 version INT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
        )
        .await
        .map_err(db)?;
        let mut ran = 0;
        for (i, sql) in MIGRATIONS.iter().enumerate() {
            let version = i as i32 + 1;
            let tx = conn.transaction().await.map_err(db)?;
            let done = tx
                .query_opt(
                    "SELECT 1 FROM schema_migrations WHERE version = $1",
                    &[&version],
                )
                .await
                .map_err(db)?
                .is_some();
            if !done {
                tx.batch_execute(sql).await.map_err(db)?;
                tx.execute(
                    "INSERT INTO schema_migrations (version) VALUES ($1)",
                    &[&version],
                )
                .await
                .map_err(db)?;
                ran += 1;
            }
            tx.commit().await.map_err(db)?;
        }
        Ok(ran)
    }

    async fn conn(&self) -> Result<bb8::PooledConnection<'_, Manager>, StoreError> {
        self.pool.get().await
    }

    async fn query(
        &self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, StoreError> {
        let conn = self.conn().await?;
        let statement = conn.statement(sql).await.map_err(db)?;
        conn.client.query(&statement, params).await.map_err(db)
    }

    async fn query_opt(
        &self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>, StoreError> {
        let conn = self.conn().await?;
        let statement = conn.statement(sql).await.map_err(db)?;
        conn.client.query_opt(&statement, params).await.map_err(db)
    }

    async fn query_one(
        &self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Row, StoreError> {
        let conn = self.conn().await?;
        let statement = conn.statement(sql).await.map_err(db)?;
        conn.client.query_one(&statement, params).await.map_err(db)
    }

    async fn execute(
        &self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64, StoreError> {
        let conn = self.conn().await?;
        let statement = conn.statement(sql).await.map_err(db)?;
        conn.client.execute(&statement, params).await.map_err(db)
    }
}

#[async_trait]
impl Store for PostgresStore {
    async fn create_user(&self, name: &str, password_hash: &str) -> Result<UserInfo, StoreError> {
        let row = self
            .query_one(
                "INSERT INTO users (name, password_hash) VALUES ($1, $2) RETURNING id",
                &[&name, &password_hash],
            )
            .await?;
        Ok(UserInfo {
            id: UserId(uid(row.get(0))),
            name: name.to_owned(),
        })
    }

    async fn user_by_name(&self, name: &str) -> Result<Option<(UserInfo, String)>, StoreError> {
        let row = self
            .query_opt(
                "SELECT id, name, password_hash FROM users WHERE lower(name) = lower($1)",
                &[&name],
            )
            .await?;
        Ok(row.map(|r| {
            (
                UserInfo {
                    id: UserId(uid(r.get(0))),
                    name: r.get(1),
                },
                r.get(2),
            )
        }))
    }

    async fn user(&self, user: UserId) -> Result<Option<UserInfo>, StoreError> {
        let row = self
            .query_opt("SELECT id, name FROM users WHERE id = $1", &[&id(user.0)])
            .await?;
        Ok(row.map(|r| UserInfo {
            id: UserId(uid(r.get(0))),
            name: r.get(1),
        }))
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
        let mut conn = self.conn().await?;
        let tx = conn.client.transaction().await.map_err(db)?;
        let row = tx
            .query_one(
                "INSERT INTO rooms (name, kind) VALUES ($1, $2) RETURNING id",
                &[&name, &kind.as_str()],
            )
            .await
            .map_err(db)?;
        let room: i64 = row.get(0);
        tx.execute(
            "INSERT INTO members (room, user_id, role) VALUES ($1, $2, $3)",
            &[&room, &id(owner.0), &Role::Owner.as_str()],
        )
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(RoomInfo {
            id: RoomId(uid(room)),
            name: name.to_owned(),
            kind,
        })
    }

    async fn room(&self, room: RoomId) -> Result<Option<RoomInfo>, StoreError> {
        let row = self
            .query_opt(
                "SELECT id, name, kind FROM rooms WHERE id = $1",
                &[&id(room.0)],
            )
            .await?;
        Ok(row.as_ref().map(room_from_row))
    }

    async fn direct_room(&self, a: UserId, b: UserId) -> Result<(RoomInfo, bool), StoreError> {
        let (lo, hi) = (a.min(b), a.max(b));
        let key = format!("{lo}:{hi}");
        let mut conn = self.conn().await?;
        let tx = conn.client.transaction().await.map_err(db)?;
        let inserted = tx
            .query_opt(
                "INSERT INTO rooms (name, kind, direct_key) VALUES ($1, 'direct', $1)
                 ON CONFLICT (direct_key) DO NOTHING RETURNING id",
                &[&key],
            )
            .await
            .map_err(db)?;
        let created = inserted.is_some();
        let room: i64 = match inserted {
            Some(row) => {
                let room: i64 = row.get(0);
                for user in [lo, hi] {
                    tx.execute(
                        "INSERT INTO members (room, user_id, role) VALUES ($1, $2, 'member')
                         ON CONFLICT DO NOTHING",
                        &[&room, &id(user.0)],
                    )
                    .await
                    .map_err(db)?;
                }
                room
            }
            None => tx
                .query_one("SELECT id FROM rooms WHERE direct_key = $1", &[&key])
                .await
                .map_err(db)?
                .get(0),
        };
        tx.commit().await.map_err(db)?;
        let room = RoomInfo {
            id: RoomId(uid(room)),
            name: key,
            kind: RoomKind::Direct,
        };
        Ok((room, created))
    }

    async fn add_member(&self, room: RoomId, user: UserId, role: Role) -> Result<(), StoreError> {
        self.execute(
            "INSERT INTO members (room, user_id, role) VALUES ($1, $2, $3)
                 ON CONFLICT DO NOTHING",
            &[&id(room.0), &id(user.0), &role.as_str()],
        )
        .await?;
        Ok(())
    }

    async fn remove_member(&self, room: RoomId, user: UserId) -> Result<(), StoreError> {
        self.execute(
            "DELETE FROM members WHERE room = $1 AND user_id = $2",
            &[&id(room.0), &id(user.0)],
        )
        .await?;
        Ok(())
    }

    async fn members(&self, room: RoomId) -> Result<Vec<(UserId, Role)>, StoreError> {
        let rows = self
            .query(
                "SELECT user_id, role FROM members WHERE room = $1",
                &[&id(room.0)],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| {
                (
                    UserId(uid(r.get(0))),
                    Role::parse(r.get(1)).unwrap_or(Role::Member),
                )
            })
            .collect())
    }

    async fn rooms_of(&self, user: UserId) -> Result<Vec<RoomInfo>, StoreError> {
        let rows = self
            .query(
                "SELECT r.id, r.name, r.kind FROM members m JOIN rooms r ON r.id = m.room
                 WHERE m.user_id = $1 ORDER BY r.id",
                &[&id(user.0)],
            )
            .await?;
        Ok(rows.iter().map(room_from_row).collect())
    }

    async fn room_list(
        &self,
        user: UserId,
        before: Option<RoomCursor>,
        limit: u32,
    ) -> Result<Vec<RoomSummary>, StoreError> {
        room_list::room_list(self, user, before, limit).await
    }

    async fn set_muted(&self, room: RoomId, user: UserId, muted: bool) -> Result<bool, StoreError> {
        room_list::set_muted(self, room, user, muted).await
    }

    async fn is_member(&self, room: RoomId, user: UserId) -> Result<bool, StoreError> {
        let row = self
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM members WHERE room = $1 AND user_id = $2)",
                &[&id(room.0), &id(user.0)],
            )
            .await?;
        Ok(row.get(0))
    }

    async fn shares_room(&self, a: UserId, b: UserId) -> Result<bool, StoreError> {
        let row = self
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM members x JOIN members y ON x.room = y.room
                 WHERE x.user_id = $1 AND y.user_id = $2)",
                &[&id(a.0), &id(b.0)],
            )
            .await?;
        Ok(row.get(0))
    }

    async fn room_owner(&self, room: RoomId) -> Result<Option<String>, StoreError> {
        let row = self
            .query_opt("SELECT owner FROM rooms WHERE id = $1", &[&id(room.0)])
            .await?;
        row.map(|r| r.get(0)).ok_or(StoreError::NotFound)
    }

    async fn next_epoch(&self, room: RoomId, owner: &str) -> Result<u64, StoreError> {
        let row = self
            .query_opt(
                "UPDATE rooms SET epoch = epoch + 1, owner = $2 WHERE id = $1 RETURNING epoch",
                &[&id(room.0), &owner],
            )
            .await?;
        row.map(|r| uid(r.get(0))).ok_or(StoreError::NotFound)
    }

    async fn append(&self, batch: Arc<Vec<ChatMessage>>) -> Result<Vec<usize>, StoreError> {
        let n = batch.len();
        let (mut rooms, mut epochs, mut seqs, mut senders) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        let (mut cmids, mut texts, mut tss, mut files) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        let mut mentions: Vec<Option<String>> = Vec::with_capacity(n);
        let (mut kinds, mut ref_epochs, mut ref_seqs) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        for m in batch.iter() {
            let (kind, reference, text) = super::changes::columns(m);
            rooms.push(id(m.room.0));
            epochs.push(id(m.pos.epoch));
            seqs.push(id(m.pos.seq));
            senders.push(id(m.sender.0));
            cmids.push(m.cmid.as_str());
            texts.push(text);
            tss.push(id(m.ts));
            files.push(attachments::encode(&m.attachments));
            kinds.push(kind);
            ref_epochs.push(reference.map(|p| id(p.epoch)));
            ref_seqs.push(reference.map(|p| id(p.seq)));
            mentions.push(super::mentions::encode(&m.mentions));
        }
        // Changes are applied to their targets in the insert's transaction; a batch of
        // messages alone is one statement, as before.
        let changes = batch.iter().any(|m| m.change.is_some());
        let conn = self.conn().await?;
        if changes {
            conn.client.batch_execute("BEGIN").await.map_err(db)?;
        }
        // One statement: lock the batch's rooms (so a new owner's `next_epoch` waits for
        // it, or it sees the new epoch), insert the rows not fenced, and return each room's
        // current epoch so the fenced rows can be reported.
        let stored = async {
            let statement = conn
                .statement(
                    "WITH cur AS (SELECT id, epoch FROM rooms WHERE id = ANY($1) FOR SHARE),
                          ins AS (INSERT INTO messages
                                         (room, epoch, seq, sender, cmid, text, ts, attachments,
                                          kind, ref_epoch, ref_seq, mentions)
                                  SELECT u.* FROM unnest($1::bigint[], $2::bigint[],
                                         $3::bigint[], $4::bigint[], $5::text[], $6::text[],
                                         $7::bigint[], $8::text[], $9::smallint[],
                                         $10::bigint[], $11::bigint[], $12::text[])
                                       AS u(room, epoch, seq, sender, cmid, text, ts,
                                            attachments, kind, ref_epoch, ref_seq, mentions)
                                  JOIN cur ON cur.id = u.room AND u.epoch >= cur.epoch
                                  ON CONFLICT DO NOTHING)
                     SELECT id, epoch FROM cur",
                )
                .await
                .map_err(db)?;
            let current = conn
                .client
                .query(
                    &statement,
                    &[
                        &rooms,
                        &epochs,
                        &seqs,
                        &senders,
                        &cmids,
                        &texts,
                        &tss,
                        &files,
                        &kinds,
                        &ref_epochs,
                        &ref_seqs,
                        &mentions,
                    ],
                )
                .await
                .map_err(db)?;
            let current: std::collections::HashMap<i64, i64> =
                current.iter().map(|r| (r.get(0), r.get(1))).collect();
            let fenced: Vec<usize> = rooms
                .iter()
                .zip(&epochs)
                .enumerate()
                .filter(|(_, (room, epoch))| current.get(room).is_none_or(|cur| *epoch < cur))
                .map(|(i, _)| i)
                .collect();
            if changes {
                let kept = batch
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| !fenced.contains(i))
                    .map(|(_, m)| m);
                changes::apply(&conn.client, kept).await?;
                conn.client.batch_execute("COMMIT").await.map_err(db)?;
            }
            Ok(fenced)
        }
        .await;
        if changes && stored.is_err() {
            // Leave no transaction open on a pooled connection; a broken one is dropped.
            let _ = conn.client.batch_execute("ROLLBACK").await;
        }
        stored
    }

    async fn history(&self, room: RoomId, q: HistoryQuery) -> Result<Vec<ChatMessage>, StoreError> {
        // A client's history: messages only (`kind = 0`), as they are now.
        macro_rules! page {
            ($filter:literal, $order:literal) => {
                concat!(
                    "SELECT ",
                    message_columns!(""),
                    " FROM messages WHERE room = $1 ",
                    $filter,
                    $order
                )
            };
        }
        let limit = i64::from(q.limit);
        let (sql, bound) = match (q.after, q.changes) {
            (Some(after), true) => (
                page!(
                    "",
                    "AND (epoch, seq) > ($2, $3) ORDER BY epoch, seq LIMIT $4"
                ),
                after,
            ),
            (Some(after), false) => (
                page!(
                    "AND kind = 0 ",
                    "AND (epoch, seq) > ($2, $3) ORDER BY epoch, seq LIMIT $4"
                ),
                after,
            ),
            (None, changes) => {
                let before = q
                    .before
                    .unwrap_or(Position::new(i64::MAX as u64, i64::MAX as u64));
                let sql = match changes {
                    true => page!(
                        "",
                        "AND (epoch, seq) < ($2, $3) ORDER BY epoch DESC, seq DESC LIMIT $4"
                    ),
                    false => page!(
                        "AND kind = 0 ",
                        "AND (epoch, seq) < ($2, $3) ORDER BY epoch DESC, seq DESC LIMIT $4"
                    ),
                };
                (sql, before)
            }
        };
        let mut rows = self
            .query(
                sql,
                &[&id(room.0), &id(bound.epoch), &id(bound.seq), &limit],
            )
            .await?
            .iter()
            .map(message_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        if q.after.is_none() {
            rows.reverse();
        }
        let viewer = if q.changes { None } else { q.viewer };
        changes::decorate(self, room, viewer, &mut rows).await?;
        Ok(rows)
    }

    async fn target(&self, room: RoomId, pos: Position) -> Result<Option<Target>, StoreError> {
        changes::target(self, room, pos).await
    }

    async fn find_cmid(
        &self,
        room: RoomId,
        sender: UserId,
        cmid: &str,
    ) -> Result<Option<Position>, StoreError> {
        let row = self
            .query_opt(
                "SELECT epoch, seq FROM messages WHERE room = $1 AND sender = $2 AND cmid = $3",
                &[&id(room.0), &id(sender.0), &cmid],
            )
            .await?;
        Ok(row.map(|r| Position::new(uid(r.get(0)), uid(r.get(1)))))
    }

    async fn search(
        &self,
        user: UserId,
        query: &str,
        room: Option<RoomId>,
        limit: u32,
    ) -> Result<Vec<ChatMessage>, StoreError> {
        let terms = super::search_terms(query).join(" ");
        if terms.is_empty() {
            return Ok(Vec::new());
        }
        let room = room.map(|r| id(r.0));
        let rows = self
            .query(
                concat!(
                    "SELECT ",
                    message_columns!("m."),
                    " FROM messages m JOIN members mb ON mb.room = m.room AND mb.user_id = $1
                     WHERE to_tsvector('simple', m.text) @@ plainto_tsquery('simple', $2)
                       AND ($3::bigint IS NULL OR m.room = $3) AND m.kind = 0 AND NOT m.deleted
                     ORDER BY m.ts DESC, m.room, m.epoch DESC, m.seq DESC LIMIT $4"
                ),
                &[&id(user.0), &terms, &room, &i64::from(limit)],
            )
            .await?;
        let mut found = rows
            .iter()
            .map(message_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        changes::quotes(self, &mut found).await?;
        Ok(found)
    }

    async fn set_read(
        &self,
        room: RoomId,
        user: UserId,
        pos: Position,
    ) -> Result<Position, StoreError> {
        receipts::set_read(self, room, user, pos).await
    }

    async fn pins(
        &self,
        room: RoomId,
        viewer: UserId,
        limit: u32,
    ) -> Result<Vec<ChatMessage>, StoreError> {
        changes::pins(self, room, viewer, limit).await
    }

    async fn set_delivered(
        &self,
        room: RoomId,
        user: UserId,
        pos: Position,
    ) -> Result<Option<Position>, StoreError> {
        receipts::set_delivered(self, room, user, pos).await
    }

    async fn receipts(
        &self,
        room: RoomId,
        after: Option<UserId>,
        limit: u32,
    ) -> Result<Vec<MemberReceipt>, StoreError> {
        receipts::receipts(self, room, after, limit).await
    }

    async fn read_positions(&self, room: RoomId) -> Result<Vec<(UserId, Position)>, StoreError> {
        let rows = self
            .query(
                "SELECT user_id, epoch, seq FROM reads WHERE room = $1",
                &[&id(room.0)],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| {
                (
                    UserId(uid(r.get(0))),
                    Position::new(uid(r.get(1)), uid(r.get(2))),
                )
            })
            .collect())
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
