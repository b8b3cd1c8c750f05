//! `Rooms`: the rooms of this node: what every room shares (the store, the write-behind, the
//! settings, presence for `room_added`, the other nodes), the directory of active rooms, and
//! the supervisor that starts and stops them. Built by the hub; rooms hold it, and the router
//! and the cluster reach rooms through it.

use std::sync::{Arc, OnceLock};

use kameo::prelude::*;
use switchboard_engine::domain::RoomInfo;
use switchboard_engine::protocol::{RoomAdded, ServerFrame};
use switchboard_engine::ring::NodeId;
use switchboard_engine::{RoomId, UserId};
use switchboard_persistence::cluster::throttle::{Class, Subject, Throttle};
use switchboard_persistence::{Store, WriteBehind};
use tokio::sync::mpsc;

use super::{Directory, RoomActor, RoomSupervisor, StopRoom, SupervisorArgs};
use crate::attachments::Attachments;
use crate::config::HubConfig;
use crate::outbound::Event;
use crate::peers::Peers;
use crate::presence::Presence;

pub struct Rooms {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) journal: WriteBehind,
    pub(crate) config: HubConfig,
    /// Counts per user for the rate limits (here: introductions, searches for users).
    throttle: Arc<dyn Throttle>,
    presence: Arc<Presence>,
    /// Active rooms.
    pub(crate) directory: Directory,
    supervisor: OnceLock<ActorRef<RoomSupervisor>>,
    /// Rooms asking their supervisor to stop them (idle, deposed).
    stop_requests: mpsc::UnboundedSender<StopRoom>,
    /// The other nodes, when this node is part of a cluster.
    peers: OnceLock<Arc<dyn Peers>>,
    /// The node's media, which checks the attachments of messages; without it a message
    /// with attachments is refused.
    attachments: OnceLock<Arc<dyn Attachments>>,
}

impl Rooms {
    /// Builds the rooms' shared part and starts their supervisor.
    pub(crate) fn start(
        store: Arc<dyn Store>,
        journal: WriteBehind,
        throttle: Arc<dyn Throttle>,
        presence: Arc<Presence>,
        config: HubConfig,
    ) -> Arc<Rooms> {
        let (stop_requests, stop_rx) = mpsc::unbounded_channel();
        let rooms = Arc::new(Rooms {
            store,
            journal,
            config,
            throttle,
            presence,
            directory: Directory::default(),
            supervisor: OnceLock::new(),
            stop_requests,
            peers: OnceLock::new(),
            attachments: OnceLock::new(),
        });
        let supervisor = RoomSupervisor::spawn_with_mailbox(
            SupervisorArgs {
                rooms: Arc::downgrade(&rooms),
                stop_requests: stop_rx,
            },
            // Commands for inactive rooms pass through it: room enough for a burst of joins.
            kameo::mailbox::bounded(rooms.config.room_mailbox),
        );
        let _ = rooms.supervisor.set(supervisor);
        rooms
    }

    /// From now on rooms are served where the cluster's ring says.
    pub(crate) fn set_peers(&self, peers: Arc<dyn Peers>) {
        let _ = self.peers.set(peers);
    }

    pub(crate) fn peers(&self) -> Option<&Arc<dyn Peers>> {
        self.peers.get()
    }

    /// From now on messages may reference attachments, checked by `attachments`.
    pub(crate) fn set_attachments(&self, attachments: Arc<dyn Attachments>) {
        let _ = self.attachments.set(attachments);
    }

    pub(crate) fn attachments(&self) -> Option<&Arc<dyn Attachments>> {
        self.attachments.get()
    }

    pub(crate) fn presence(&self) -> &Arc<Presence> {
        &self.presence
    }

    pub(crate) fn supervisor(&self) -> Option<&ActorRef<RoomSupervisor>> {
        self.supervisor.get()
    }

    /// The node that serves `room` when it is not this one.
    pub fn owner(&self, room: RoomId) -> Option<NodeId> {
        self.peers.get().and_then(|p| p.owner(room))
    }

    /// The name this node records as a room's owner in the store.
    pub fn node_name(&self) -> &str {
        self.peers.get().map_or("local", |p| p.me().0.as_str())
    }

    /// Counts `user` introducing itself to someone (opening a conversation, adding a member);
    /// false when over `introductions_per_min`. Bounds the unsolicited `room_added` events one
    /// user can cause others.
    pub fn introduction(&self, user: UserId) -> bool {
        self.throttle
            .hit(Class::Introductions, &Subject::User(user.0))
    }

    /// Counts a search for users by name (`find_users`); false when over
    /// `user_searches_per_min`. Bounds how fast one account can list the user table.
    pub fn user_search(&self, user: UserId) -> bool {
        self.throttle
            .hit(Class::UserSearches, &Subject::User(user.0))
    }

    /// Tells `user`'s connections, if any, that someone added them to `room`.
    pub async fn announce_room_added(&self, user: UserId, room: RoomInfo, by: UserId) {
        let event = Event::new(None, &ServerFrame::RoomAdded(RoomAdded { room, by }));
        self.presence.notify_devices(user, event).await;
    }

    /// Called by a room with no subscribers for `room_idle` (or deposed): the supervisor stops
    /// it. Never waits and is never dropped (see `RoomSupervisor`).
    pub(crate) fn room_idle(&self, room: RoomId, actor: ActorId) {
        let _ = self.stop_requests.send(StopRoom {
            room,
            actor: Some(actor),
        });
    }

    /// Stops `room`'s actor here because another node serves it now, and waits until it has
    /// stopped (a room still loading is stopped once it has started). False when it was
    /// neither active nor loading.
    pub async fn evict(&self, room: RoomId) -> bool {
        let Some(supervisor) = self.supervisor.get() else {
            return false;
        };
        let stopped = supervisor
            .ask(StopRoom { room, actor: None })
            .await
            .unwrap_or(false);
        if stopped {
            metrics::counter!(crate::metrics::ROOMS_MOVED_AWAY).increment(1);
        }
        stopped
    }

    /// The room's actor, if it is active on this node.
    pub fn active(&self, room: RoomId) -> Option<ActorRef<RoomActor>> {
        self.directory.get(room)
    }

    /// Every active room of this node.
    pub fn all_active(&self) -> Vec<(RoomId, ActorRef<RoomActor>)> {
        self.directory.all()
    }

    /// Stops every room and then the write-behind once all of it is durable.
    pub(crate) async fn shutdown(&self) {
        if let Some(supervisor) = self.supervisor.get() {
            let _ = supervisor.stop_gracefully().await;
            supervisor.wait_for_shutdown().await;
        }
        self.journal.shutdown().await;
    }
}
