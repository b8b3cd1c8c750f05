//! The room list: a user's rooms by activity, paged by cursor, each with its last message as
//! history shows it, a capped unread count, the muted flag, and a direct conversation named
//! after the other person.

use std::sync::Arc;

use switchboard_engine::domain::{
    Change, ChatMessage, MAX_UNREAD, ReactionCount, Role, RoomKind, RoomSummary,
};
use switchboard_engine::{Position, RoomId, UserId};

use super::msg;
use crate::store::Store;

const BASE: u64 = 1_700_000_000_000;

fn at(room: RoomId, seq: u64, sender: UserId, ts: u64) -> ChatMessage {
    ChatMessage {
        ts,
        ..msg(room, 1, seq, sender, &format!("rl{seq}"))
    }
}

fn ids(list: &[RoomSummary]) -> Vec<RoomId> {
    list.iter().map(|s| s.id).collect()
}

pub(super) async fn room_list(store: &Arc<dyn Store>) {
    let ann = store.create_user("rl-ann", "h").await.unwrap().id;
    let bob = store.create_user("rl-bob", "h").await.unwrap().id;
    let cy = store.create_user("rl-cy", "h").await.unwrap().id;
    store.set_profile(bob, Some("Bobby"), None).await.unwrap();
    assert!(
        store.room_list(ann, None, 10).await.unwrap().is_empty(),
        "no rooms yet"
    );

    // alpha: bob's three messages, then ann's, which bob reacts to.
    let alpha = store
        .create_room("alpha", RoomKind::Private, ann)
        .await
        .unwrap()
        .id;
    store.add_member(alpha, bob, Role::Member).await.unwrap();
    let mut batch: Vec<_> = (1..=3).map(|s| at(alpha, s, bob, BASE + s)).collect();
    batch.push(at(alpha, 4, ann, BASE + 4));
    batch.push(ChatMessage {
        text: String::new(),
        change: Some(Box::new(Change::React {
            target: Position::new(1, 4),
            emoji: "👍".into(),
            removed: false,
        })),
        ..at(alpha, 5, bob, BASE + 50)
    });
    // The direct conversation: bob's two messages, the second deleted.
    let (direct, _) = store.direct_room(ann, bob).await.unwrap();
    let direct = direct.id;
    batch.push(at(direct, 1, bob, BASE + 100));
    batch.push(at(direct, 2, bob, BASE + 101));
    batch.push(ChatMessage {
        text: String::new(),
        change: Some(Box::new(Change::Delete {
            target: Position::new(1, 2),
        })),
        ..at(direct, 3, bob, BASE + 500)
    });
    // busy: more unread than the list counts.
    let busy = store
        .create_room("busy", RoomKind::Public, bob)
        .await
        .unwrap()
        .id;
    store.add_member(busy, ann, Role::Member).await.unwrap();
    let n = u64::from(MAX_UNREAD) + 5;
    batch.extend((1..=n).map(|s| at(busy, s, bob, BASE + 1000 + s)));
    // Not ann's: never listed.
    let other = store
        .create_room("other", RoomKind::Public, cy)
        .await
        .unwrap()
        .id;
    batch.push(at(other, 1, cy, BASE + 9999));
    assert!(store.append(Arc::new(batch)).await.unwrap().is_empty());
    // beta: no message; active since ann joined it (now, after every message above).
    let beta = store
        .create_room("beta", RoomKind::Public, ann)
        .await
        .unwrap()
        .id;

    let list = store.room_list(ann, None, 10).await.unwrap();
    assert_eq!(
        ids(&list),
        [beta, busy, direct, alpha],
        "by activity: joined now, then last messages newest first; changes do not move a room"
    );
    let [b, u, d, a] = &list[..] else {
        unreachable!()
    };
    assert!(b.last.is_none() && b.activity > BASE + 10_000, "{b:?}");
    assert_eq!(
        (b.unread, b.unread_more, b.name.as_str()),
        (0, false, "beta")
    );

    assert_eq!(u.activity, BASE + 1000 + n);
    assert_eq!(
        (u.unread, u.unread_more),
        (MAX_UNREAD, true),
        "unread is capped, with a flag"
    );

    assert_eq!(d.kind, RoomKind::Direct);
    assert_eq!(
        d.name, "Bobby",
        "a direct conversation shows the other person"
    );
    let peer = d.peer.as_ref().expect("the other person's profile");
    assert_eq!((peer.id, peer.name.as_str()), (bob, "rl-bob"));
    assert_eq!(d.activity, BASE + 101);
    let last = d.last.as_ref().expect("last message");
    assert_eq!(last.pos, Position::new(1, 2));
    assert!(
        last.deleted && last.text.is_empty(),
        "a tombstone: {last:?}"
    );
    assert_eq!(d.unread, 1, "a deleted message is not unread");

    assert_eq!(a.name, "alpha");
    assert!(a.peer.is_none());
    let last = a.last.as_ref().expect("last message");
    assert_eq!((last.pos, last.sender), (Position::new(1, 4), ann));
    assert_eq!(
        last.reactions,
        [ReactionCount {
            emoji: "👍".into(),
            count: 1,
            mine: false,
        }],
        "as history shows it"
    );
    assert_eq!(a.unread, 3, "the others' messages, never one's own");
    assert!(!a.muted);

    // Reading moves the watermark, and with it the count.
    store
        .set_read(alpha, ann, Position::new(1, 2))
        .await
        .unwrap();
    let list = store.room_list(ann, None, 10).await.unwrap();
    assert_eq!(list[3].unread, 1);
    // Bob sees the same conversation named after ann, with ann's message unread.
    let bobs = store.room_list(bob, None, 10).await.unwrap();
    assert_eq!(ids(&bobs), [busy, direct, alpha]);
    assert_eq!(bobs[1].name, "rl-ann", "no display name: the account name");
    assert_eq!(bobs[2].unread, 1);

    // Muting is per member; a non-member mutes nothing.
    assert!(store.set_muted(alpha, ann, true).await.unwrap());
    assert!(!store.set_muted(other, ann, true).await.unwrap());
    let list = store.room_list(ann, None, 10).await.unwrap();
    assert!(list[3].muted && list[3].unread == 1, "muted still counts");
    assert!(!store.room_list(bob, None, 10).await.unwrap()[2].muted);
    assert!(store.set_muted(alpha, ann, false).await.unwrap());
    assert!(!store.room_list(ann, None, 10).await.unwrap()[3].muted);

    // Pages: keyset by (activity, room), each after the last of the one before.
    let mut seen = Vec::new();
    let mut before = None;
    loop {
        let page = store.room_list(ann, before, 1).await.unwrap();
        let Some(last) = page.last() else { break };
        before = Some(last.cursor());
        seen.extend(ids(&page));
    }
    assert_eq!(seen, [beta, busy, direct, alpha]);
    let rest = store
        .room_list(ann, Some(list[1].cursor()), 10)
        .await
        .unwrap();
    assert_eq!(ids(&rest), [direct, alpha]);

    // A member who left no longer lists the room.
    store.remove_member(busy, ann).await.unwrap();
    let list = store.room_list(ann, None, 10).await.unwrap();
    assert_eq!(ids(&list), [beta, direct, alpha]);
    assert_eq!(list[1].id, direct);
}
