//! Presence across nodes. A user's `UserActor` lives on the user's home node (by the ring);
//! devices and watchers on other nodes reach it through the cluster, and it reaches them
//! back the same way. On a single node every user is at home.

use std::sync::Arc;

use switchboard_engine::domain::PresenceStatus;
use switchboard_engine::{ConnId, UserId};

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
            if let Some(home) = link.home(user) {
                link.user_op(&home, out.conn(), user, UserOp::Attach);
                return;
            }
        }
        let attach = Attach {
            out: out.clone().into(),
        };
        if self.ask_user(user, attach).await.is_none() {
            tracing::warn!(%user, "could not attach to user actor");
        }
    }

    /// `conn` closed: it is no longer a device of, or watching, any of `users`.
    pub(crate) async fn presence_detach(&self, conn: ConnId, users: &[UserId]) {
        for &user in users {
            match self.cluster().and_then(|l| l.home(user).map(|h| (l, h))) {
                Some((link, home)) => {
                    link.user_op(&home, conn, user, UserOp::Detach);
                }
                None => {
                    if let Some(actor) = self.live_user(user) {
                        // Waits for mailbox room: a lost Detach would leave the user online.
                        let _ = actor.tell(Detach { conn }).await;
                    }
                }
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
            if let Some(home) = link.home(user) {
                return link
                    .user_ask(&home, out.conn(), user, UserOp::Watch { by })
                    .await
                    .unwrap_or(PresenceStatus::Offline);
            }
        }
        let watch = Watch {
            out: out.clone().into(),
            by,
        };
        self.ask_user(user, watch)
            .await
            .map_or(PresenceStatus::Offline, |(_, s)| s)
    }

    pub(crate) async fn presence_query(&self, conn: ConnId, user: UserId) -> PresenceStatus {
        if let Some((link, home)) = self.cluster().and_then(|l| l.home(user).map(|h| (l, h))) {
            return link
                .user_ask(&home, conn, user, UserOp::Query)
                .await
                .unwrap_or(PresenceStatus::Offline);
        }
        match self.live_user(user) {
            Some(actor) => actor
                .ask(Query)
                .await
                .map_or(PresenceStatus::Offline, |s| s.0),
            None => PresenceStatus::Offline,
        }
    }

    /// The user chose away (or online again) for all devices.
    pub(crate) async fn presence_away(&self, conn: ConnId, user: UserId, away: bool) {
        if let Some((link, home)) = self.cluster().and_then(|l| l.home(user).map(|h| (l, h))) {
            link.user_op(&home, conn, user, UserOp::SetAway { away });
        } else if let Some(actor) = self.live_user(user) {
            let _ = actor.tell(SetAway { away }).await;
        }
    }

    /// Delivers `event` to every device of `user`, wherever they are connected.
    pub(crate) async fn notify_devices(&self, user: UserId, event: Arc<Event>) {
        if let Some((link, home)) = self.cluster().and_then(|l| l.home(user).map(|h| (l, h))) {
            let op = UserOp::Notify {
                frame: event.msgpack(),
            };
            link.user_op(&home, ConnId(0), user, op);
        } else if let Some(actor) = self.live_user(user) {
            let _ = actor.tell(NotifyDevices(event)).await;
        }
    }

    /// A presence operation from another node, for a user at home here.
    pub(crate) async fn presence_at_home(
        self: &Arc<Self>,
        user: UserId,
        from: Recipient,
        op: UserOp,
    ) -> PresenceStatus {
        let status = |r: Option<(_, PresenceStatus)>| r.map_or(PresenceStatus::Offline, |r| r.1);
        match op {
            UserOp::Attach => status(self.ask_user(user, Attach { out: from }).await),
            UserOp::Watch { by } => status(self.ask_user(user, Watch { out: from, by }).await),
            UserOp::Detach => {
                self.presence_detach(from.conn(), &[user]).await;
                PresenceStatus::Offline
            }
            UserOp::SetAway { away } => {
                self.presence_away(from.conn(), user, away).await;
                PresenceStatus::Offline
            }
            UserOp::Query => self.presence_query(from.conn(), user).await,
            UserOp::Notify { frame } => {
                self.notify_devices(user, Event::from_msgpack(None, frame))
                    .await;
                PresenceStatus::Offline
            }
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
