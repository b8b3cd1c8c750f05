//! Sent, delivered and read over real sockets (PROTOCOL §6.18): in a direct conversation the
//! sender sees each message delivered (any device of the other member said it arrived) and
//! then read, live; in a group nobody is sent delivery marks, and `receipts` gives every
//! member's watermarks for "read by N"; marks never fall, reading delivers, a second device's
//! mark for what is known already tells nobody; on SQLite and on Postgres.

mod support;

use std::time::Duration;

use support::{TestNode, WAIT, expect, expect_none, start};
use switchboard_client::{Client, ClientError};
use switchboard_engine::domain::MemberReceipt;
use switchboard_engine::protocol::{ReadReceipt, ServerFrame, Visibility};
use switchboard_engine::{ErrorCode, UserId};

const QUIET: Duration = Duration::from_millis(300);

fn code<T: std::fmt::Debug>(r: Result<T, ClientError>) -> Option<ErrorCode> {
    r.err().and_then(|e| e.code())
}

async fn named(t: &TestNode, name: &str) -> (UserId, Client) {
    let s = t
        .node
        .accounts
        .sign_up(name, "correct horse")
        .await
        .unwrap();
    (s.user.id, t.client(&s.token).await)
}

/// Another device of the account `name`.
async fn device(t: &TestNode, name: &str) -> Client {
    let s = t
        .node
        .accounts
        .sign_in(name, "correct horse")
        .await
        .unwrap();
    t.client(&s.token).await
}

async fn delivered(c: &mut Client) -> ReadReceipt {
    expect(c, WAIT, |f| match f {
        ServerFrame::DeliveryReceipt(r) => Some(r),
        _ => None,
    })
    .await
}

async fn read(c: &mut Client) -> ReadReceipt {
    expect(c, WAIT, |f| match f {
        ServerFrame::ReadReceipt(r) => Some(r),
        _ => None,
    })
    .await
}

fn is_delivery(f: &ServerFrame) -> bool {
    matches!(f, ServerFrame::DeliveryReceipt(_))
}

async fn ticks(t: &TestNode) {
    let (ann, mut ann_c) = named(t, "ann_tk").await;
    let (bob, mut bob_phone) = named(t, "bob_tk").await;
    let mut bob_laptop = device(t, "bob_tk").await;

    // A direct conversation: sent, then delivered, then read, each live.
    let direct = ann_c.open_direct(bob).await.unwrap();
    for c in [&mut ann_c, &mut bob_phone, &mut bob_laptop] {
        c.join(direct, None).await.unwrap();
    }
    let first = ann_c.send(direct, "d1", "are you there?").await.unwrap();
    let second = ann_c.send(direct, "d2", "hello?").await.unwrap();
    bob_phone.mark_delivered(direct, first.pos).await.unwrap();
    let tick = delivered(&mut ann_c).await;
    assert_eq!((tick.room, tick.user, tick.pos), (direct, bob, first.pos));
    // The other device hears of it too (it is not the connection that said it).
    assert_eq!(delivered(&mut bob_laptop).await.pos, first.pos);

    // The laptop had it already: a mark at or below the stored one tells nobody.
    bob_laptop.mark_delivered(direct, first.pos).await.unwrap();
    expect_none(&mut ann_c, QUIET, is_delivery).await;
    bob_laptop.mark_delivered(direct, second.pos).await.unwrap();
    assert_eq!(delivered(&mut ann_c).await.pos, second.pos);

    bob_phone.mark_read(direct, second.pos).await.unwrap();
    let seen = read(&mut ann_c).await;
    assert_eq!((seen.user, seen.pos), (bob, second.pos));

    // Reading delivers: a third message read straight away is delivered as far as it goes.
    let third = ann_c.send(direct, "d3", "great").await.unwrap();
    bob_laptop.mark_read(direct, third.pos).await.unwrap();
    assert_eq!(read(&mut ann_c).await.pos, third.pos);
    bob_phone.mark_delivered(direct, third.pos).await.unwrap();
    expect_none(&mut ann_c, QUIET, is_delivery).await;
    let (marks, more) = ann_c.receipts(direct, None, 10).await.unwrap();
    assert!(!more);
    let mut expected = vec![
        MemberReceipt {
            user: ann,
            read: None,
            delivered: None,
        },
        MemberReceipt {
            user: bob,
            read: Some(third.pos),
            delivered: Some(third.pos),
        },
    ];
    expected.sort_by_key(|m| m.user);
    assert_eq!(marks, expected);

    // A group: delivery marks are stored, and nobody is sent them; read receipts as before.
    let (cy, mut cy_c) = named(t, "cy_tk").await;
    let team = ann_c
        .create_room("team", Visibility::Private)
        .await
        .unwrap();
    ann_c.invite(team, bob).await.unwrap();
    ann_c.invite(team, cy).await.unwrap();
    for c in [&mut ann_c, &mut bob_phone, &mut cy_c] {
        c.join(team, None).await.unwrap();
    }
    let news = ann_c.send(team, "t1", "news").await.unwrap();
    bob_phone.mark_delivered(team, news.pos).await.unwrap();
    cy_c.mark_delivered(team, news.pos).await.unwrap();
    expect_none(&mut ann_c, QUIET, is_delivery).await;
    cy_c.mark_read(team, news.pos).await.unwrap();
    assert_eq!(read(&mut ann_c).await.user, cy);
    let (page, more) = ann_c.receipts(team, None, 2).await.unwrap();
    assert!(more);
    let (rest, more) = ann_c.receipts(team, Some(page[1].user), 2).await.unwrap();
    assert!(!more);
    let all: Vec<MemberReceipt> = page.into_iter().chain(rest).collect();
    let read_by = all.iter().filter(|m| m.read >= Some(news.pos)).count();
    let delivered_to = all.iter().filter(|m| m.delivered >= Some(news.pos)).count();
    assert_eq!((all.len(), read_by, delivered_to), (3, 1, 2), "{all:?}");

    // Bounds and rights: a page of 0 or 501, and anyone not a member, are refused.
    assert_eq!(
        code(ann_c.receipts(team, None, 0).await),
        Some(ErrorCode::InvalidArgument)
    );
    assert_eq!(
        code(ann_c.receipts(team, None, 501).await),
        Some(ErrorCode::InvalidArgument)
    );
    let (_, mut eve_c) = named(t, "eve_tk").await;
    assert_eq!(
        code(eve_c.receipts(team, None, 10).await),
        Some(ErrorCode::Forbidden)
    );
    assert_eq!(
        code(eve_c.mark_delivered(team, news.pos).await),
        Some(ErrorCode::NotJoined)
    );
    expect_none(&mut eve_c, QUIET, |_| true).await;
}

#[tokio::test]
async fn ticks_on_sqlite() {
    let t = start(|_| {}).await;
    ticks(&t).await;
    t.node.shutdown().await;
}

#[tokio::test]
async fn ticks_on_postgres() {
    let (_db, t) = support::start_on_postgres("receipts").await;
    ticks(&t).await;
    t.node.shutdown().await;
}
