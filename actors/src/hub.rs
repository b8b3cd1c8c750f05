//! `Hub`: the handle the binary holds. It builds presence, the rooms and the router, joins them
//! to a cluster, checks tokens, numbers and counts connections, and shuts the node's actors
//! down; connections reach everything else through it.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

#[cfg(feature = "testing")]
use switchboard_engine::ErrorCode;
use switchboard_engine::auth::{Identity, TokenVerifier};
use switchboard_engine::{ConnId, ErrorCode as Code};
use switchboard_persistence::cluster::throttle::Throttle;
use switchboard_persistence::{Store, WriteBehind};
use tokio::sync::watch;

use crate::attachments::Attachments;
use crate::cluster::ClusterLink;
use crate::config::HubConfig;
use crate::identity::Authenticator;
use crate::presence::Presence;
use crate::revocation::{Pass, Revocations};
use crate::room::Rooms;
use crate::router::Router;

/// Revocations a node keeps in memory (~100 B each, ~10 MiB when full): more than a day's
/// worth of disabled and signed-out users of a large pool.
const REVOCATIONS_MAX: usize = 100_000;

/// How long sends skip the cmid check after the store failed it.
const STORE_SUSPECT_MS: u64 = 1000;

/// Shared by the connections of a node; the binary starts it, joins it to a cluster, asks it
/// about connections and rooms, and shuts it down.
pub struct Hub {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) config: HubConfig,
    /// Counts per user, name and address for the rate limits, cluster-wide in a cluster.
    pub(crate) throttle: Arc<dyn Throttle>,
    auth: Authenticator,
    /// Revoked identity-provider users, and the ones connected here.
    revocations: Arc<Revocations>,
    /// The rooms of this node, and the way to every room.
    router: Arc<Router>,
    /// Presence of the users at home here, and routing to the homes of the others.
    presence: Arc<Presence>,
    next_conn: AtomicU64,
    live_conns: AtomicUsize,
    /// Connections by id, kept only with `fault_injection` (for tests that panic one).
    #[cfg(feature = "testing")]
    fault_targets: crate::faults::Targets,
    /// Until when (ms since `started`) sends skip the store's cmid check after it failed.
    store_suspect_until: AtomicU64,
    started: std::time::Instant,
    shutdown: watch::Sender<bool>,
    /// Routing to other nodes, when this node is part of a cluster.
    cluster: OnceLock<Arc<ClusterLink>>,
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
        let presence = Arc::new(Presence::new(store.clone(), config.presence_recheck));
        let rooms = Rooms::start(
            store.clone(),
            journal,
            throttle.clone(),
            presence.clone(),
            config.clone(),
        );
        let revocations = Arc::new(Revocations::new(REVOCATIONS_MAX));
        Arc::new(Hub {
            auth: Authenticator::new(tokens, store.clone(), revocations.clone()),
            revocations,
            store,
            config,
            throttle,
            router: Arc::new(Router::new(rooms)),
            presence,
            next_conn: AtomicU64::new(1),
            live_conns: AtomicUsize::new(0),
            #[cfg(feature = "testing")]
            fault_targets: Default::default(),
            store_suspect_until: AtomicU64::new(0),
            started: std::time::Instant::now(),
            shutdown: watch::channel(false).0,
            cluster: OnceLock::new(),
        })
    }

    /// Joins this node to a cluster: from now on rooms and users are routed by the ring.
    pub fn set_cluster(&self, link: Arc<ClusterLink>) {
        self.presence.set_peers(link.clone());
        self.rooms().set_peers(link.clone());
        self.router.set_forward(link.clone());
        let _ = self.cluster.set(link);
    }

    /// Hands the node's media to the rooms and connections: from now on clients may ask for
    /// upload slots and send messages that reference attachments. Set once, at start-up,
    /// before the node serves; until then both are refused (1002).
    pub fn set_attachments(&self, attachments: Arc<dyn Attachments>) {
        self.rooms().set_attachments(attachments);
    }

    pub(crate) fn attachments(&self) -> Option<&Arc<dyn Attachments>> {
        self.rooms().attachments()
    }

    /// The way to every room; the cluster link passes commands from other nodes through it.
    pub fn router(&self) -> &Arc<Router> {
        &self.router
    }

    pub fn rooms(&self) -> &Arc<Rooms> {
        self.router.rooms()
    }

    pub fn cluster(&self) -> Option<&Arc<ClusterLink>> {
        self.cluster.get()
    }

    pub fn config(&self) -> &HubConfig {
        &self.config
    }

    /// The name this node records as a room's owner in the store.
    pub fn node_name(&self) -> &str {
        self.rooms().node_name()
    }

    /// Makes connection ids unique across a cluster: this node's ids start at `base << 32`.
    pub fn set_conn_base(&self, base: u32) {
        self.next_conn
            .store((u64::from(base) << 32) | 1, Ordering::Relaxed);
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

    /// The identity `token` names, if it verifies, is not revoked and its user exists (see
    /// `identity`).
    pub async fn authenticate(&self, token: &str) -> Result<Identity, Code> {
        Ok(self.auth.authenticate(token).await?.0)
    }

    /// As [`Hub::authenticate`], with the [`Pass`] of an identity provider's token, which a
    /// connection registers ([`Revocations::join`]) so that its user is checked.
    pub async fn authenticate_pass(&self, token: &str) -> Result<(Identity, Option<Pass>), Code> {
        self.auth.authenticate(token).await
    }

    /// Revoked identity-provider users, and the ones connected here.
    pub fn revocations(&self) -> &Arc<Revocations> {
        &self.revocations
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
        self.rooms().shutdown().await;
    }

    #[cfg(feature = "testing")]
    pub(crate) fn register_fault_target(&self, conn: ConnId, target: crate::outbound::Outbound) {
        if self.config.fault_injection {
            self.fault_targets.insert(conn, target);
        }
    }

    #[cfg(feature = "testing")]
    pub(crate) fn forget_fault_target(&self, conn: ConnId) {
        if self.config.fault_injection {
            self.fault_targets.remove(conn);
        }
    }

    #[cfg(feature = "testing")]
    /// Fault injection for tests: makes a connection's actor panic (when enabled).
    pub async fn inject_connection_panic(&self, conn: ConnId) -> Result<(), ErrorCode> {
        let out = self.fault_targets.get(conn).ok_or(ErrorCode::NotFound)?;
        let notice = std::sync::Arc::new(crate::outbound::Notice::Panic);
        match out.push(crate::outbound::Outgoing::Notice(notice)) {
            true => Ok(()),
            false => Err(ErrorCode::Internal),
        }
    }

    #[cfg(feature = "testing")]
    /// Fault injection for tests: makes the active room's actor panic (when enabled in the
    /// config).
    pub async fn inject_room_panic(
        &self,
        room: switchboard_engine::RoomId,
    ) -> Result<(), ErrorCode> {
        if !self.config.fault_injection {
            return Err(ErrorCode::Forbidden);
        }
        let actor = self.rooms().active(room).ok_or(ErrorCode::NotFound)?;
        actor
            .tell(crate::faults::InjectPanic)
            .await
            .map_err(|_| ErrorCode::Internal)
    }

    /// Presence of the users at home here, and routing to the homes of the others.
    pub(crate) fn presence(&self) -> &Arc<Presence> {
        &self.presence
    }
}
