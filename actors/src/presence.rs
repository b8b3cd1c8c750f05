//! Presence across nodes. A user's `UserActor` lives on the user's home node (by the ring);
//! devices and watchers on other nodes reach it through the cluster, and it reaches them
//! back the same way. On a single node every user is at home.

use std::sync::Arc;

use switchboard_engine::domain::PresenceStatus;
use switchboard_engine::{ConnId, UserId};

use switchboard_engine::ring::NodeId;

use crate::cluster::ClusterLink;
use crate::cluster::wire::UserOp;
use crate::hub::Hub;
use crate::outbound::{Event, Outbound};
use crate::recipient::Recipient;
use crate::user::{Attach, Detach, NotifyDevices, Query, SetAway, Watch};

impl Hub {
    /// The user's live actor here, if any (never spawns one).
    fn live_user(&self, user: UserId) -> Option<kameo::actor::ActorRef<crate::user::UserActor>> {
        self.users
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&user)
            .filter(|u| u.is_alive())
            .cloned()
    }

    /// `out`'s connection is a device of `user`.
    pub(crate) async fn presence_attach(self: &Arc<Self>, out: &Outbound, user: UserId) {
        if let Some(link) = self.cluster() {
            link.register(out, Some(user));
        }
        match self.remote_home(user) {
            Some((link, home)) => {
                link.user_op(&home, out.conn(), user, UserOp::Attach);
            }
            None => self.attach_here(user, out.clone().into()).await,
        }
    }

    /// `user`'s home node when it is another node, with the link that reaches it.
    fn remote_home(&self, user: UserId) -> Option<(&Arc<ClusterLink>, NodeId)> {
        let link = self.cluster()?;
        link.home(user).map(|home| (link, home))
    }

    /// `conn` closed: it is no longer a device of, or watching, any of `users`.
    pub(crate) async fn presence_detach(&self, conn: ConnId, users: &[UserId]) {
        for &user in users {
            match self.remote_home(user) {
                Some((link, home)) => {
                    link.user_op(&home, conn, user, UserOp::Detach);
                }
                None => self.detach_here(user, conn).await,
            }
        }
    }

    /// `out`'s connection, of user `by`, wants `user`'s presence changes; returns the current
    /// status.
    pub(crate) async fn presence_watch(
        self: &Arc<Self>,
        out: &Outbound,
        by: UserId,
        user: UserId,
    ) -> PresenceStatus {
        if let Some(link) = self.cluster() {
            link.note_watching(out, user);
        }
        match self.remote_home(user) {
            Some((link, home)) => link
                .user_ask(&home, out.conn(), user, UserOp::Watch { by })
                .await
                .unwrap_or(PresenceStatus::Offline),
            None => self.watch_here(user, out.clone().into(), by).await,
        }
    }

    pub(crate) async fn presence_query(&self, conn: ConnId, user: UserId) -> PresenceStatus {
        match self.remote_home(user) {
            Some((link, home)) => link
                .user_ask(&home, conn, user, UserOp::Query)
                .await
                .unwrap_or(PresenceStatus::Offline),
            None => self.query_here(user).await,
        }
    }

    /// The user chose away (or online again) for all devices.
    pub(crate) async fn presence_away(&self, conn: ConnId, user: UserId, away: bool) {
        match self.remote_home(user) {
            Some((link, home)) => {
                link.user_op(&home, conn, user, UserOp::SetAway { away });
            }
            None => self.away_here(user, away).await,
        }
    }

    /// Delivers `event` to every device of `user`, wherever they are connected.
    pub(crate) async fn notify_devices(&self, user: UserId, event: Arc<Event>) {
        match self.remote_home(user) {
            Some((link, home)) => {
                let op = UserOp::Notify {
                    frame: event.msgpack(),
                };
                link.user_op(&home, ConnId(0), user, op);
            }
            None => self.notify_here(user, event).await,
        }
    }

    /// A presence operation from another node, for a user at home here. Applied here, never
    /// passed on: nodes whose rings disagree for a moment must not bounce it between them.
    pub(crate) async fn presence_at_home(
        self: &Arc<Self>,
        user: UserId,
        from: Recipient,
        op: UserOp,
    ) -> PresenceStatus {
        let offline = PresenceStatus::Offline;
        match op {
            UserOp::Attach => self.attach_here(user, from).await,
            UserOp::Watch { by } => return self.watch_here(user, from, by).await,
            UserOp::Detach => self.detach_here(user, from.conn()).await,
            UserOp::SetAway { away } => self.away_here(user, away).await,
            UserOp::Query => return self.query_here(user).await,
            UserOp::Notify { frame } => {
                self.notify_here(user, Event::from_msgpack(None, frame))
                    .await
            }
        }
        offline
    }

    async fn attach_here(self: &Arc<Self>, user: UserId, out: Recipient) {
        if self.ask_user(user, Attach { out }).await.is_none() {
            tracing::warn!(%user, "could not attach to user actor");
        }
    }

    async fn watch_here(
        self: &Arc<Self>,
        user: UserId,
        out: Recipient,
        by: UserId,
    ) -> PresenceStatus {
        self.ask_user(user, Watch { out, by })
            .await
            .map_or(PresenceStatus::Offline, |(_, s)| s)
    }

    async fn detach_here(&self, user: UserId, conn: ConnId) {
        if let Some(actor) = self.live_user(user) {
            // Waits for mailbox room: a lost Detach would leave the user online.
            let _ = actor.tell(Detach { conn }).await;
        }
    }

    async fn away_here(&self, user: UserId, away: bool) {
        if let Some(actor) = self.live_user(user) {
            let _ = actor.tell(SetAway { away }).await;
        }
    }

    async fn query_here(&self, user: UserId) -> PresenceStatus {
        match self.live_user(user) {
            Some(actor) => actor
                .ask(Query)
                .await
                .map_or(PresenceStatus::Offline, |s| s.0),
            None => PresenceStatus::Offline,
        }
    }

    async fn notify_here(&self, user: UserId, event: Arc<Event>) {
        if let Some(actor) = self.live_user(user) {
            let _ = actor.tell(NotifyDevices(event)).await;
        }
    }

    /// After the ring changed: user actors whose user's home is another node now stop (their
    /// devices and watchers attach there again).
    pub(crate) fn stop_users_homed_elsewhere(&self) {
        let Some(link) = self.cluster() else { return };
        let gone: Vec<_> = {
            let mut users = self.users.lock().unwrap_or_else(|p| p.into_inner());
            let moved: Vec<UserId> = users
                .keys()
                .copied()
                .filter(|u| link.home(*u).is_some())
                .collect();
            moved.iter().filter_map(|u| users.remove(u)).collect()
        };
        for actor in gone {
            actor.kill();
        }
    }
}
