//! The actors driven directly, without a socket: room commands go through the router with a
//! plain `Outbound` queue as their caller's reply path, and a connection actor runs over a
//! channel transport. Timing uses tokio's paused clock, not sleeps.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use futures::channel::mpsc;
use futures::future::BoxFuture;
use futures::{FutureExt, Sink, SinkExt, Stream, StreamExt};
use kameo::actor::Spawn;
use switchboard_actors::attachments::{AttachmentRefused, Attachments};
use switchboard_actors::cluster::ClusterLink;
use switchboard_actors::cluster::wire::{self, Envelope};
use switchboard_actors::config::ForwardLimits;
use switchboard_actors::connection::ConnArgs;
use switchboard_actors::outbound::{self, OutboundReceiver, Outgoing};
use switchboard_actors::room::{Caller, Command, RoomCommand};
use switchboard_actors::supervised::Supervisor;
use switchboard_actors::{ConnectionActor, Hub, HubConfig, Inbound, OutFrame, TransportError};
use switchboard_engine::Position;
use switchboard_engine::auth::{Identity, LocalTokens};
use switchboard_engine::domain::{Attachment, RoomKind, UserInfo};
use switchboard_engine::protocol::Done;
use switchboard_engine::protocol::{ServerFrame, SignedUpload, SlotAttachment};
use switchboard_engine::ring::{NodeId, Ring};
use switchboard_engine::{AttachmentId, Codec, ConnId, ErrorCode, RoomId, UserId, close};
use switchboard_persistence::cluster::bus::{Bus, LocalBus};
use switchboard_persistence::cluster::throttle::{LocalThrottle, Rule, Rules};
use switchboard_persistence::store::sqlite::SqliteStore;
use switchboard_persistence::{Store, WriteBehind, WriteBehindConfig};
use tokio::sync::watch;

const WAIT: Duration = Duration::from_secs(5);

struct Node {
    hub: Arc<Hub>,
    store: Arc<dyn Store>,
    _dir: tempfile::TempDir,
}

async fn node(config: HubConfig) -> Node {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> =
        Arc::new(SqliteStore::open(&dir.path().join("db.sqlite"), false).unwrap());
    let journal = WriteBehind::spawn(store.clone(), WriteBehindConfig::default());
    let rule = |max| Rule {
        max,
        window: Duration::from_secs(60),
    };
    let rules = Rules {
        commands: rule(1000),
        introductions: rule(100),
        sign_in_name: rule(100),
        sign_in_addr: rule(100),
        sign_in_name_addr: rule(100),
        user_searches: rule(100),
        max_subjects: 1000,
    };
    let tokens = Arc::new(LocalTokens::new(b"test secret of at least 32 bytes!", 3600));
    let hub = Hub::start(
        store.clone(),
        journal,
        tokens,
        Arc::new(LocalThrottle::new(rules)),
        config,
    );
    Node {
        hub,
        store,
        _dir: dir,
    }
}

impl Node {
    async fn user(&self, name: &str) -> UserInfo {
        self.store.create_user(name, "-").await.unwrap()
    }

    async fn room(&self, owner: UserId, kind: RoomKind) -> RoomId {
        self.store.create_room("r", kind, owner).await.unwrap().id
    }
}

/// A caller whose answers land in a queue the test reads.
struct Member {
    user: UserId,
    caller: Caller,
    rx: OutboundReceiver,
}

fn member(user: UserId, conn: u64) -> Member {
    let (out, rx) = outbound::channel(ConnId(conn), Codec::MsgPack, 1024, 1 << 20);
    let caller = Caller::local(&out, user, 0);
    Member { user, caller, rx }
}

impl Member {
    fn send(&self, hub: &Arc<Hub>, room: RoomId, rid: u64, cmd: RoomCommand) {
        let caller = Caller {
            rid,
            ..self.caller.clone()
        };
        let cmd = Command::new(room, caller, cmd);
        hub.router().send_now(cmd);
    }

    async fn next(&mut self) -> ServerFrame {
        let item = tokio::time::timeout(WAIT, self.rx.recv())
            .await
            .expect("a frame in time")
            .expect("queue open");
        let bytes = match item {
            Outgoing::Event(e) => e.bytes(Codec::MsgPack),
            Outgoing::Frame(b) => b,
            Outgoing::Notice(n) => panic!("a notice on a single node: {n:?}"),
            Outgoing::Flush => panic!("a flush without a socket"),
        };
        Codec::MsgPack.decode(&bytes).unwrap()
    }

    /// The next frame `pick` accepts, skipping others.
    async fn expect<T>(&mut self, mut pick: impl FnMut(ServerFrame) -> Option<T>) -> T {
        loop {
            if let Some(t) = pick(self.next().await) {
                return t;
            }
        }
    }
}

fn post(cmid: &str, text: &str) -> RoomCommand {
    RoomCommand::Post {
        cmid: cmid.into(),
        text: text.into(),
        attachments: Vec::new(),
        reply_to: None,
        mentions: Vec::new(),
    }
}

#[tokio::test]
async fn a_room_answers_every_command_through_its_callers_reply_path() {
    let n = node(HubConfig::default()).await;
    let owner = n.user("owner").await;
    let guest = n.user("guest").await;
    let room = n.room(owner.id, RoomKind::Public).await;
    let mut a = member(owner.id, 1);
    let mut b = member(guest.id, 2);

    // The room is not active: the supervisor starts it and hands over both commands in order.
    a.send(&n.hub, room, 1, RoomCommand::Join { resume: None });
    a.send(&n.hub, room, 2, post("c1", "hello"));
    let joined = a.expect(|f| match f {
        ServerFrame::Joined(j) => Some(j),
        _ => None,
    });
    assert_eq!(joined.await.rid, 1);
    let sent = a
        .expect(|f| match f {
            ServerFrame::Sent(s) => Some(s),
            _ => None,
        })
        .await;
    assert_eq!((sent.rid, sent.pos.seq, sent.duplicate), (2, 1, false));

    // A non-member of a public room becomes one by joining; before that a post is refused.
    b.send(&n.hub, room, 3, post("g1", "let me in"));
    let refused = b
        .expect(|f| match f {
            ServerFrame::Error(e) => Some(e),
            _ => None,
        })
        .await;
    assert_eq!((refused.rid, refused.code), (Some(3), ErrorCode::Forbidden));
    b.send(&n.hub, room, 4, RoomCommand::Join { resume: None });
    b.expect(|f| matches!(f, ServerFrame::Joined(_)).then_some(()))
        .await;
    a.expect(|f| match f {
        ServerFrame::MemberJoined(m) if m.user == b.user => Some(()),
        _ => None,
    })
    .await;

    // A resend is answered with the original's position; typing reaches the other member.
    a.send(&n.hub, room, 5, post("c1", "hello"));
    let again = a
        .expect(|f| match f {
            ServerFrame::Sent(s) => Some(s),
            _ => None,
        })
        .await;
    assert_eq!((again.rid, again.pos, again.duplicate), (5, sent.pos, true));
    a.send(&n.hub, room, 6, RoomCommand::Typing { active: true });
    a.expect(|f| matches!(f, ServerFrame::Done(d) if d.rid == 6).then_some(()))
        .await;
    b.expect(|f| match f {
        ServerFrame::Typing(t) if t.user == a.user && t.active => Some(()),
        _ => None,
    })
    .await;

    // Leaving is stored, announced (to the leaver too) and answered `left`.
    b.send(&n.hub, room, 7, RoomCommand::Leave);
    b.expect(|f| matches!(f, ServerFrame::Left(l) if l.rid == 7).then_some(()))
        .await;
    assert!(!n.store.is_member(room, guest.id).await.unwrap());
    // Typing from someone no longer a member is refused (3002) and reaches nobody.
    b.send(&n.hub, room, 8, RoomCommand::Typing { active: true });
    let refused = b
        .expect(|f| match f {
            ServerFrame::Error(e) if e.rid == Some(8) => Some(e),
            _ => None,
        })
        .await;
    assert_eq!(refused.code, ErrorCode::NotJoined);
}

/// The node's media, faked: ids below 100 are the sender's files, each check taking 50 ms;
/// others are not uploaded. Counts the checks.
#[derive(Default)]
struct FakeMedia {
    checks: AtomicUsize,
}

impl Attachments for FakeMedia {
    fn open_slot<'a>(
        &'a self,
        _: RoomId,
        _: UserId,
        _: Option<switchboard_engine::domain::Plan>,
        _: &'a switchboard_engine::protocol::AttachmentSlot,
    ) -> BoxFuture<'a, Result<(SlotAttachment, SignedUpload), AttachmentRefused>> {
        async { Err(AttachmentRefused::new(ErrorCode::Internal, "no slots here")) }.boxed()
    }

    fn attach<'a>(
        &'a self,
        _: RoomId,
        _: UserId,
        ids: &'a [AttachmentId],
    ) -> BoxFuture<'a, Result<Vec<Attachment>, AttachmentRefused>> {
        async move {
            self.checks.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(50)).await;
            ids.iter()
                .map(|&id| match id.0 < 100 {
                    true => Ok(Attachment {
                        id,
                        name: format!("file{id}"),
                        content_type: "text/plain".into(),
                        size: id.0,
                        thumbnail: false,
                    }),
                    false => Err(AttachmentRefused::new(ErrorCode::NotUploaded, "not yet")),
                })
                .collect()
        }
        .boxed()
    }
}

fn post_with(cmid: &str, ids: &[u64]) -> RoomCommand {
    RoomCommand::Post {
        cmid: cmid.into(),
        text: "see attached".into(),
        attachments: ids.iter().map(|&id| AttachmentId(id)).collect(),
        reply_to: None,
        mentions: Vec::new(),
    }
}

#[tokio::test]
async fn a_room_checks_attachments_off_its_actor_and_keeps_each_connections_order() {
    let n = node(HubConfig::default()).await;
    let media = Arc::new(FakeMedia::default());
    n.hub.set_attachments(media.clone());
    let (ann, bob) = (n.user("ann").await, n.user("bob").await);
    let room = n.room(ann.id, RoomKind::Public).await;
    let mut a = member(ann.id, 1);
    let mut b = member(bob.id, 2);
    b.send(&n.hub, room, 1, RoomCommand::Join { resume: None });
    b.expect(|f| matches!(f, ServerFrame::Joined(_)).then_some(()))
        .await;
    let sent = |f| match f {
        ServerFrame::Sent(s) => Some(s),
        _ => None,
    };

    // Ann's plain post waits behind her checked one; Bob's does not wait for either.
    a.send(&n.hub, room, 1, post_with("files", &[1, 2]));
    a.send(&n.hub, room, 2, post("after", "right after"));
    b.send(&n.hub, room, 2, post("bob", "meanwhile"));
    let bobs = b.expect(sent).await;
    let message = b
        .expect(|f| match f {
            ServerFrame::Message(m) if m.cmid == "files" => Some(m),
            _ => None,
        })
        .await;
    assert_eq!(
        message
            .attachments
            .iter()
            .map(|a| a.id.0)
            .collect::<Vec<_>>(),
        vec![1, 2],
        "the checked metadata travels with the message"
    );
    let (files, after) = (a.expect(sent).await, a.expect(sent).await);
    assert_eq!((files.rid, after.rid), (1, 2));
    assert!(bobs.pos < files.pos && files.pos < after.pos);
    assert_eq!(media.checks.load(Ordering::Relaxed), 1);

    // A resend is answered from the room's buffer without another check.
    a.send(&n.hub, room, 3, post_with("files", &[1, 2]));
    let again = a.expect(sent).await;
    assert_eq!((again.pos, again.duplicate), (files.pos, true));
    assert_eq!(media.checks.load(Ordering::Relaxed), 1);

    // A refused attachment refuses the post; nothing gets a position.
    a.send(&n.hub, room, 4, post_with("missing", &[1, 500]));
    let error = a
        .expect(|f| match f {
            ServerFrame::Error(e) => Some(e),
            _ => None,
        })
        .await;
    assert_eq!((error.rid, error.code), (Some(4), ErrorCode::NotUploaded));
    a.send(&n.hub, room, 5, post("next", "still in order"));
    assert_eq!(a.expect(sent).await.pos.seq, after.pos.seq + 1);
}

#[tokio::test]
async fn typing_lapses_after_its_time_to_live() {
    let config = HubConfig::default();
    let ttl = config.typing_ttl;
    let n = node(config).await;
    let (x, y) = (n.user("x").await, n.user("y").await);
    let room = n.room(x.id, RoomKind::Public).await;
    let (mut a, mut b) = (member(x.id, 1), member(y.id, 2));
    for (m, rid) in [(&mut a, 1), (&mut b, 2)] {
        m.send(&n.hub, room, rid, RoomCommand::Join { resume: None });
        m.expect(|f| matches!(f, ServerFrame::Joined(_)).then_some(()))
            .await;
    }
    a.send(&n.hub, room, 3, RoomCommand::Typing { active: true });
    b.expect(|f| matches!(f, ServerFrame::Typing(t) if t.active).then_some(()))
        .await;

    // From here the clock moves only when told: nothing lapses early...
    tokio::time::pause();
    tokio::time::advance(ttl - Duration::from_millis(100)).await;
    assert!(b.rx.try_recv().is_none(), "typing lapsed before its time");
    // ...and it lapses once its time has passed, with nobody saying `active: false`.
    tokio::time::advance(Duration::from_millis(200)).await;
    b.expect(|f| match f {
        ServerFrame::Typing(t) if t.user == x.id && !t.active => Some(()),
        _ => None,
    })
    .await;
}

#[tokio::test]
async fn a_private_room_refuses_outsiders_and_its_owner_removes_members() {
    let n = node(HubConfig::default()).await;
    let (owner, guest) = (n.user("o").await, n.user("g").await);
    let room = n.room(owner.id, RoomKind::Private).await;
    let (mut a, mut b) = (member(owner.id, 1), member(guest.id, 2));
    b.send(&n.hub, room, 1, RoomCommand::Join { resume: None });
    let e = b
        .expect(|f| match f {
            ServerFrame::Error(e) => Some(e),
            _ => None,
        })
        .await;
    assert_eq!(e.code, ErrorCode::Forbidden);
    a.send(&n.hub, room, 2, RoomCommand::Invite { user: guest.id });
    a.expect(|f| matches!(f, ServerFrame::Invited(_)).then_some(()))
        .await;
    b.send(&n.hub, room, 3, RoomCommand::Join { resume: None });
    b.expect(|f| matches!(f, ServerFrame::Joined(_)).then_some(()))
        .await;
    a.send(&n.hub, room, 4, RoomCommand::Kick { user: guest.id });
    a.expect(|f| matches!(f, ServerFrame::Done(d) if d.rid == 4).then_some(()))
        .await;
    b.expect(|f| matches!(f, ServerFrame::MemberLeft(m) if m.user == guest.id).then_some(()))
        .await;
}

/// A socket made of two channels: the test writes what the client sends and reads what the
/// connection writes.
struct ChannelSocket {
    inbound: mpsc::Receiver<Inbound>,
    outbound: mpsc::Sender<OutFrame>,
}

impl Stream for ChannelSocket {
    type Item = Inbound;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Inbound>> {
        self.inbound.poll_next_unpin(cx)
    }
}

fn closed(e: mpsc::SendError) -> TransportError {
    TransportError(e.to_string())
}

impl Sink<OutFrame> for ChannelSocket {
    type Error = TransportError;

    fn poll_ready(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), TransportError>> {
        self.outbound.poll_ready_unpin(cx).map_err(closed)
    }

    fn start_send(
        mut self: std::pin::Pin<&mut Self>,
        item: OutFrame,
    ) -> Result<(), TransportError> {
        self.outbound.start_send_unpin(item).map_err(closed)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), TransportError>> {
        self.outbound.poll_flush_unpin(cx).map_err(closed)
    }

    fn poll_close(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), TransportError>> {
        self.outbound.poll_close_unpin(cx).map_err(closed)
    }
}

/// Spawns a connection actor over channels; returns the client's ends.
fn connect(hub: &Arc<Hub>) -> (mpsc::Sender<Inbound>, mpsc::Receiver<OutFrame>) {
    connect_as(hub, None)
}

/// The same, signed in at the upgrade as `identity` when given.
fn connect_as(
    hub: &Arc<Hub>,
    identity: Option<Identity>,
) -> (mpsc::Sender<Inbound>, mpsc::Receiver<OutFrame>) {
    let (to_server, inbound) = mpsc::channel(16);
    let (outbound, from_server) = mpsc::channel(16);
    let transport = Box::new(ChannelSocket { inbound, outbound });
    ConnectionActor::spawn(ConnArgs {
        hub: hub.clone(),
        transport,
        codec: Codec::Json,
        identity,
        pass: None,
        socket: None,
    });
    (to_server, from_server)
}

async fn frame(rx: &mut mpsc::Receiver<OutFrame>) -> OutFrame {
    tokio::time::timeout(WAIT, rx.next())
        .await
        .expect("a frame in time")
        .expect("socket open")
}

fn decode(f: &OutFrame) -> ServerFrame {
    match f {
        OutFrame::Data { bytes, .. } => Codec::Json.decode(bytes).unwrap(),
        other => panic!("expected a data frame, got {other:?}"),
    }
}

#[tokio::test]
async fn a_connection_answers_from_memory_and_closes_one_that_never_signs_in() {
    let n = node(HubConfig::default()).await;
    let (mut tx, mut rx) = connect(&n.hub);
    assert!(matches!(
        decode(&frame(&mut rx).await),
        ServerFrame::Hello(_)
    ));
    // Before signing in, every command but `auth` is refused with a code.
    let ping = br#"{"type":"ping","rid":7}"#;
    tx.send(Inbound::Data {
        bytes: bytes::Bytes::from_static(ping),
        text: true,
    })
    .await
    .unwrap();
    match decode(&frame(&mut rx).await) {
        ServerFrame::Error(e) => assert_eq!((e.rid, e.code), (Some(7), ErrorCode::Unauthenticated)),
        other => panic!("expected an error, got {other:?}"),
    }
    // The authentication deadline, on the paused clock: `disconnect` 4001, then the close.
    tokio::time::pause();
    tokio::time::advance(HubConfig::default().auth_timeout).await;
    match decode(&frame(&mut rx).await) {
        ServerFrame::Disconnect(d) => assert_eq!(d.code, close::AUTH_TIMEOUT),
        other => panic!("expected disconnect, got {other:?}"),
    }
    assert!(matches!(
        frame(&mut rx).await,
        OutFrame::Close {
            code: close::AUTH_TIMEOUT,
            ..
        }
    ));
}

/// Another node's side of the bus: batches to this node, numbered as a sender numbers them.
struct Peer {
    bus: Arc<LocalBus>,
    me: NodeId,
    to: NodeId,
    seq: u64,
}

impl Peer {
    /// One `Deliver` to `conn`: `frame` stands for what the owner sends (the connection
    /// writes it as it is), with the room position or the `joined` mark it carries.
    async fn deliver(
        &mut self,
        conn: ConnId,
        frame: u64,
        pos: Option<(RoomId, u64)>,
        joined: Option<RoomId>,
    ) {
        self.seq += 1;
        let envelope = Envelope::Deliver {
            conns: Arc::from([conn]),
            room_pos: pos.map(|(room, seq)| (room, Position { epoch: 1, seq })),
            frame: Codec::MsgPack
                .encode(&ServerFrame::Pong(Done { rid: frame }))
                .unwrap(),
            joined,
            answers: None,
            if_subscribed: None,
        };
        self.bus
            .send(&self.to, wire::encode(&self.me, self.seq, &[envelope]))
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn a_connection_takes_a_remote_room_only_while_subscribed_at_its_node() {
    let n = node(HubConfig::default()).await;
    let (a, b, c) = (NodeId("a".into()), NodeId("b".into()), NodeId("c".into()));
    let bus = Arc::new(LocalBus::new(64));
    let (_ring, ring_rx) = watch::channel(Ring::new([a.clone(), b.clone(), c.clone()]));
    let tasks = Supervisor::new();
    let link = ClusterLink::start(
        a.clone(),
        bus.clone(),
        ring_rx,
        ForwardLimits::default(),
        n.hub.router(),
        &tasks,
    );
    n.hub.set_cluster(link);
    let ann = n.user("ann").await;
    let identity = Identity {
        user: ann.id,
        name: ann.name,
        plan: None,
    };
    let (_tx, mut rx) = connect_as(&n.hub, Some(identity));
    let ServerFrame::Hello(hello) = decode(&frame(&mut rx).await) else {
        panic!("expected hello");
    };
    let conn = ConnId(hello.conn);
    let room = RoomId(7);
    let mut from_b = Peer {
        bus: bus.clone(),
        me: b,
        to: a.clone(),
        seq: 0,
    };
    let mut from_c = Peer {
        bus,
        me: c,
        to: a,
        seq: 0,
    };
    let written = |f: OutFrame| match decode(&f) {
        ServerFrame::Pong(d) => d.rid,
        ServerFrame::RoomReset(r) => {
            assert_eq!(r.room, room);
            0
        }
        other => panic!("unexpected {other:?}"),
    };
    // Subscribed at b by its `joined` reply: b's messages for the room come through.
    from_b.deliver(conn, 1, None, Some(room)).await;
    from_b.deliver(conn, 2, Some((room, 1)), None).await;
    assert_eq!(written(frame(&mut rx).await), 1);
    assert_eq!(written(frame(&mut rx).await), 2);
    // The same room from a node it is not subscribed at: dropped.
    from_c.deliver(conn, 3, Some((room, 2)), None).await;
    // Batches from b lost (its sequence skips): the room starts over (`room_reset`), and b's
    // messages are dropped until the rejoin is answered.
    from_b.seq += 1;
    from_b.deliver(conn, 4, Some((room, 4)), None).await;
    assert_eq!(written(frame(&mut rx).await), 0, "room_reset");
    from_b.deliver(conn, 5, None, Some(room)).await;
    from_b.deliver(conn, 6, Some((room, 5)), None).await;
    assert_eq!(written(frame(&mut rx).await), 5);
    assert_eq!(written(frame(&mut rx).await), 6);
}
