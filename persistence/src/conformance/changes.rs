//! Edits, deletes, reactions and replies: stored as entries of their own, applied to their
//! targets, shown as they are now in a client's history and as stored in a replay.

use std::sync::Arc;

use switchboard_engine::domain::{
    Attachment, Change, ChatMessage, Quote, ReactionCount, Role, RoomKind,
};
use switchboard_engine::{AttachmentId, Position, RoomId, UserId};

use super::{msg, newest};
use crate::store::{HistoryQuery, Store, Upload};

fn change(room: RoomId, seq: u64, sender: UserId, cmid: &str, change: Change) -> ChatMessage {
    ChatMessage {
        text: String::new(),
        change: Some(Box::new(change)),
        ..msg(room, 1, seq, sender, cmid)
    }
}

/// Every entry of the room as stored, for a replay.
async fn replay(store: &dyn Store, room: RoomId) -> Vec<ChatMessage> {
    let q = HistoryQuery {
        after: Some(Position::ZERO),
        limit: 100,
        changes: true,
        ..Default::default()
    };
    store.history(room, q).await.unwrap()
}

pub(super) async fn edits_and_deletes(store: &Arc<dyn Store>) {
    let ann = store.create_user("editor", "h").await.unwrap().id;
    let bob = store.create_user("deleter", "h").await.unwrap().id;
    let room = store
        .create_room("edits", RoomKind::Private, ann)
        .await
        .unwrap()
        .id;
    store.add_member(room, bob, Role::Member).await.unwrap();
    let upload = Upload {
        id: AttachmentId(4242),
        room,
        uploader: ann,
        key: format!("rooms/{room}/4242"),
        name: "plan.pdf".into(),
        content_type: "application/pdf".into(),
        size: 10,
        created_ms: 1,
        attached: false,
    };
    store.create_upload(&upload).await.unwrap();
    store.attach_upload(upload.id, room).await.unwrap();
    let original = ChatMessage {
        text: "the walrus plan".into(),
        attachments: vec![Attachment {
            id: upload.id,
            name: "plan.pdf".into(),
            content_type: "application/pdf".into(),
            size: 10,
            thumbnail: false,
        }],
        ..msg(room, 1, 1, ann, "o")
    };
    let other = ChatMessage {
        text: "the otter plan".into(),
        ..msg(room, 1, 2, bob, "p")
    };
    let target = original.pos;
    let edit = ChatMessage {
        text: "the narwhal plan".into(),
        ..change(room, 3, ann, "e", Change::Edit { target })
    };
    store
        .append(Arc::new(vec![
            original.clone(),
            other.clone(),
            edit.clone(),
        ]))
        .await
        .unwrap();
    let now = newest(&**store, room).await;
    assert_eq!(
        now.len(),
        2,
        "history shows messages, not their edits: {now:?}"
    );
    assert_eq!(now[0].text, "the narwhal plan");
    assert_eq!(now[0].edited, Some(edit.ts), "an edited message is marked");
    assert_eq!(now[0].pos, target, "an edit keeps the message's position");
    let found = |q: &'static str| {
        let store = store.clone();
        async move { store.search(ann, q, Some(room), 10).await.unwrap() }
    };
    assert!(
        found("walrus").await.is_empty(),
        "replaced text is not found"
    );
    assert_eq!(found("narwhal").await.len(), 1, "the new text is");
    let stored = replay(&**store, room).await;
    assert_eq!(stored.len(), 3, "a replay has every entry");
    assert_eq!(stored[2].change.as_deref(), Some(&Change::Edit { target }));
    assert_eq!(stored[2].text, "the narwhal plan");
    assert_eq!(
        store.target(room, edit.pos).await.unwrap(),
        None,
        "an edit is no target"
    );

    let delete = change(room, 4, bob, "d", Change::Delete { target });
    store.append(Arc::new(vec![delete.clone()])).await.unwrap();
    // Retried: applied once, stored once.
    store.append(Arc::new(vec![delete.clone()])).await.unwrap();
    let now = newest(&**store, room).await;
    assert_eq!(now.len(), 2);
    assert!(now[0].deleted, "a deleted message is a tombstone");
    assert_eq!((now[0].text.as_str(), now[0].attachments.len()), ("", 0));
    assert!(
        found("narwhal").await.is_empty(),
        "deleted text is not found"
    );
    assert!(found("otter").await.len() == 1);
    assert!(
        !store.upload(upload.id).await.unwrap().unwrap().attached,
        "a deleted message's uploads go back to the sweep"
    );
    let late_edit = ChatMessage {
        text: "resurrected".into(),
        ..change(room, 5, ann, "e2", Change::Edit { target })
    };
    store.append(Arc::new(vec![late_edit])).await.unwrap();
    let now = newest(&**store, room).await;
    assert!(
        now[0].deleted && now[0].text.is_empty(),
        "an edit never revives a deleted message"
    );
    let t = store.target(room, target).await.unwrap().unwrap();
    assert!(t.deleted);
    assert_eq!(replay(&**store, room).await.len(), 5);
}

pub(super) async fn reactions_and_replies(store: &Arc<dyn Store>) {
    let ann = store.create_user("reactor", "h").await.unwrap().id;
    let bob = store.create_user("replier", "h").await.unwrap().id;
    let room = store
        .create_room("reactions", RoomKind::Private, ann)
        .await
        .unwrap()
        .id;
    let first = ChatMessage {
        text: "lunch at noon? ".repeat(20),
        ..msg(room, 1, 1, ann, "m1")
    };
    let target = first.pos;
    let react = |seq, user, cmid, emoji: &str, removed| {
        change(
            room,
            seq,
            user,
            cmid,
            Change::React {
                target,
                emoji: emoji.into(),
                removed,
            },
        )
    };
    let reply = ChatMessage {
        text: "yes".into(),
        reply_to: Some(Box::new(Quote {
            pos: target,
            ..Quote::default()
        })),
        ..msg(room, 1, 6, bob, "m2")
    };
    store
        .append(Arc::new(vec![
            first.clone(),
            react(2, ann, "r1", "👍", false),
            react(3, bob, "r2", "👍", false),
            react(4, bob, "r3", "🎉", false),
            react(5, ann, "r4", "👍", true),
            reply.clone(),
        ]))
        .await
        .unwrap();
    let q = HistoryQuery {
        limit: 10,
        viewer: Some(bob),
        ..Default::default()
    };
    let page = store.history(room, q).await.unwrap();
    assert_eq!(page.len(), 2, "{page:?}");
    let counts = |emoji: &str, count, mine| ReactionCount {
        emoji: emoji.into(),
        count,
        mine,
    };
    assert_eq!(
        page[0].reactions,
        vec![counts("👍", 1, true), counts("🎉", 1, true)],
        "counts, the reader's own, in order of first use"
    );
    let quote = page[1].reply_to.clone().expect("a reply quotes");
    assert_eq!(
        (quote.pos, quote.sender, quote.deleted),
        (target, ann, false)
    );
    assert_eq!(
        quote.text.len(),
        200,
        "a quote carries the start of the text"
    );
    let as_ann = HistoryQuery {
        viewer: Some(ann),
        ..q
    };
    let page = store.history(room, as_ann).await.unwrap();
    assert_eq!(
        page[0].reactions,
        vec![counts("👍", 1, false), counts("🎉", 1, false)]
    );
    let t = store.target(room, target).await.unwrap().unwrap();
    assert_eq!(t.sender, ann);
    assert_eq!(
        t.reactions,
        vec![("👍".to_owned(), vec![bob]), ("🎉".to_owned(), vec![bob])]
    );
    assert_eq!(
        store.target(room, Position::new(1, 99)).await.unwrap(),
        None
    );
    // The quoted message deleted: the reply shows it so.
    store
        .append(Arc::new(vec![change(
            room,
            7,
            ann,
            "d",
            Change::Delete { target },
        )]))
        .await
        .unwrap();
    let page = store.history(room, q).await.unwrap();
    assert!(
        page[0].deleted && page[0].reactions.is_empty(),
        "a delete drops reactions"
    );
    let quote = page[1].reply_to.clone().unwrap();
    assert!(quote.deleted && quote.text.is_empty());
    let stored = replay(&**store, room).await;
    assert_eq!(stored.len(), 7);
    assert_eq!(stored[5].reply_to.as_ref().map(|q| q.pos), Some(target));
    assert_eq!(
        stored[4].change.as_deref(),
        Some(&Change::React {
            target,
            emoji: "👍".into(),
            removed: true
        })
    );
}
