//! Edits, deletes, reactions and replies over real sockets, on SQLite and on Postgres: each
//! an entry of the room's sequence (its own position, `sent` once stored, idempotent by cmid,
//! replayed by a resume), checked against its target as it is now, and shown by history and
//! search as the message is now.

mod support;

use std::time::Duration;

use support::{TestNode, WAIT, expect, start};
use switchboard_client::{Client, ClientError};
use switchboard_engine::protocol::{ResumeOutcome, ServerFrame, Visibility};
use switchboard_engine::{ErrorCode, Position, RoomId, UserId};
use switchboard_persistence::store::scratch::{ScratchDatabase, admin_url};

fn code<T: std::fmt::Debug>(r: Result<T, ClientError>) -> Option<ErrorCode> {
    r.err().and_then(|e| e.code())
}

/// Ann's room with Bob in it, both joined; Bob's token.
async fn pair(t: &TestNode) -> (RoomId, (UserId, Client), (UserId, Client), String) {
    let (ann, mut a) = t.member().await;
    let (bob, token) = t.user().await;
    let mut b = t.client(&token).await;
    let room = a.create_room("changes", Visibility::Private).await.unwrap();
    a.invite(room, bob).await.unwrap();
    a.join(room, None).await.unwrap();
    b.join(room, None).await.unwrap();
    (room, (ann, a), (bob, b), token)
}

async fn history(c: &Client, room: RoomId) -> Vec<switchboard_engine::domain::ChatMessage> {
    c.history(room, None, None, 50).await.unwrap().messages
}

async fn changes_are_entries_checked_against_their_target(t: &TestNode) {
    let (room, (ann, mut a), (bob, mut b), token) = pair(t).await;
    let first = a.send(room, "m1", "hello wrld").await.unwrap().pos;
    // Bob's view before any change: a resume from here must replay every change below.
    let before = expect(&mut b, WAIT, |f| match f {
        ServerFrame::Message(m) if m.pos == first => Some(m.pos),
        _ => None,
    })
    .await;

    // An edit: its own position after the message's; the message keeps its own.
    let edit = a.edit(room, "e1", first, "hello world").await.unwrap();
    assert!(edit.pos > first && !edit.duplicate);
    let seen = expect(&mut b, WAIT, |f| match f {
        ServerFrame::Edited(e) => Some(e),
        _ => None,
    })
    .await;
    assert_eq!(
        (seen.pos, seen.target, seen.sender, seen.text.as_str()),
        (edit.pos, first, ann, "hello world")
    );
    let again = a.edit(room, "e1", first, "hello world").await.unwrap();
    assert_eq!(
        (again.pos, again.duplicate),
        (edit.pos, true),
        "idempotent by cmid"
    );
    assert_eq!(
        code(b.edit(room, "e2", first, "mine now").await),
        Some(ErrorCode::Forbidden),
        "only the sender edits"
    );
    assert_eq!(
        code(a.edit(room, "e3", first, "").await),
        Some(ErrorCode::InvalidArgument)
    );
    assert_eq!(
        code(
            a.edit(room, "e4", Position::new(first.epoch, 999), "x")
                .await
        ),
        Some(ErrorCode::NotFound)
    );
    assert_eq!(
        code(a.edit(room, "e5", edit.pos, "x").await),
        Some(ErrorCode::NotFound),
        "an edit is no message to edit"
    );

    // Reactions: added, refused twice, removed, added again.
    let thumbs = b.react(room, "r1", first, "👍", false).await.unwrap();
    let seen = expect(&mut a, WAIT, |f| match f {
        ServerFrame::Reaction(r) => Some(r),
        _ => None,
    })
    .await;
    assert_eq!(
        (seen.pos, seen.sender, seen.emoji.as_str(), seen.removed),
        (thumbs.pos, bob, "👍", false)
    );
    assert_eq!(
        code(b.react(room, "r2", first, "👍", false).await),
        Some(ErrorCode::Conflict)
    );
    assert_eq!(
        code(a.react(room, "r3", first, "👍", true).await),
        Some(ErrorCode::NotFound),
        "no such reaction of hers"
    );
    assert_eq!(
        code(b.react(room, "r4", first, "two words", false).await),
        Some(ErrorCode::InvalidArgument)
    );
    b.react(room, "r5", first, "👍", true).await.unwrap();
    b.react(room, "r6", first, "👍", false).await.unwrap();
    a.react(room, "r7", first, "🎉", false).await.unwrap();

    // A reply quotes the message as it is now.
    let reply = b.reply(room, "m2", "it is!", first).await.unwrap();
    let seen = expect(&mut a, WAIT, |f| match f {
        ServerFrame::Message(m) if m.pos == reply.pos => Some(m),
        _ => None,
    })
    .await;
    let quote = seen.reply_to.expect("a reply carries its quote");
    assert_eq!(
        (quote.pos, quote.sender, quote.text.as_str()),
        (first, ann, "hello world")
    );
    assert_eq!(
        code(
            b.reply(room, "m3", "to nothing", Position::new(first.epoch, 999))
                .await
        ),
        Some(ErrorCode::NotFound)
    );

    // History shows the message as it is now; search finds only its current text.
    let page = history(&b, room).await;
    assert_eq!(page.len(), 2, "messages only, not their changes: {page:?}");
    assert_eq!(page[0].text, "hello world");
    assert!(page[0].edited.is_some());
    let reactions: Vec<_> = page[0]
        .reactions
        .iter()
        .map(|r| (r.emoji.as_str(), r.count, r.mine))
        .collect();
    assert_eq!(reactions, [("👍", 1, true), ("🎉", 1, false)]);
    assert_eq!(page[1].reply_to.as_ref().map(|q| q.pos), Some(first));
    assert!(b.search("wrld", Some(room), 10).await.unwrap().is_empty());
    assert_eq!(b.search("world", Some(room), 10).await.unwrap().len(), 1);

    // Deletes: not by another member; by the sender; then nothing more to change.
    assert_eq!(
        code(b.delete(room, "d1", first).await),
        Some(ErrorCode::Forbidden)
    );
    let deleted = a.delete(room, "d2", first).await.unwrap();
    let seen = expect(&mut b, WAIT, |f| match f {
        ServerFrame::Deleted(d) => Some(d),
        _ => None,
    })
    .await;
    assert_eq!((seen.pos, seen.target), (deleted.pos, first));
    assert_eq!(
        code(a.edit(room, "e6", first, "back").await),
        Some(ErrorCode::NotFound)
    );
    assert_eq!(
        code(b.react(room, "r8", first, "😢", false).await),
        Some(ErrorCode::NotFound)
    );
    let page = history(&b, room).await;
    assert!(page[0].deleted && page[0].text.is_empty() && page[0].reactions.is_empty());
    let quote = page[1].reply_to.as_ref().unwrap();
    assert!(quote.deleted && quote.text.is_empty(), "{quote:?}");
    assert!(b.search("world", Some(room), 10).await.unwrap().is_empty());

    // A second device resuming from before the changes gets every one, in order.
    let mut phone = t.client(&token).await;
    phone.join(room, Some(before)).await.unwrap();
    let resumed = expect(&mut phone, WAIT, |f| match f {
        ServerFrame::Resume(r) => Some(r),
        _ => None,
    })
    .await;
    assert_eq!(resumed.outcome, ResumeOutcome::Recovered);
    let mut kinds = Vec::new();
    for _ in 0..resumed.missed {
        let frame = phone.event_within(WAIT).await.expect("a replayed entry");
        let (_, pos) = frame.room_position().expect("an entry of the room");
        kinds.push((pos, frame_kind(&frame)));
    }
    assert!(
        kinds.windows(2).all(|w| w[0].0 < w[1].0),
        "in order: {kinds:?}"
    );
    let names: Vec<&str> = kinds.iter().map(|(_, k)| *k).collect();
    assert_eq!(
        names,
        [
            "edited", "reaction", "reaction", "reaction", "reaction", "message", "deleted"
        ]
    );
}

fn frame_kind(f: &ServerFrame) -> &'static str {
    match f {
        ServerFrame::Message(_) => "message",
        ServerFrame::Edited(_) => "edited",
        ServerFrame::Deleted(_) => "deleted",
        ServerFrame::Reaction(_) => "reaction",
        _ => "other",
    }
}

#[tokio::test]
async fn changes_are_entries_checked_against_their_target_on_sqlite() {
    let t = start(|_| {}).await;
    changes_are_entries_checked_against_their_target(&t).await;
    t.node.shutdown().await;
}

#[tokio::test]
async fn changes_are_entries_checked_against_their_target_on_postgres() {
    let db = ScratchDatabase::create(&admin_url(), "changes")
        .await
        .expect("Postgres must be running for these tests (ops/test.sh starts it)");
    let url = db.url.clone();
    let t = start(|c| c.database.url = Some(url)).await;
    changes_are_entries_checked_against_their_target(&t).await;
    t.node.shutdown().await;
}

/// The edit window closes; an owner deletes a member's message; reactions are bounded per
/// user and per message.
#[tokio::test]
async fn windows_rights_and_reaction_bounds() {
    let t = start(|c| c.limits.edit_window_secs = 1).await;
    let (room, (_, a), (_, b), _) = pair(&t).await;
    let mine = b.send(room, "b1", "typo").await.unwrap().pos;
    b.edit(room, "b2", mine, "fixed").await.unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        code(b.edit(room, "b3", mine, "too late").await),
        Some(ErrorCode::EditWindowClosed)
    );

    for i in 0..10 {
        b.react(room, &format!("rb{i}"), mine, &format!("b{i}"), false)
            .await
            .unwrap();
    }
    assert_eq!(
        code(b.react(room, "rb10", mine, "b10", false).await),
        Some(ErrorCode::TooManyReactions),
        "ten of one user's on a message"
    );
    for i in 0..10 {
        a.react(room, &format!("ra{i}"), mine, &format!("a{i}"), false)
            .await
            .unwrap();
    }
    assert_eq!(
        code(a.react(room, "ra-same", mine, "b0", false).await),
        Some(ErrorCode::TooManyReactions),
        "an eleventh of hers, even of an emoji already there"
    );
    let (carol_id, carol) = t.member().await;
    a.invite(room, carol_id).await.unwrap();
    assert_eq!(
        code(carol.react(room, "rc", mine, "new", false).await),
        Some(ErrorCode::TooManyReactions),
        "twenty different emoji on a message"
    );
    carol.react(room, "rc2", mine, "a0", false).await.unwrap();

    // The owner deletes a member's message.
    a.delete(room, "ad", mine).await.unwrap();
    assert!(history(&b, room).await[0].deleted);
    t.node.shutdown().await;
}
