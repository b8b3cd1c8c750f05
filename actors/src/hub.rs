//! `Hub`: what every actor of a node shares, and the directories that find live actors.

#[cfg(feature = "testing")]
use std::collections::HashMap;
#[cfg(feature = "testing")]
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use kameo::prelude::*;
#[cfg(feature = "testing")]
use switchboard_engine::ErrorCode;
use switchboard_engine::auth::TokenVerifier;
use switchboard_engine::{ConnId, RoomId, UserId};
use switchboard_persistence::cluster::throttle::Throttle;
use switchboard_persistence::{Store, WriteBehind};
use tokio::sync::watch;

use crate::cluster::ClusterLink;
use crate::cluster::wire::UserOp;
use crate::config::HubConfig;
use crate::error::Refused;
use crate::outbound::{Event, Outbound};
use crate::presence::Presence;
use crate::recipient::Recipient;
use crate::room::{Directory, RoomActor, RoomSupervisor, StopRoom, SupervisorArgs};
use crate::router::RoomRef;
use switchboard_engine::domain::{PresenceStatus, RoomInfo};
use switchboard_engine::protocol::{RoomAdded, ServerFrame};

/// How long sends skip the cmid check after the store failed it.
const STORE_SUSPECT_MS: u64 = 1000;

/// Shared by every actor of a node: a handle whose parts the actors use; the binary starts it,
/// joins it to a cluster, asks it about connections and rooms, and shuts it down.
pub struct Hub {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) journal: WriteBehind,
    pub(crate) tokens: Arc<dyn TokenVerifier>,
    /// Counts per user, name and address for the rate limits, cluster-wide in a cluster.
    pub(crate) throttle: Arc<dyn Throttle>,
    pub(crate) known_users: crate::identity::KnownUsers,
    pub(crate) config: HubConfig,
    /// Active rooms.
    pub(crate) rooms: Directory,
    supervisor: OnceLock<ActorRef<RoomSupervisor>>,
    /// Rooms asking their supervisor to stop them (idle, deposed).
    stop_requests: tokio::sync::mpsc::UnboundedSender<StopRoom>,
    /// Presence of the users at home here, and routing to the homes of the others.
    presence: Presence,
    next_conn: AtomicU64,
    live_conns: AtomicUsize,
    /// Connections by id, kept only with `fault_injection` (for tests that panic one).
    #[cfg(feature = "testing")]
    fault_targets: Mutex<HashMap<ConnId, WeakActorRef<crate::ConnectionActor>>>,
    /// Until when (ms since `started`) sends skip the store's cmid check after it failed.
    store_suspect_until: AtomicU64,
    started: std::time::Instant,
    shutdown: watch::Sender<bool>,
    /// Routing to other nodes, when this node is part of a cluster.
    cluster: OnceLock<Arc<ClusterLink>>,
}

/// Where a room is served.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route {
    /// By this node.
    Local,
    /// By another node of the cluster.
    Remote(switchboard_engine::ring::NodeId),
}

impl Hub {
    /// Builds the hub and starts its room supervisor.
    pub fn start(
        store: Arc<dyn Store>,
        journal: WriteBehind,
        tokens: Arc<dyn TokenVerifier>,
        throttle: Arc<dyn Throttle>,
        config: HubConfig,
    ) -> Arc<Hub> {
        let (stop_requests, stop_rx) = tokio::sync::mpsc::unbounded_channel();
        let hub = Arc::new(Hub {
            presence: Presence::new(store.clone(), config.presence_recheck),
            store,
            journal,
            tokens,
            throttle,
            known_users: crate::identity::KnownUsers::new(),
            config,
            rooms: Directory::default(),
            supervisor: OnceLock::new(),
            stop_requests,
            next_conn: AtomicU64::new(1),
            live_conns: AtomicUsize::new(0),
            #[cfg(feature = "testing")]
            fault_targets: Mutex::default(),
            store_suspect_until: AtomicU64::new(0),
            started: std::time::Instant::now(),
            shutdown: watch::channel(false).0,
            cluster: OnceLock::new(),
        });
        let supervisor = RoomSupervisor::spawn_with_mailbox(
            SupervisorArgs {
                hub: Arc::downgrade(&hub),
                stop_requests: stop_rx,
            },
            // Commands for inactive rooms pass through it: room enough for a burst of joins.
            kameo::mailbox::bounded(hub.config.room_mailbox),
        );
        let _ = hub.supervisor.set(supervisor);
        hub
    }

    /// Joins this node to a cluster: from now on rooms are routed by the ring.
    pub fn set_cluster(&self, link: Arc<ClusterLink>) {
        self.presence.set_cluster(link.clone());
        let _ = self.cluster.set(link);
    }

    pub fn cluster(&self) -> Option<&Arc<ClusterLink>> {
        self.cluster.get()
    }

    pub fn config(&self) -> &HubConfig {
        &self.config
    }

    /// The name this node records as a room's owner in the store.
    pub fn node_name(&self) -> &str {
        self.cluster.get().map_or("local", |l| l.me().0.as_str())
    }

    /// Makes connection ids unique across a cluster: this node's ids start at `base << 32`.
    pub fn set_conn_base(&self, base: u32) {
        self.next_conn
            .store((u64::from(base) << 32) | 1, Ordering::Relaxed);
    }

    /// Which node serves `room`.
    pub fn route(&self, room: RoomId) -> Route {
        match self.cluster.get().and_then(|l| l.owner(room)) {
            Some(node) => Route::Remote(node),
            None => Route::Local,
        }
    }

    /// True for a second after the store failed to answer a send's cmid check: sends then go
    /// straight to their room instead of each waiting out the check's timeout.
    pub fn store_suspect(&self) -> bool {
        (self.started.elapsed().as_millis() as u64)
            < self.store_suspect_until.load(Ordering::Relaxed)
    }

    pub fn mark_store_suspect(&self) {
        let until = self.started.elapsed().as_millis() as u64 + STORE_SUSPECT_MS;
        self.store_suspect_until.fetch_max(until, Ordering::Relaxed);
    }

    /// Connections whose actor is running on this node.
    pub fn live_connections(&self) -> usize {
        self.live_conns.load(Ordering::Relaxed)
    }

    pub(crate) fn connection_opened(&self) {
        self.live_conns.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn connection_closed(&self) {
        self.live_conns.fetch_sub(1, Ordering::Relaxed);
    }

    pub fn is_shutting_down(&self) -> bool {
        *self.shutdown.borrow()
    }

    pub fn next_conn_id(&self) -> ConnId {
        ConnId(self.next_conn.fetch_add(1, Ordering::Relaxed))
    }

    /// Where commands for `room` go now (see [`crate::router`]).
    pub(crate) fn room_ref(&self, room: RoomId) -> Result<RoomRef, Refused> {
        if let Some(link) = self.cluster.get()
            && let Some(node) = link.owner(room)
        {
            return Ok(RoomRef::There(node, link.clone()));
        }
        if let Some(actor) = self.rooms.for_command(room) {
            return Ok(RoomRef::Here(actor));
        }
        let supervisor = self.supervisor.get().ok_or(Refused::ShuttingDown)?;
        Ok(RoomRef::Starting(supervisor.clone()))
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
    pub async fn evict_room(&self, room: RoomId) -> bool {
        let Some(supervisor) = self.supervisor.get() else {
            return false;
        };
        let stop = crate::room::StopRoom { room, actor: None };
        let stopped = supervisor.ask(stop).await.unwrap_or(false);
        if stopped {
            metrics::counter!(crate::metrics::ROOMS_MOVED_AWAY).increment(1);
        }
        stopped
    }

    /// The room's actor, if it is active on this node.
    pub fn active_room(&self, room: RoomId) -> Option<ActorRef<RoomActor>> {
        self.rooms.get(room)
    }

    /// Every active room of this node.
    pub fn active_rooms(&self) -> Vec<(RoomId, ActorRef<RoomActor>)> {
        self.rooms.all()
    }

    /// Whether `room` has an active actor on this node.
    pub fn room_is_active(&self, room: RoomId) -> bool {
        self.rooms.contains(room)
    }

    pub fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.shutdown.subscribe()
    }

    /// Tells every connection to send its clients away (close 1012: reconnect and resume).
    pub fn begin_shutdown(&self) {
        let _ = self.shutdown.send(true);
    }

    /// Stops every room and then the write-behind once all of it is durable.
    pub async fn finish_shutdown(&self) {
        if let Some(supervisor) = self.supervisor.get() {
            let _ = supervisor.stop_gracefully().await;
            supervisor.wait_for_shutdown().await;
        }
        self.journal.shutdown().await;
    }

    #[cfg(feature = "testing")]
    pub(crate) fn register_fault_target(
        &self,
        conn: ConnId,
        actor: WeakActorRef<crate::ConnectionActor>,
    ) {
        if self.config.fault_injection {
            self.fault_targets
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(conn, actor);
        }
    }

    #[cfg(feature = "testing")]
    pub(crate) fn forget_fault_target(&self, conn: ConnId) {
        if self.config.fault_injection {
            self.fault_targets
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&conn);
        }
    }

    #[cfg(feature = "testing")]
    /// Fault injection for tests: makes a connection's actor panic (when enabled).
    pub async fn inject_connection_panic(&self, conn: ConnId) -> Result<(), ErrorCode> {
        let actor = self
            .fault_targets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&conn)
            .and_then(|a| a.upgrade())
            .ok_or(ErrorCode::NotFound)?;
        actor
            .tell(crate::connection::InjectPanic)
            .await
            .map_err(|_| ErrorCode::Internal)
    }

    #[cfg(feature = "testing")]
    /// Fault injection for tests: makes the active room's actor panic (when enabled in the
    /// config).
    pub async fn inject_room_panic(&self, room: RoomId) -> Result<(), ErrorCode> {
        if !self.config.fault_injection {
            return Err(ErrorCode::Forbidden);
        }
        let actor = self.active_room(room).ok_or(ErrorCode::NotFound)?;
        actor
            .tell(crate::room::InjectPanic)
            .await
            .map_err(|_| ErrorCode::Internal)
    }

    // Presence, delegated to its component (`presence.rs`).

    /// `out`'s connection is a device of `user`.
    pub(crate) async fn presence_attach(self: &Arc<Self>, out: &Outbound, user: UserId) {
        self.presence.attach(out, user).await
    }

    /// `conn` closed: it is no longer a device of, or watching, any of `users`.
    pub(crate) async fn presence_detach(&self, conn: ConnId, users: &[UserId]) {
        self.presence.detach(conn, users).await
    }

    /// `out`'s connection, of user `by`, wants `user`'s presence changes; returns the current
    /// status.
    pub(crate) async fn presence_watch(
        self: &Arc<Self>,
        out: &Outbound,
        by: UserId,
        user: UserId,
    ) -> PresenceStatus {
        self.presence.watch(out, by, user).await
    }

    pub(crate) async fn presence_query(&self, conn: ConnId, user: UserId) -> PresenceStatus {
        self.presence.query(conn, user).await
    }

    /// The user chose away (or online again) for all devices.
    pub(crate) async fn presence_away(&self, conn: ConnId, user: UserId, away: bool) {
        self.presence.away(conn, user, away).await
    }

    /// Delivers `event` to every device of `user`, wherever they are connected.
    pub(crate) async fn notify_devices(&self, user: UserId, event: Arc<Event>) {
        self.presence.notify_devices(user, event).await
    }

    /// Tells `user`'s connections, if any, that someone added them to `room`.
    pub async fn announce_room_added(&self, user: UserId, room: RoomInfo, by: UserId) {
        let event = Event::new(None, &ServerFrame::RoomAdded(RoomAdded { room, by }));
        self.notify_devices(user, event).await;
    }

    /// A presence operation from another node, for a user at home here.
    pub(crate) async fn presence_at_home(
        self: &Arc<Self>,
        user: UserId,
        from: Recipient,
        op: UserOp,
    ) -> PresenceStatus {
        self.presence.at_home(user, from, op).await
    }

    /// After the ring changed: users whose home is another node now are forgotten here.
    pub(crate) fn stop_users_homed_elsewhere(&self) {
        self.presence.stop_users_homed_elsewhere()
    }
}
