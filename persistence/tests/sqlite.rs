//! The store conformance suite and the write-behind's guarantees, against SQLite on disk.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use switchboard_engine::domain::{
    ChatMessage, MemberReceipt, Plan, Profile, Role, RoomCursor, RoomInfo, RoomKind, RoomSummary,
    UserInfo,
};
use switchboard_engine::{AttachmentId, Position, RoomId, UserId};
use switchboard_persistence::store::Upload;
use switchboard_persistence::store::sqlite::SqliteStore;
use switchboard_persistence::{
    Busy, HistoryQuery, Revocation, Store, StoreError, Target, WriteBehind, WriteBehindConfig,
};

fn sqlite() -> (tempfile::TempDir, Arc<dyn Store>) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("test.sqlite3"), false).unwrap();
    (dir, Arc::new(store))
}

#[tokio::test]
async fn sqlite_passes_the_conformance_suite() {
    let (_dir, store) = sqlite();
    switchboard_persistence::conformance::run_all(store).await;
}

#[tokio::test]
async fn reopening_keeps_data_and_does_not_rerun_migrations() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.sqlite3");
    let id = {
        let store = SqliteStore::open(&path, true).unwrap();
        store.create_user("kept", "h").await.unwrap().id
    };
    let store = SqliteStore::open(&path, true).unwrap();
    assert_eq!(store.user(id).await.unwrap().unwrap().name, "kept");
}

/// Writes queued together commit together (one transaction, a savepoint each): one that
/// fails is refused alone, and every other is durable and visible to the readers once it is
/// answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_committed_together_fail_alone() {
    let (_dir, store) = sqlite();
    let attempts = (0..200).map(|i| {
        let store = store.clone();
        // Every tenth name is taken twice: one of each pair conflicts.
        let name = format!("user{}", if i % 10 == 0 { i + 1 } else { i });
        tokio::spawn(async move { (name.clone(), store.create_user(&name, "h").await) })
    });
    let results = futures::future::join_all(attempts).await;
    let mut created = 0;
    for result in results {
        let (name, outcome) = result.unwrap();
        match outcome {
            Ok(user) => {
                created += 1;
                let (found, _) = store.user_by_name(&name).await.unwrap().expect("visible");
                assert_eq!(found.id, user.id);
            }
            Err(e) => assert!(matches!(e, StoreError::Conflict), "{name}: {e:?}"),
        }
    }
    assert_eq!(created, 180, "20 names were asked for twice");
}

fn message(room: RoomId, seq: u64) -> ChatMessage {
    ChatMessage {
        room,
        pos: Position::new(1, seq),
        sender: UserId(1),
        cmid: format!("c{seq}"),
        text: "hello".into(),
        ts: 0,
        ..ChatMessage::default()
    }
}

async fn room_with_owner(store: &Arc<dyn Store>) -> RoomId {
    let owner = store.create_user("owner", "h").await.unwrap().id;
    store
        .create_room("r", RoomKind::Public, owner)
        .await
        .unwrap()
        .id
}

#[tokio::test]
async fn acknowledgements_come_after_commit_and_in_order() {
    let (_dir, store) = sqlite();
    let room = room_with_owner(&store).await;
    let wb = WriteBehind::spawn(store.clone(), WriteBehindConfig::default());
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    for seq in 1..=2000 {
        let permit = wb.reserve(10).unwrap();
        let (tx, store) = (tx.clone(), store.clone());
        wb.submit(
            permit,
            message(room, seq),
            Box::new(move |m, _| {
                let pos = m.pos;
                // Verify durability from inside the acknowledgement.
                tokio::spawn(async move {
                    let found = store
                        .find_cmid(room, UserId(1), &format!("c{}", pos.seq))
                        .await;
                    let _ = tx.send((pos.seq, found.unwrap().is_some()));
                });
            }),
        );
    }
    wb.sync().await;
    let mut acked = Vec::new();
    for _ in 0..2000 {
        let (seq, durable) = rx.recv().await.unwrap();
        assert!(durable, "message {seq} acknowledged before it was stored");
        acked.push(seq);
    }
    acked.sort();
    assert_eq!(acked, (1..=2000).collect::<Vec<_>>());
    assert_eq!(wb.queued(), (0, 0));
}

#[tokio::test]
async fn a_full_queue_says_busy_instead_of_growing() {
    let (_dir, store) = sqlite();
    let wb = WriteBehind::spawn(
        store,
        WriteBehindConfig {
            max_queued: 3,
            max_queued_bytes: 100,
            ..Default::default()
        },
    );
    let permits: Vec<_> = (0..3).map(|_| wb.reserve(10).unwrap()).collect();
    assert_eq!(wb.reserve(10).unwrap_err(), Busy);
    drop(permits);
    let wb = WriteBehind::spawn(
        sqlite().1,
        WriteBehindConfig {
            max_queued_bytes: 100,
            ..Default::default()
        },
    );
    let _big = wb.reserve(90).unwrap();
    assert_eq!(wb.reserve(20).unwrap_err(), Busy);
}

/// A store whose `append` fails a set number of times, then delegates.
struct Flaky {
    inner: Arc<dyn Store>,
    failures_left: AtomicUsize,
    appends: AtomicUsize,
}

#[async_trait]
impl Store for Flaky {
    async fn create_user(&self, n: &str, h: &str) -> Result<UserInfo, StoreError> {
        self.inner.create_user(n, h).await
    }
    async fn user_by_name(&self, n: &str) -> Result<Option<(UserInfo, String)>, StoreError> {
        self.inner.user_by_name(n).await
    }
    async fn user(&self, id: UserId) -> Result<Option<UserInfo>, StoreError> {
        self.inner.user(id).await
    }
    async fn external_user(&self, s: &str, n: &str) -> Result<UserInfo, StoreError> {
        self.inner.external_user(s, n).await
    }
    async fn set_plan(&self, u: UserId, p: Plan) -> Result<(), StoreError> {
        self.inner.set_plan(u, p).await
    }
    async fn plan(&self, u: UserId) -> Result<Plan, StoreError> {
        self.inner.plan(u).await
    }
    async fn create_room(&self, n: &str, k: RoomKind, o: UserId) -> Result<RoomInfo, StoreError> {
        self.inner.create_room(n, k, o).await
    }
    async fn room(&self, id: RoomId) -> Result<Option<RoomInfo>, StoreError> {
        self.inner.room(id).await
    }
    async fn direct_room(&self, a: UserId, b: UserId) -> Result<(RoomInfo, bool), StoreError> {
        self.inner.direct_room(a, b).await
    }
    async fn add_member(&self, r: RoomId, u: UserId, role: Role) -> Result<(), StoreError> {
        self.inner.add_member(r, u, role).await
    }
    async fn remove_member(&self, r: RoomId, u: UserId) -> Result<(), StoreError> {
        self.inner.remove_member(r, u).await
    }
    async fn members(&self, r: RoomId) -> Result<Vec<(UserId, Role)>, StoreError> {
        self.inner.members(r).await
    }
    async fn rooms_of(&self, u: UserId) -> Result<Vec<RoomInfo>, StoreError> {
        self.inner.rooms_of(u).await
    }
    async fn room_list(
        &self,
        u: UserId,
        before: Option<RoomCursor>,
        limit: u32,
    ) -> Result<Vec<RoomSummary>, StoreError> {
        self.inner.room_list(u, before, limit).await
    }
    async fn set_muted(&self, r: RoomId, u: UserId, muted: bool) -> Result<bool, StoreError> {
        self.inner.set_muted(r, u, muted).await
    }
    async fn is_member(&self, r: RoomId, u: UserId) -> Result<bool, StoreError> {
        self.inner.is_member(r, u).await
    }
    async fn shares_room(&self, a: UserId, b: UserId) -> Result<bool, StoreError> {
        self.inner.shares_room(a, b).await
    }
    async fn room_owner(&self, r: RoomId) -> Result<Option<String>, StoreError> {
        self.inner.room_owner(r).await
    }
    async fn next_epoch(&self, r: RoomId, owner: &str) -> Result<u64, StoreError> {
        self.inner.next_epoch(r, owner).await
    }
    async fn append(&self, batch: Arc<Vec<ChatMessage>>) -> Result<Vec<usize>, StoreError> {
        self.appends.fetch_add(1, Ordering::SeqCst);
        if self
            .failures_left
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err(StoreError::Backend("injected outage".into()));
        }
        self.inner.append(batch).await
    }
    async fn history(&self, r: RoomId, q: HistoryQuery) -> Result<Vec<ChatMessage>, StoreError> {
        self.inner.history(r, q).await
    }
    async fn target(&self, r: RoomId, p: Position) -> Result<Option<Target>, StoreError> {
        self.inner.target(r, p).await
    }
    async fn find_cmid(
        &self,
        r: RoomId,
        s: UserId,
        c: &str,
    ) -> Result<Option<Position>, StoreError> {
        self.inner.find_cmid(r, s, c).await
    }
    async fn search(
        &self,
        u: UserId,
        q: &str,
        r: Option<RoomId>,
        l: u32,
    ) -> Result<Vec<ChatMessage>, StoreError> {
        self.inner.search(u, q, r, l).await
    }
    async fn set_read(&self, r: RoomId, u: UserId, p: Position) -> Result<Position, StoreError> {
        self.inner.set_read(r, u, p).await
    }
    async fn pins(
        &self,
        r: RoomId,
        viewer: UserId,
        limit: u32,
    ) -> Result<Vec<ChatMessage>, StoreError> {
        self.inner.pins(r, viewer, limit).await
    }
    async fn set_delivered(
        &self,
        r: RoomId,
        u: UserId,
        p: Position,
    ) -> Result<Option<Position>, StoreError> {
        self.inner.set_delivered(r, u, p).await
    }
    async fn receipts(
        &self,
        r: RoomId,
        after: Option<UserId>,
        limit: u32,
    ) -> Result<Vec<MemberReceipt>, StoreError> {
        self.inner.receipts(r, after, limit).await
    }
    async fn read_positions(&self, r: RoomId) -> Result<Vec<(UserId, Position)>, StoreError> {
        self.inner.read_positions(r).await
    }
    async fn create_upload(&self, u: &Upload) -> Result<(), StoreError> {
        self.inner.create_upload(u).await
    }
    async fn upload(&self, id: AttachmentId) -> Result<Option<Upload>, StoreError> {
        self.inner.upload(id).await
    }
    async fn uploads_since(&self, u: UserId, since: u64) -> Result<u32, StoreError> {
        self.inner.uploads_since(u, since).await
    }
    async fn attach_upload(&self, id: AttachmentId, r: RoomId) -> Result<(), StoreError> {
        self.inner.attach_upload(id, r).await
    }
    async fn unattached_before(&self, before: u64, l: u32) -> Result<Vec<Upload>, StoreError> {
        self.inner.unattached_before(before, l).await
    }
    async fn delete_unattached(&self, id: AttachmentId) -> Result<bool, StoreError> {
        self.inner.delete_unattached(id).await
    }
    async fn revoke(&self, r: &Revocation) -> Result<(), StoreError> {
        self.inner.revoke(r).await
    }
    async fn revocations_since(
        &self,
        since: u64,
        limit: u32,
    ) -> Result<Vec<Revocation>, StoreError> {
        self.inner.revocations_since(since, limit).await
    }
    async fn profiles(&self, ids: &[UserId]) -> Result<Vec<Profile>, StoreError> {
        self.inner.profiles(ids).await
    }
    async fn set_profile(
        &self,
        u: UserId,
        d: Option<&str>,
        s: Option<&str>,
    ) -> Result<Profile, StoreError> {
        self.inner.set_profile(u, d, s).await
    }
    async fn find_users(&self, p: &str, l: u32) -> Result<Vec<Profile>, StoreError> {
        self.inner.find_users(p, l).await
    }
}

#[tokio::test]
async fn failed_commits_are_retried_without_loss_or_duplicates() {
    let (_dir, inner) = sqlite();
    let room = room_with_owner(&inner).await;
    let flaky = Arc::new(Flaky {
        inner: inner.clone(),
        failures_left: AtomicUsize::new(3),
        appends: AtomicUsize::new(0),
    });
    let wb = WriteBehind::spawn(
        flaky.clone(),
        WriteBehindConfig {
            min_backoff: Duration::from_millis(1),
            ..Default::default()
        },
    );
    let acked = Arc::new(AtomicUsize::new(0));
    for seq in 1..=100 {
        let acked = acked.clone();
        wb.submit(
            wb.reserve(5).unwrap(),
            message(room, seq),
            Box::new(move |_, _| {
                acked.fetch_add(1, Ordering::SeqCst);
            }),
        );
    }
    wb.shutdown().await;
    assert_eq!(acked.load(Ordering::SeqCst), 100);
    assert!(
        flaky.appends.load(Ordering::SeqCst) >= 4,
        "the outage was retried"
    );
    let stored = inner
        .history(
            room,
            HistoryQuery {
                after: Some(Position::ZERO),
                limit: 500,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(stored.len(), 100);
    assert!(stored.iter().zip(1..).all(|(m, seq)| m.pos.seq == seq));
}

/// Group commit: a message reaching an idle lane is committed at once, alone; with
/// `commit_delay`, messages arriving within it share one commit.
#[tokio::test]
async fn an_idle_lane_commits_at_once_unless_a_commit_delay_is_set() {
    for (delay, commits) in [(Duration::ZERO, 2), (Duration::from_millis(300), 1)] {
        let (_dir, inner) = sqlite();
        let room = room_with_owner(&inner).await;
        let counting = Arc::new(Flaky {
            inner: inner.clone(),
            failures_left: AtomicUsize::new(0),
            appends: AtomicUsize::new(0),
        });
        let wb = WriteBehind::spawn(
            counting.clone(),
            WriteBehindConfig {
                lanes: 1,
                commit_delay: delay,
                ..Default::default()
            },
        );
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        for seq in 1..=2 {
            let tx = tx.clone();
            wb.submit(
                wb.reserve(5).unwrap(),
                message(room, seq),
                Box::new(move |_, _| {
                    let _ = tx.send(seq);
                }),
            );
            if delay.is_zero() {
                // The first is stored (alone) before the second is sent, as for a lone sender.
                assert_eq!(rx.recv().await, Some(seq));
            } else {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        wb.sync().await;
        assert_eq!(
            counting.appends.load(Ordering::SeqCst),
            commits,
            "{delay:?}"
        );
    }
}
