//! A Rust client for Switchboard, used by the tests and the load harness.
//!
//! A background task owns the socket: it matches replies to requests by `rid`, keeps the last
//! position seen in every room, and hands every event to [`Client::next_event`]. After a drop,
//! [`Client::reconnect`] opens a new socket and re-joins every room from its last position, so
//! the caller receives exactly what it missed.
//!
//! A message can reach members live and then be lost with its node before it was stored; its
//! sender resends it and it comes again at a new position with the same sender and `cmid`
//! (PROTOCOL §8.2). [`Client::earlier_position`] says where such a message was first seen, so
//! an application shows it once.
//!
//! # Layout
//! - this file: `Client`, its commands and reconnect.
//! - [`io`]: the socket task.
//! - `people`: profiles, one's own profile, users by name.
//! - `room_list`: the room list by activity, muting a room.
//! - [`seen`]: where each recent message was first seen, by (room, sender, `cmid`).

mod io;
mod messages;
mod people;
mod receipts;
mod room_list;
mod seen;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use switchboard_engine::codec::{SUBPROTOCOL_JSON, SUBPROTOCOL_MSGPACK};
use switchboard_engine::protocol::{self as p, ClientFrame, ServerFrame, Visibility};
use switchboard_engine::{AttachmentId, Codec, ErrorCode, Position, RoomId, UserId};
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

/// Tries per room when `reconnect` re-joins it, and the pause between tries.
const REJOIN_ATTEMPTS: u32 = 5;
const REJOIN_PAUSE: Duration = Duration::from_millis(200);

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("server error {code:?}: {message}")]
    Server { code: ErrorCode, message: String },
    #[error("connection closed")]
    Closed,
    #[error("timed out waiting for a reply")]
    Timeout,
    #[error("websocket: {0}")]
    WebSocket(#[from] tokio_tungstenite::tungstenite::Error),
    #[error("unexpected reply: {0:?}")]
    Unexpected(Box<ServerFrame>),
}

impl ClientError {
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            ClientError::Server { code, .. } => Some(*code),
            _ => None,
        }
    }
}

/// How to connect.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// `ws://host:port/ws`
    pub url: String,
    /// Other nodes of the cluster (`ws://host:port/ws`), tried in turn when the current node
    /// does not answer, at connect and at every reconnect.
    pub nodes: Vec<String>,
    /// Sent as `?token=` on the upgrade when set.
    pub token: Option<String>,
    pub codec: Codec,
    /// How long a request waits for its reply.
    pub timeout: Duration,
    /// Events buffered before the socket task stops reading (and the server sees a slow reader).
    pub event_buffer: usize,
}

impl ClientConfig {
    pub fn new(url: impl Into<String>, token: Option<String>) -> Self {
        ClientConfig {
            url: url.into(),
            nodes: Vec::new(),
            token,
            codec: Codec::MsgPack,
            timeout: Duration::from_secs(10),
            event_buffer: 65_536,
        }
    }
}

/// State shared with the socket task.
#[derive(Default)]
pub(crate) struct Shared {
    pending: Mutex<HashMap<u64, oneshot::Sender<ServerFrame>>>,
    positions: Mutex<HashMap<RoomId, Position>>,
    close: Mutex<Option<(u16, String)>>,
}

pub struct Client {
    config: ClientConfig,
    /// Index of the node connected to, in `url` then `nodes`.
    node: usize,
    next_rid: AtomicU64,
    shared: Arc<Shared>,
    out: mpsc::UnboundedSender<io::Out>,
    events: mpsc::Receiver<ServerFrame>,
    /// Events a previous socket brought that were not read before `reconnect`; read first.
    backlog: std::collections::VecDeque<ServerFrame>,
    /// Where the messages handed out lately were first seen.
    seen: seen::Seen,
    hello: p::Hello,
    joined: Vec<RoomId>,
}

impl Client {
    pub async fn connect(url: &str, token: Option<&str>) -> Result<Client, ClientError> {
        Client::connect_with(ClientConfig::new(url, token.map(str::to_owned))).await
    }

    pub async fn connect_with(config: ClientConfig) -> Result<Client, ClientError> {
        let shared = Arc::new(Shared::default());
        let Connected {
            out,
            events,
            hello,
            node,
        } = open(&config, 0, shared.clone()).await?;
        Ok(Client {
            config,
            node,
            next_rid: AtomicU64::new(1),
            shared,
            out,
            events,
            backlog: Default::default(),
            seen: seen::Seen::new(seen::REMEMBERED),
            hello,
            joined: Vec::new(),
        })
    }

    pub fn hello(&self) -> &p::Hello {
        &self.hello
    }

    /// The last position seen in `room`.
    pub fn position(&self, room: RoomId) -> Option<Position> {
        self.shared
            .positions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&room)
            .copied()
    }

    /// The close code and reason, once the server closed the socket.
    pub fn close_frame(&self) -> Option<(u16, String)> {
        self.shared
            .close
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The next event (or unmatched frame); `None` once the socket is closed and drained.
    pub async fn next_event(&mut self) -> Option<ServerFrame> {
        let frame = match self.backlog.pop_front() {
            Some(frame) => Some(frame),
            None => self.events.recv().await,
        };
        if let Some(ServerFrame::Message(m)) = &frame {
            self.seen.note(m);
        }
        frame
    }

    /// Where this client first handed out `m` (same room, sender and `cmid`), when that was at
    /// another position: the same message came again after its first copy was lost before it
    /// was stored (PROTOCOL §8.2). Show it once: move the copy shown there to `m.pos`.
    /// Remembers the last [`seen::REMEMBERED`] messages handed out by [`Client::next_event`].
    pub fn earlier_position(
        &self,
        m: &switchboard_engine::domain::ChatMessage,
    ) -> Option<Position> {
        self.seen.first(m).filter(|first| *first != m.pos)
    }

    /// The next event within `wait`.
    pub async fn event_within(&mut self, wait: Duration) -> Option<ServerFrame> {
        tokio::time::timeout(wait, self.next_event())
            .await
            .ok()
            .flatten()
    }

    /// Sends a command built around a fresh `rid` and waits for its reply.
    pub async fn request(
        &self,
        build: impl FnOnce(u64) -> ClientFrame,
    ) -> Result<ServerFrame, ClientError> {
        let rid = self.next_rid.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.shared
            .pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(rid, tx);
        let bytes = self
            .config
            .codec
            .encode(&build(rid))
            .expect("client frames encode");
        self.out
            .send(io::Out::Frame(bytes, self.config.codec.is_text()))
            .map_err(|_| ClientError::Closed)?;
        let reply = match tokio::time::timeout(self.config.timeout, rx).await {
            Ok(reply) => reply.map_err(|_| ClientError::Closed)?,
            Err(_) => {
                // Forget the request, so a reply that never comes leaves nothing behind.
                self.shared
                    .pending
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&rid);
                return Err(ClientError::Timeout);
            }
        };
        match reply {
            ServerFrame::Error(e) => Err(ClientError::Server {
                code: e.code,
                message: e.message,
            }),
            other => Ok(other),
        }
    }

    /// Sends raw bytes as one WebSocket message (binary, or text when `text`).
    pub fn send_raw(&self, bytes: Vec<u8>, text: bool) -> Result<(), ClientError> {
        self.out
            .send(io::Out::Frame(bytes.into(), text))
            .map_err(|_| ClientError::Closed)
    }

    /// Closes the socket normally.
    pub fn close(&self) {
        let _ = self.out.send(io::Out::Close);
    }

    pub async fn auth(&self, token: &str) -> Result<p::Authed, ClientError> {
        let token = token.to_owned();
        match self
            .request(|rid| ClientFrame::Auth(p::Auth { rid, token }))
            .await?
        {
            ServerFrame::Authed(a) => Ok(a),
            other => Err(ClientError::Unexpected(Box::new(other))),
        }
    }

    pub async fn create_room(
        &self,
        name: &str,
        visibility: Visibility,
    ) -> Result<RoomId, ClientError> {
        let name = name.to_owned();
        match self
            .request(|rid| {
                ClientFrame::CreateRoom(p::CreateRoom {
                    rid,
                    name,
                    visibility,
                })
            })
            .await?
        {
            ServerFrame::RoomCreated(r) => Ok(r.room.id),
            other => Err(ClientError::Unexpected(Box::new(other))),
        }
    }

    /// Joins `room`; with `resume`, the missed messages follow as events after a `resume` event.
    pub async fn join(
        &mut self,
        room: RoomId,
        resume: Option<Position>,
    ) -> Result<p::Joined, ClientError> {
        match self
            .request(|rid| ClientFrame::Join(p::Join { rid, room, resume }))
            .await?
        {
            ServerFrame::Joined(j) => {
                if !self.joined.contains(&room) {
                    self.joined.push(room);
                }
                Ok(j)
            }
            other => Err(ClientError::Unexpected(Box::new(other))),
        }
    }

    pub async fn leave(&mut self, room: RoomId) -> Result<(), ClientError> {
        self.request(|rid| ClientFrame::Leave(p::Leave { rid, room }))
            .await?;
        self.joined.retain(|r| *r != room);
        Ok(())
    }

    pub async fn invite(&self, room: RoomId, user: UserId) -> Result<(), ClientError> {
        self.request(|rid| ClientFrame::Invite(p::Invite { rid, room, user }))
            .await
            .map(drop)
    }

    /// Removes `user` from the room (owners and admins).
    pub async fn kick(&self, room: RoomId, user: UserId) -> Result<(), ClientError> {
        self.request(|rid| ClientFrame::Kick(p::Kick { rid, room, user }))
            .await
            .map(drop)
    }

    pub async fn open_direct(&self, user: UserId) -> Result<RoomId, ClientError> {
        match self
            .request(|rid| ClientFrame::OpenDirect(p::OpenDirect { rid, user }))
            .await?
        {
            ServerFrame::DirectOpened(r) => Ok(r.room.id),
            other => Err(ClientError::Unexpected(Box::new(other))),
        }
    }

    /// Sends a message and waits until it is stored. Safe for a resend: the server looks for
    /// an earlier copy of `cmid` in the store too.
    pub async fn send(&self, room: RoomId, cmid: &str, text: &str) -> Result<p::Sent, ClientError> {
        self.post(room, cmid, text, Vec::new(), false).await
    }

    /// Sends a message whose `cmid` was never sent before (its first attempt; a resend must use
    /// [`Client::send`]), and waits until it is stored. The server skips the store lookup for
    /// an earlier copy, so the message reaches its room without a round trip to the database.
    pub async fn send_first(
        &self,
        room: RoomId,
        cmid: &str,
        text: &str,
    ) -> Result<p::Sent, ClientError> {
        self.post(room, cmid, text, Vec::new(), true).await
    }

    /// Sends a message referencing `attachments` (uploads of this room by this user, each
    /// uploaded through its slot first) and waits until it is stored. `text` may be empty
    /// when there are attachments.
    pub async fn send_with(
        &self,
        room: RoomId,
        cmid: &str,
        text: &str,
        attachments: Vec<AttachmentId>,
    ) -> Result<p::Sent, ClientError> {
        self.post(room, cmid, text, attachments, false).await
    }

    async fn post(
        &self,
        room: RoomId,
        cmid: &str,
        text: &str,
        attachments: Vec<AttachmentId>,
        first: bool,
    ) -> Result<p::Sent, ClientError> {
        let (cmid, text) = (cmid.to_owned(), text.to_owned());
        self.entry(|rid| {
            ClientFrame::Send(p::Send {
                rid,
                room,
                cmid,
                text,
                attachments,
                first,
                reply_to: None,
            })
        })
        .await
    }

    /// Asks for an upload slot in `room` (as `POST /api/rooms/{room}/attachments` does): the
    /// attachment-to-be and the signed request that uploads its file, to be made with exactly
    /// its method, URL and headers.
    pub async fn attachment_slot(
        &self,
        room: RoomId,
        name: &str,
        content_type: &str,
        size: u64,
    ) -> Result<p::UploadSlot, ClientError> {
        let (name, content_type) = (name.to_owned(), content_type.to_owned());
        match self
            .request(|rid| {
                ClientFrame::AttachmentSlot(p::AttachmentSlot {
                    rid,
                    room,
                    name,
                    content_type,
                    size,
                })
            })
            .await?
        {
            ServerFrame::AttachmentSlot(mut s) => {
                s.upload.url = on_node(self.node_url(), s.upload.url);
                Ok(s)
            }
            other => Err(ClientError::Unexpected(Box::new(other))),
        }
    }

    pub async fn history(
        &self,
        room: RoomId,
        before: Option<Position>,
        after: Option<Position>,
        limit: u32,
    ) -> Result<p::HistoryPage, ClientError> {
        match self
            .request(|rid| {
                ClientFrame::History(p::History {
                    rid,
                    room,
                    before,
                    after,
                    limit,
                })
            })
            .await?
        {
            ServerFrame::History(h) => Ok(h),
            other => Err(ClientError::Unexpected(Box::new(other))),
        }
    }

    /// Messages matching every word of `query` in the caller's rooms, newest first.
    pub async fn search(
        &self,
        query: &str,
        room: Option<RoomId>,
        limit: u32,
    ) -> Result<Vec<switchboard_engine::domain::ChatMessage>, ClientError> {
        let query = query.to_owned();
        match self
            .request(|rid| {
                ClientFrame::Search(p::Search {
                    rid,
                    query,
                    room,
                    limit,
                })
            })
            .await?
        {
            ServerFrame::SearchResults(r) => Ok(r.messages),
            other => Err(ClientError::Unexpected(Box::new(other))),
        }
    }

    pub async fn typing(&self, room: RoomId, active: bool) -> Result<(), ClientError> {
        self.request(|rid| ClientFrame::Typing(p::Typing { rid, room, active }))
            .await
            .map(drop)
    }

    pub async fn mark_read(&self, room: RoomId, pos: Position) -> Result<(), ClientError> {
        self.request(|rid| ClientFrame::MarkRead(p::MarkRead { rid, room, pos }))
            .await
            .map(drop)
    }

    pub async fn presence_subscribe(
        &self,
        users: Vec<UserId>,
    ) -> Result<Vec<p::PresenceInfo>, ClientError> {
        self.presence(|rid| ClientFrame::PresenceSubscribe(p::PresenceSubscribe { rid, users }))
            .await
    }

    pub async fn presence_query(
        &self,
        users: Vec<UserId>,
    ) -> Result<Vec<p::PresenceInfo>, ClientError> {
        self.presence(|rid| ClientFrame::PresenceQuery(p::PresenceQuery { rid, users }))
            .await
    }

    /// A presence command, answered by a `presence` reply.
    async fn presence(
        &self,
        build: impl FnOnce(u64) -> ClientFrame,
    ) -> Result<Vec<p::PresenceInfo>, ClientError> {
        match self.request(build).await? {
            ServerFrame::Presence(p) => Ok(p.users),
            other => Err(ClientError::Unexpected(Box::new(other))),
        }
    }

    /// Away (or online again) on every device of this user.
    pub async fn set_presence(
        &self,
        status: switchboard_engine::domain::PresenceStatus,
    ) -> Result<(), ClientError> {
        self.request(|rid| ClientFrame::SetPresence(p::SetPresence { rid, status }))
            .await
            .map(drop)
    }

    pub async fn ping(&self) -> Result<(), ClientError> {
        self.request(|rid| ClientFrame::Ping(p::Ping { rid }))
            .await
            .map(drop)
    }

    /// Opens a new socket and re-joins every joined room from its last position. Events the
    /// old socket brought that were not read yet are kept and come first from `next_event`;
    /// positions count only events handed over, so nothing is missed and nothing comes twice.
    /// A room that does not answer its re-join (it may be moving between nodes) is retried
    /// a few times; the first error is returned after every room was tried, and the socket
    /// stays open.
    pub async fn reconnect(&mut self) -> Result<(), ClientError> {
        self.close();
        *self.shared.close.lock().unwrap_or_else(|p| p.into_inner()) = None;
        let c = open(&self.config, self.node, self.shared.clone()).await?;
        let old = std::mem::replace(&mut self.events, c.events);
        self.drain(old);
        (self.out, self.hello, self.node) = (c.out, c.hello, c.node);
        let mut first_error = None;
        for room in self.joined.clone() {
            let mut result = Ok(());
            for attempt in 0..REJOIN_ATTEMPTS {
                if attempt > 0 {
                    tokio::time::sleep(REJOIN_PAUSE).await;
                }
                let resume = Some(self.position(room).unwrap_or(Position::ZERO));
                result = self.join(room, resume).await.map(drop);
                if matches!(result, Ok(()) | Err(ClientError::Closed)) {
                    break;
                }
            }
            if let Err(e) = result {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Moves what a closed socket's channel still holds to the backlog.
    fn drain(&mut self, mut old: mpsc::Receiver<ServerFrame>) {
        old.close();
        while let Ok(frame) = old.try_recv() {
            self.backlog.push_back(frame);
        }
    }

    /// The URL of the node this client is connected to.
    pub fn node_url(&self) -> &str {
        node_urls(&self.config)[self.node]
    }

    /// Rooms this client has joined.
    pub fn joined(&self) -> &[RoomId] {
        &self.joined
    }
}

/// `url` made absolute when it is a path on the node (PROTOCOL §3.3): `ws://host:port/ws` and
/// `/media/…` give `http://host:port/media/…`.
fn on_node(node: &str, url: String) -> String {
    if !url.starts_with('/') {
        return url;
    }
    let (scheme, rest) = match node.split_once("://") {
        Some(("wss", rest)) => ("https", rest),
        Some((_, rest)) => ("http", rest),
        None => ("http", node),
    };
    let authority = rest.split('/').next().unwrap_or(rest);
    format!("{scheme}://{authority}{url}")
}

/// A socket that said `hello`, and its task's channels.
struct Connected {
    out: mpsc::UnboundedSender<io::Out>,
    events: mpsc::Receiver<ServerFrame>,
    hello: p::Hello,
    /// Index of the node, in `url` then `nodes`.
    node: usize,
}

fn node_urls(config: &ClientConfig) -> Vec<&str> {
    std::iter::once(config.url.as_str())
        .chain(config.nodes.iter().map(String::as_str))
        .collect()
}

/// Connects to the first node that answers, starting at index `start` and going round once.
async fn open(
    config: &ClientConfig,
    start: usize,
    shared: Arc<Shared>,
) -> Result<Connected, ClientError> {
    let urls = node_urls(config);
    let mut last = None;
    for i in 0..urls.len() {
        let node = (start + i) % urls.len();
        match open_one(config, urls[node], node, shared.clone()).await {
            Ok(connected) => return Ok(connected),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or(ClientError::Closed))
}

/// Connects to one node and waits for its `hello`.
async fn open_one(
    config: &ClientConfig,
    base: &str,
    node: usize,
    shared: Arc<Shared>,
) -> Result<Connected, ClientError> {
    let url = match &config.token {
        Some(token) => format!("{base}?token={token}"),
        None => base.to_owned(),
    };
    let mut request = url.into_client_request()?;
    let protocol = if config.codec.is_text() {
        SUBPROTOCOL_JSON
    } else {
        SUBPROTOCOL_MSGPACK
    };
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", HeaderValue::from_static(protocol));
    // TCP_NODELAY: a command is one small frame; Nagle's algorithm would hold it back while
    // an earlier one awaits the server's (delayed) ACK, adding up to ~40 ms.
    let (socket, _) = tokio_tungstenite::connect_async_with_config(request, None, true).await?;
    let (out_tx, out_rx) = mpsc::unbounded_channel();
    let (event_tx, event_rx) = mpsc::channel(config.event_buffer);
    tokio::spawn(io::run(socket, config.codec, shared, out_rx, event_tx));
    let mut events = event_rx;
    match tokio::time::timeout(config.timeout, events.recv()).await {
        Ok(Some(ServerFrame::Hello(hello))) => Ok(Connected {
            out: out_tx,
            events,
            hello,
            node,
        }),
        _ => Err(ClientError::Closed),
    }
}
