//! One suite of store cases, run against every `Store` implementation (SQLite in this crate's
//! tests; Postgres beside it). Each case panics with a message naming what broke.

use std::sync::Arc;

use switchboard_engine::domain::{Attachment, ChatMessage, MemberReceipt, Plan, Role, RoomKind};
use switchboard_engine::{AttachmentId, Position, RoomId, UserId};

use crate::store::{HistoryQuery, Revocation, Store, StoreError, Upload};

mod changes;
mod profiles;
mod room_list;

/// Runs every case against a fresh, empty store.
pub async fn run_all(store: Arc<dyn Store>) {
    users(&*store).await;
    external_users(&*store).await;
    plans(&*store).await;
    profiles::profiles(&*store).await;
    profiles::find_users(&*store).await;
    rooms_and_members(&*store).await;
    direct_rooms(&*store).await;
    epochs(&*store).await;
    append_is_idempotent(&store).await;
    deposed_owners_are_fenced(&*store).await;
    history_pages(&store).await;
    read_watermarks_only_rise(&*store).await;
    delivered_watermarks_only_rise_and_follow_reads(&*store).await;
    search_is_scoped_to_the_users_rooms(&store).await;
    uploads(&*store).await;
    attachments_are_stored_with_their_message(&store).await;
    changes::edits_and_deletes(&store).await;
    changes::reactions_and_replies(&store).await;
    room_list::room_list(&store).await;
    revocations(&*store).await;
}

pub(crate) fn msg(room: RoomId, epoch: u64, seq: u64, sender: UserId, cmid: &str) -> ChatMessage {
    ChatMessage {
        room,
        pos: Position::new(epoch, seq),
        sender,
        cmid: cmid.to_owned(),
        text: format!("text {epoch}:{seq}"),
        ts: 1_700_000_000_000 + seq,
        ..ChatMessage::default()
    }
}

/// The newest ten messages of `room`, oldest first.
pub(crate) async fn newest(store: &dyn Store, room: RoomId) -> Vec<ChatMessage> {
    let page = HistoryQuery {
        limit: 10,
        ..Default::default()
    };
    store.history(room, page).await.unwrap()
}

async fn users(store: &dyn Store) {
    let ann = store
        .create_user("ann", "hash-a")
        .await
        .expect("create ann");
    assert!(
        matches!(
            store.create_user("ANN", "x").await,
            Err(StoreError::Conflict)
        ),
        "user names are unique, case-insensitively"
    );
    let (found, hash) = store.user_by_name("Ann").await.unwrap().expect("found");
    assert_eq!((found.id, hash.as_str()), (ann.id, "hash-a"));
    assert_eq!(store.user(ann.id).await.unwrap(), Some(ann));
    assert_eq!(store.user(UserId(999_999)).await.unwrap(), None);
}

async fn external_users(store: &dyn Store) {
    let carol = store.external_user("sub-carol", "carol").await.unwrap();
    assert_eq!(carol.name, "carol");
    assert_eq!(
        store.external_user("sub-carol", "renamed").await.unwrap(),
        carol,
        "a subject seen again is the same user"
    );
    assert_eq!(store.user(carol.id).await.unwrap(), Some(carol.clone()));
    let (_, hash) = store.user_by_name("carol").await.unwrap().unwrap();
    assert_eq!(hash, "", "no password");
    store.create_user("dave", "h").await.unwrap();
    let other_dave = store.external_user("sub-dave", "DAVE").await.unwrap();
    assert_eq!(
        other_dave.name, "DAVE-2",
        "a taken name (ignoring case) gets a suffix"
    );
    let erin = store
        .external_user("sub-erin", "erin@example.com")
        .await
        .unwrap();
    assert_eq!(
        erin.name, "erin_example.com",
        "names are made to fit the rules"
    );
    let (a, b) = tokio::join!(
        store.external_user("sub-frank", "frank"),
        store.external_user("sub-frank", "frank"),
    );
    assert_eq!(
        a.unwrap(),
        b.unwrap(),
        "one user for simultaneous first sightings"
    );
}

async fn plans(store: &dyn Store) {
    let gina = store.create_user("gina", "h").await.unwrap();
    let hal = store.external_user("sub-hal", "hal").await.unwrap();
    for user in [gina.id, hal.id] {
        assert_eq!(
            store.plan(user).await.unwrap(),
            Plan::Free,
            "free by default"
        );
    }
    store.set_plan(hal.id, Plan::Premium).await.unwrap();
    assert_eq!(store.plan(hal.id).await.unwrap(), Plan::Premium);
    assert_eq!(
        store.plan(gina.id).await.unwrap(),
        Plan::Free,
        "one user's plan only"
    );
    store.set_plan(hal.id, Plan::Premium).await.unwrap();
    assert_eq!(
        store.plan(hal.id).await.unwrap(),
        Plan::Premium,
        "setting twice is no error"
    );
    store.set_plan(hal.id, Plan::Free).await.unwrap();
    assert_eq!(store.plan(hal.id).await.unwrap(), Plan::Free, "and back");
    let ghost = UserId(999_999);
    assert!(matches!(
        store.set_plan(ghost, Plan::Premium).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(store.plan(ghost).await, Err(StoreError::NotFound)));
}

async fn rooms_and_members(store: &dyn Store) {
    let owner = store.create_user("owner1", "h").await.unwrap().id;
    let guest = store.create_user("guest1", "h").await.unwrap().id;
    let room = store
        .create_room("lobby", RoomKind::Private, owner)
        .await
        .unwrap();
    assert_eq!(store.room(room.id).await.unwrap().as_ref(), Some(&room));
    assert_eq!(
        store.members(room.id).await.unwrap(),
        vec![(owner, Role::Owner)]
    );
    assert!(!store.shares_room(owner, guest).await.unwrap());
    assert!(store.is_member(room.id, owner).await.unwrap());
    assert!(!store.is_member(room.id, guest).await.unwrap());
    store
        .add_member(room.id, guest, Role::Member)
        .await
        .unwrap();
    // Adding again keeps the first role.
    store.add_member(room.id, guest, Role::Admin).await.unwrap();
    let mut members = store.members(room.id).await.unwrap();
    members.sort();
    assert_eq!(members, vec![(owner, Role::Owner), (guest, Role::Member)]);
    assert!(store.shares_room(owner, guest).await.unwrap());
    assert_eq!(store.rooms_of(guest).await.unwrap(), vec![room.clone()]);
    assert!(store.is_member(room.id, guest).await.unwrap());
    store.remove_member(room.id, guest).await.unwrap();
    assert!(!store.is_member(room.id, guest).await.unwrap());
    assert!(store.rooms_of(guest).await.unwrap().is_empty());
    assert_eq!(store.room(RoomId(987_654)).await.unwrap(), None);
}

async fn direct_rooms(store: &dyn Store) {
    let a = store.create_user("dm-a", "h").await.unwrap().id;
    let b = store.create_user("dm-b", "h").await.unwrap().id;
    let (ab, created) = store.direct_room(a, b).await.unwrap();
    assert!(created);
    let (ba, created) = store.direct_room(b, a).await.unwrap();
    assert!(!created, "the second open finds the first one's room");
    assert_eq!(ab, ba, "one direct room per pair, whoever opens it");
    assert_eq!(ab.kind, RoomKind::Direct);
    let mut members: Vec<_> = store
        .members(ab.id)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.0)
        .collect();
    members.sort();
    assert_eq!(members, vec![a.min(b), a.max(b)]);
}

async fn epochs(store: &dyn Store) {
    let owner = store.create_user("epochs", "h").await.unwrap().id;
    let room = store
        .create_room("e", RoomKind::Public, owner)
        .await
        .unwrap();
    assert_eq!(store.room_owner(room.id).await.unwrap(), None);
    assert_eq!(store.next_epoch(room.id, "node-a").await.unwrap(), 1);
    assert_eq!(store.next_epoch(room.id, "node-b").await.unwrap(), 2);
    assert_eq!(
        store.room_owner(room.id).await.unwrap().as_deref(),
        Some("node-b")
    );
    assert!(matches!(
        store.next_epoch(RoomId(123_456), "node-a").await,
        Err(StoreError::NotFound)
    ));
}

/// Once a new owner took epoch 2, rows of epoch 1 are refused and reported; rows of the
/// current epoch are stored in the same batch.
async fn deposed_owners_are_fenced(store: &dyn Store) {
    let sender = store.create_user("fenced", "h").await.unwrap().id;
    let room = store
        .create_room("f", RoomKind::Public, sender)
        .await
        .unwrap()
        .id;
    assert_eq!(store.next_epoch(room, "old").await.unwrap(), 1);
    let first = store
        .append(Arc::new(vec![msg(room, 1, 1, sender, "f1")]))
        .await
        .unwrap();
    assert!(first.is_empty(), "the owner's own epoch is stored");
    assert_eq!(store.next_epoch(room, "new").await.unwrap(), 2);
    let fenced = store
        .append(Arc::new(vec![
            msg(room, 1, 2, sender, "f2"),
            msg(room, 2, 1, sender, "f3"),
        ]))
        .await
        .unwrap();
    assert_eq!(fenced, vec![0], "only the deposed owner's row is refused");
    let all = newest(store, room).await;
    let positions: Vec<_> = all.iter().map(|m| m.pos).collect();
    assert_eq!(positions, vec![Position::new(1, 1), Position::new(2, 1)]);
}

async fn append_is_idempotent(store: &Arc<dyn Store>) {
    let sender = store.create_user("appender", "h").await.unwrap().id;
    let room = store
        .create_room("a", RoomKind::Public, sender)
        .await
        .unwrap()
        .id;
    let batch = Arc::new(vec![
        msg(room, 1, 1, sender, "c1"),
        msg(room, 1, 2, sender, "c2"),
    ]);
    store.append(batch.clone()).await.unwrap();
    // A retried batch, and a different position reusing a stored cmid, store nothing new.
    store.append(batch).await.unwrap();
    store
        .append(Arc::new(vec![msg(room, 1, 3, sender, "c1")]))
        .await
        .unwrap();
    let all = newest(&**store, room).await;
    assert_eq!(all.len(), 2, "no duplicates: {all:?}");
    assert_eq!(
        store.find_cmid(room, sender, "c2").await.unwrap(),
        Some(Position::new(1, 2))
    );
    assert_eq!(store.find_cmid(room, sender, "zz").await.unwrap(), None);
    assert_eq!(store.find_cmid(room, UserId(5), "c2").await.unwrap(), None);
}

async fn history_pages(store: &Arc<dyn Store>) {
    let sender = store.create_user("historian", "h").await.unwrap().id;
    let room = store
        .create_room("h", RoomKind::Public, sender)
        .await
        .unwrap()
        .id;
    let mut batch = Vec::new();
    for epoch in 1..=2 {
        for seq in 1..=5 {
            batch.push(msg(room, epoch, seq, sender, &format!("{epoch}-{seq}")));
        }
    }
    store.append(Arc::new(batch)).await.unwrap();
    let page = |before, after, limit| {
        let store = store.clone();
        async move {
            store
                .history(
                    room,
                    HistoryQuery {
                        before,
                        after,
                        limit,
                        ..Default::default()
                    },
                )
                .await
                .unwrap()
                .into_iter()
                .map(|m| (m.pos.epoch, m.pos.seq))
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(page(None, None, 3).await, vec![(2, 3), (2, 4), (2, 5)]);
    assert_eq!(
        page(Some(Position::new(2, 2)), None, 3).await,
        vec![(1, 4), (1, 5), (2, 1)]
    );
    assert_eq!(
        page(None, Some(Position::new(1, 4)), 3).await,
        vec![(1, 5), (2, 1), (2, 2)]
    );
    assert_eq!(page(None, Some(Position::ZERO), 1).await, vec![(1, 1)]);
    assert!(page(None, Some(Position::new(2, 5)), 10).await.is_empty());
}

async fn read_watermarks_only_rise(store: &dyn Store) {
    let user = store.create_user("reader", "h").await.unwrap().id;
    let room = store
        .create_room("r", RoomKind::Public, user)
        .await
        .unwrap()
        .id;
    let p = |s| Position::new(1, s);
    assert_eq!(store.set_read(room, user, p(5)).await.unwrap(), p(5));
    assert_eq!(store.set_read(room, user, p(3)).await.unwrap(), p(5));
    assert_eq!(
        store
            .set_read(room, user, Position::new(2, 1))
            .await
            .unwrap(),
        Position::new(2, 1)
    );
    assert_eq!(
        store.read_positions(room).await.unwrap(),
        vec![(user, Position::new(2, 1))]
    );
}

/// Delivered rises on its own or with a read, never falls, and never shows below read; the
/// receipts page lists members (with or without marks) by id.
async fn delivered_watermarks_only_rise_and_follow_reads(store: &dyn Store) {
    let ann = store.create_user("deliv-ann", "h").await.unwrap().id;
    let bob = store.create_user("deliv-bob", "h").await.unwrap().id;
    let cid = store.create_user("deliv-cid", "h").await.unwrap().id;
    let room = store
        .create_room("d", RoomKind::Private, ann)
        .await
        .unwrap()
        .id;
    store.add_member(room, bob, Role::Member).await.unwrap();
    store.add_member(room, cid, Role::Member).await.unwrap();
    let p = |s| Position::new(1, s);
    assert_eq!(
        store.set_delivered(room, bob, p(4)).await.unwrap(),
        Some(p(4))
    );
    assert_eq!(
        store.set_delivered(room, bob, p(2)).await.unwrap(),
        None,
        "never falls"
    );
    assert_eq!(
        store.set_delivered(room, bob, p(4)).await.unwrap(),
        None,
        "no change"
    );
    // Reading past the delivered mark delivers too; reading below it leaves it.
    assert_eq!(store.set_read(room, bob, p(6)).await.unwrap(), p(6));
    assert_eq!(store.set_read(room, cid, p(1)).await.unwrap(), p(1));
    assert_eq!(
        store.set_delivered(room, cid, p(3)).await.unwrap(),
        Some(p(3))
    );
    assert_eq!(store.set_read(room, cid, p(2)).await.unwrap(), p(2));
    let receipt = |user, read: Option<Position>, delivered: Option<Position>| MemberReceipt {
        user,
        read,
        delivered,
    };
    assert_eq!(
        store.receipts(room, None, 10).await.unwrap(),
        vec![
            receipt(ann, None, None),
            receipt(bob, Some(p(6)), Some(p(6))),
            receipt(cid, Some(p(2)), Some(p(3))),
        ]
    );
    assert_eq!(
        store.receipts(room, Some(ann), 1).await.unwrap(),
        vec![receipt(bob, Some(p(6)), Some(p(6)))]
    );
    assert!(
        store
            .receipts(room, Some(cid), 10)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn search_is_scoped_to_the_users_rooms(store: &Arc<dyn Store>) {
    let alice = store.create_user("searcher", "h").await.unwrap().id;
    let bob = store.create_user("outsider", "h").await.unwrap().id;
    let mine = store
        .create_room("mine", RoomKind::Private, alice)
        .await
        .unwrap()
        .id;
    let theirs = store
        .create_room("theirs", RoomKind::Private, bob)
        .await
        .unwrap()
        .id;
    let say = |room, seq, sender, text: &str| ChatMessage {
        text: text.to_owned(),
        ..msg(room, 1, seq, sender, &format!("s{seq}"))
    };
    store
        .append(Arc::new(vec![
            say(mine, 1, alice, "Lunch at noon?"),
            say(mine, 2, alice, "the release is ready"),
            say(mine, 3, alice, "lunch moved: release first"),
            say(theirs, 1, bob, "secret lunch plans"),
        ]))
        .await
        .unwrap();
    let texts = |v: Vec<ChatMessage>| v.into_iter().map(|m| m.text).collect::<Vec<_>>();
    assert_eq!(
        texts(store.search(alice, "LUNCH", None, 10).await.unwrap()),
        vec!["lunch moved: release first", "Lunch at noon?"],
        "newest first, case-insensitive, only in rooms alice belongs to"
    );
    assert_eq!(
        texts(
            store
                .search(alice, "release lunch", None, 10)
                .await
                .unwrap()
        ),
        vec!["lunch moved: release first"],
        "every word must match"
    );
    assert_eq!(
        store
            .search(alice, "lunch", Some(mine), 1)
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(
        store
            .search(alice, "lunch", Some(theirs), 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .search(alice, "\" OR * NEAR(", None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        texts(store.search(bob, "lunch", None, 10).await.unwrap()),
        vec!["secret lunch plans"]
    );
}

/// Upload records: counted per uploader, attached only in their own room, swept only while
/// unattached.
async fn uploads(store: &dyn Store) {
    let ann = store.create_user("uploader", "h").await.unwrap().id;
    let bob = store.create_user("uploader2", "h").await.unwrap().id;
    let room = store
        .create_room("files", RoomKind::Private, ann)
        .await
        .unwrap()
        .id;
    let other = store
        .create_room("other", RoomKind::Private, ann)
        .await
        .unwrap()
        .id;
    let upload = |id: u64, uploader, created_ms| Upload {
        id: AttachmentId(id),
        room,
        uploader,
        key: format!("rooms/{room}/{id}"),
        name: "cat.png".into(),
        content_type: "image/png".into(),
        size: 2 * 1024 * 1024,
        created_ms,
        attached: false,
    };
    let first = upload(i64::MAX as u64, ann, 1_000);
    store.create_upload(&first).await.unwrap();
    assert!(
        matches!(
            store.create_upload(&upload(i64::MAX as u64, bob, 5)).await,
            Err(StoreError::Conflict)
        ),
        "attachment ids are unique"
    );
    assert_eq!(
        store.upload(first.id).await.unwrap().as_ref(),
        Some(&first),
        "every field comes back, the largest id included"
    );
    assert_eq!(store.upload(AttachmentId(1)).await.unwrap(), None);
    for (id, created) in [(2, 2_000), (3, 3_000)] {
        store
            .create_upload(&upload(id, ann, created))
            .await
            .unwrap();
    }
    store.create_upload(&upload(4, bob, 3_000)).await.unwrap();
    assert_eq!(store.uploads_since(ann, 0).await.unwrap(), 3);
    assert_eq!(
        store.uploads_since(ann, 2_000).await.unwrap(),
        2,
        "inclusive"
    );
    assert_eq!(store.uploads_since(bob, 0).await.unwrap(), 1);

    assert!(
        matches!(
            store.attach_upload(AttachmentId(2), other).await,
            Err(StoreError::NotFound)
        ),
        "an upload is attached only in its own room"
    );
    store.attach_upload(AttachmentId(2), room).await.unwrap();
    store.attach_upload(AttachmentId(2), room).await.unwrap();
    assert!(
        store
            .upload(AttachmentId(2))
            .await
            .unwrap()
            .unwrap()
            .attached
    );
    assert!(matches!(
        store.attach_upload(AttachmentId(99), room).await,
        Err(StoreError::NotFound)
    ));

    let ids = |v: Vec<Upload>| v.into_iter().map(|u| u.id.0).collect::<Vec<_>>();
    assert_eq!(
        ids(store.unattached_before(3_000, 10).await.unwrap()),
        vec![i64::MAX as u64],
        "older than the cut, never attached"
    );
    assert_eq!(
        ids(store.unattached_before(3_001, 2).await.unwrap()),
        vec![i64::MAX as u64, 3],
        "oldest first, at most the limit"
    );
    assert!(
        !store.delete_unattached(AttachmentId(2)).await.unwrap(),
        "attached stays"
    );
    assert!(store.delete_unattached(AttachmentId(3)).await.unwrap());
    assert!(!store.delete_unattached(AttachmentId(3)).await.unwrap());
    assert_eq!(store.upload(AttachmentId(3)).await.unwrap(), None);
    assert!(store.upload(AttachmentId(2)).await.unwrap().is_some());
    assert!(
        matches!(
            store.attach_upload(AttachmentId(3), room).await,
            Err(StoreError::NotFound)
        ),
        "a swept upload can no longer be attached"
    );
}

/// A message's attachments come back with it from history and search, in their order; a
/// message without any has none.
async fn attachments_are_stored_with_their_message(store: &Arc<dyn Store>) {
    let ann = store.create_user("sharer", "h").await.unwrap().id;
    let room = store
        .create_room("shared files", RoomKind::Private, ann)
        .await
        .unwrap()
        .id;
    let file = |id: u64, name: &str, thumbnail| Attachment {
        id: AttachmentId(id),
        name: name.into(),
        content_type: if thumbnail {
            "image/png"
        } else {
            "application/pdf"
        }
        .into(),
        size: id % 1000 + 1,
        thumbnail,
    };
    let with = ChatMessage {
        text: "quarterly figures attached".into(),
        attachments: vec![
            file(i64::MAX as u64, "chart \"Q3\".png", true),
            file(7, "report.pdf", false),
        ],
        ..msg(room, 1, 1, ann, "with")
    };
    let only_files = ChatMessage {
        text: String::new(),
        attachments: vec![file(8, "scan.pdf", false)],
        ..msg(room, 1, 2, ann, "only files")
    };
    let without = msg(room, 1, 3, ann, "without");
    store
        .append(Arc::new(vec![
            with.clone(),
            only_files.clone(),
            without.clone(),
        ]))
        .await
        .unwrap();
    assert_eq!(
        newest(&**store, room).await,
        vec![with.clone(), only_files, without],
        "history returns every attachment field, in order; none for a message without"
    );
    assert_eq!(
        store
            .search(ann, "quarterly", Some(room), 10)
            .await
            .unwrap(),
        vec![with],
        "search returns them too"
    );
}

async fn revocations(store: &dyn Store) {
    let r = |subject: &str, before_secs, recorded_ms| Revocation {
        subject: subject.into(),
        before_secs,
        recorded_ms,
    };
    assert_eq!(store.revocations_since(0, 10).await.unwrap(), vec![]);
    store.revoke(&r("sub-a", 100, 1_000)).await.unwrap();
    store.revoke(&r("sub-b", 200, 2_000)).await.unwrap();
    store.revoke(&r("sub-c", 300, 2_000)).await.unwrap();
    assert_eq!(
        store.revocations_since(0, 10).await.unwrap(),
        vec![
            r("sub-a", 100, 1_000),
            r("sub-b", 200, 2_000),
            r("sub-c", 300, 2_000)
        ],
        "by record time, then subject"
    );
    assert_eq!(
        store.revocations_since(2_000, 1).await.unwrap(),
        vec![r("sub-b", 200, 2_000)],
        "inclusive, at most the limit"
    );
    // Recorded again (another node found it too, or later): the later time, never an
    // earlier `before`.
    store.revoke(&r("sub-a", 50, 3_000)).await.unwrap();
    assert_eq!(
        store.revocations_since(2_500, 10).await.unwrap(),
        vec![r("sub-a", 100, 3_000)],
        "a revocation is never narrowed"
    );
    store.revoke(&r("sub-a", 400, 4_000)).await.unwrap();
    assert_eq!(
        store.revocations_since(4_000, 10).await.unwrap(),
        vec![r("sub-a", 400, 4_000)],
        "a later revocation widens it"
    );
}
