//! `Presence`: who is online, at each user's home node (by the ring). Devices and watchers on
//! other nodes reach a user's home through the cluster, and it reaches them back the same way.
//! On a single node every user is at home. The users at home here are in its `Directory`
//! (`user.rs`): light entries for a single unwatched device, actors for the rest.

use std::sync::{Arc, OnceLock};

use switchboard_engine::domain::PresenceStatus;
use switchboard_engine::ring::NodeId;
use switchboard_engine::{ConnId, UserId};
use switchboard_persistence::Store;

use crate::outbound::{Event, Outbound};
use crate::peers::{Peers, UserOp};
use crate::recipient::Recipient;
use crate::user::Directory;

pub(crate) struct Presence {
    users: Arc<Directory>,
    /// Routing to users' home nodes, when this node is part of a cluster.
    peers: OnceLock<Arc<dyn Peers>>,
}

impl Presence {
    /// `recheck`: how long a watcher's right to see a user is trusted before it is checked
    /// again in `store`.
    pub(crate) fn new(store: Arc<dyn Store>, recheck: std::time::Duration) -> Presence {
        Presence {
            users: Directory::new(store, recheck),
            peers: OnceLock::new(),
        }
    }

    /// From now on users are at home where the cluster's ring says.
    pub(crate) fn set_peers(&self, peers: Arc<dyn Peers>) {
        let _ = self.peers.set(peers);
    }

    /// `user`'s home node when it is another node, with the peers that reach it.
    fn remote_home(&self, user: UserId) -> Option<(&Arc<dyn Peers>, NodeId)> {
        let peers = self.peers.get()?;
        peers.home(user).map(|home| (peers, home))
    }

    /// `out`'s connection is a device of `user`.
    pub(crate) async fn attach(&self, out: &Outbound, user: UserId) {
        if let Some(peers) = self.peers.get() {
            peers.register(out);
        }
        match self.remote_home(user) {
            Some((peers, home)) => {
                peers.user_op(&home, out.conn(), user, UserOp::Attach);
            }
            None => self.users.attach(user, out.clone().into()).await,
        }
    }

    /// `conn` closed: it is no longer a device of, or watching, any of `users`.
    pub(crate) async fn detach(&self, conn: ConnId, users: &[UserId]) {
        for &user in users {
            match self.remote_home(user) {
                Some((peers, home)) => {
                    peers.user_op(&home, conn, user, UserOp::Detach);
                }
                None => self.users.detach(user, conn).await,
            }
        }
    }

    /// `out`'s connection, of user `by`, wants `user`'s presence changes; returns the current
    /// status.
    pub(crate) async fn watch(&self, out: &Outbound, by: UserId, user: UserId) -> PresenceStatus {
        match self.remote_home(user) {
            Some((peers, home)) => peers
                .user_ask(&home, out.conn(), user, UserOp::Watch { by })
                .await
                .unwrap_or(PresenceStatus::Offline),
            None => self.users.watch(user, out.clone().into(), by).await,
        }
    }

    pub(crate) async fn query(&self, conn: ConnId, user: UserId) -> PresenceStatus {
        match self.remote_home(user) {
            Some((peers, home)) => peers
                .user_ask(&home, conn, user, UserOp::Query)
                .await
                .unwrap_or(PresenceStatus::Offline),
            None => self.users.query(user).await,
        }
    }

    /// The user chose away (or online again) for all devices.
    pub(crate) async fn away(&self, conn: ConnId, user: UserId, away: bool) {
        match self.remote_home(user) {
            Some((peers, home)) => {
                peers.user_op(&home, conn, user, UserOp::SetAway { away });
            }
            None => self.users.set_away(user, conn, away).await,
        }
    }

    /// Delivers `event` to every device of `user`, wherever they are connected.
    pub(crate) async fn notify_devices(&self, user: UserId, event: Arc<Event>) {
        match self.remote_home(user) {
            Some((peers, home)) => {
                let op = UserOp::Notify {
                    frame: event.msgpack(),
                };
                peers.user_op(&home, ConnId(0), user, op);
            }
            None => self.users.notify(user, event).await,
        }
    }

    /// Delivers `event`, news about `user` that connection `conn` of theirs made, to the
    /// user's other devices and to every connection watching their presence, wherever they
    /// are connected.
    pub(crate) async fn announce(&self, conn: ConnId, user: UserId, event: Arc<Event>) {
        match self.remote_home(user) {
            Some((peers, home)) => {
                let op = UserOp::Announce {
                    frame: event.msgpack(),
                };
                peers.user_op(&home, conn, user, op);
            }
            None => self.users.announce(user, conn, event).await,
        }
    }

    /// A presence operation from another node, for a user at home here. Applied here, never
    /// passed on: nodes whose rings disagree for a moment must not bounce it between them.
    pub(crate) async fn at_home(
        &self,
        user: UserId,
        from: Recipient,
        op: UserOp,
    ) -> PresenceStatus {
        let users = &self.users;
        match op {
            UserOp::Attach => users.attach(user, from).await,
            UserOp::Watch { by } => return users.watch(user, from, by).await,
            UserOp::Detach => users.detach(user, from.conn()).await,
            UserOp::SetAway { away } => users.set_away(user, from.conn(), away).await,
            UserOp::Query => return users.query(user).await,
            UserOp::Notify { frame } => {
                users
                    .notify(user, Event::from_msgpack(None, frame, None))
                    .await
            }
            UserOp::Announce { frame } => {
                let event = Event::from_msgpack(None, frame, None);
                users.announce(user, from.conn(), event).await
            }
        }
        PresenceStatus::Offline
    }

    /// After the ring changed: users whose home is another node now are forgotten here (their
    /// devices and watchers attach there again).
    pub(crate) fn stop_users_homed_elsewhere(&self) {
        let Some(peers) = self.peers.get() else {
            return;
        };
        self.users.retain(|user| peers.home(user).is_none());
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use switchboard_engine::codec::Codec;
    use switchboard_engine::protocol::{Done, ServerFrame};
    use switchboard_persistence::store::sqlite::SqliteStore;

    use super::*;
    use crate::outbound::{self, OutboundReceiver, Outgoing};

    const ANN: UserId = UserId(1);
    const BOB: UserId = UserId(2);

    fn presence() -> (Presence, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("db"), false).unwrap();
        // Long enough that no watcher is rechecked against the (empty) store.
        let recheck = Duration::from_secs(3600);
        (Presence::new(Arc::new(store), recheck), dir)
    }

    fn connection(conn: u64) -> (Outbound, OutboundReceiver) {
        outbound::channel(ConnId(conn), Codec::MsgPack, 100, 1 << 20)
    }

    /// The statuses of `user` announced to this connection so far.
    fn announced(rx: &mut OutboundReceiver, user: UserId) -> Vec<PresenceStatus> {
        std::iter::from_fn(|| rx.try_recv())
            .filter_map(|item| match item {
                Outgoing::Event(e) => Codec::MsgPack.decode::<ServerFrame>(&e.msgpack()).ok(),
                Outgoing::Frame(_) | Outgoing::Notice(_) | Outgoing::Flush => None,
            })
            .filter_map(|frame| match frame {
                ServerFrame::PresenceChanged(p) if p.user == user => Some(p.status),
                _ => None,
            })
            .collect()
    }

    #[tokio::test]
    async fn a_single_unwatched_device_costs_no_actor() {
        let (presence, _dir) = presence();
        let (phone, phone_rx) = connection(1);
        presence.attach(&phone, ANN).await;
        assert_eq!(presence.users.has_actor(ANN), Some(false));
        assert_eq!(presence.query(ConnId(9), ANN).await, PresenceStatus::Online);
        presence.away(phone.conn(), ANN, true).await;
        assert_eq!(presence.query(ConnId(9), ANN).await, PresenceStatus::Away);
        let ping = Event::new(None, &ServerFrame::Pong(Done { rid: 7 }));
        presence.notify_devices(ANN, ping).await;
        assert!(matches!(phone_rx.try_recv(), Some(Outgoing::Event(_))));
        assert_eq!(presence.users.has_actor(ANN), Some(false));

        // A second device makes an actor, which keeps the phone's away flag; the laptop is
        // online, and the user is as present as the most present device.
        let (laptop, _laptop_rx) = connection(2);
        presence.attach(&laptop, ANN).await;
        assert_eq!(presence.users.has_actor(ANN), Some(true));
        assert_eq!(presence.query(ConnId(9), ANN).await, PresenceStatus::Online);
        presence.away(laptop.conn(), ANN, true).await;
        assert_eq!(presence.query(ConnId(9), ANN).await, PresenceStatus::Away);

        // Down to one device again: the actor leaves a light entry behind, away kept.
        presence.detach(phone.conn(), &[ANN]).await;
        assert_eq!(presence.query(ConnId(9), ANN).await, PresenceStatus::Away);
        assert_eq!(presence.users.has_actor(ANN), Some(false), "demoted");
        presence.detach(laptop.conn(), &[ANN]).await;
        assert_eq!(
            presence.query(ConnId(9), ANN).await,
            PresenceStatus::Offline
        );
        assert_eq!(presence.users.has_actor(ANN), None, "nothing left");
    }

    #[tokio::test]
    async fn a_user_whose_watcher_leaves_costs_no_actor_again() {
        let (presence, _dir) = presence();
        let (phone, _phone_rx) = connection(1);
        let (watcher, mut watcher_rx) = connection(2);
        presence.attach(&phone, ANN).await;
        assert_eq!(
            presence.watch(&watcher, BOB, ANN).await,
            PresenceStatus::Online
        );
        assert_eq!(presence.users.has_actor(ANN), Some(true));
        presence.detach(watcher.conn(), &[ANN]).await;
        // A query is answered after the detach: by then the actor has demoted itself.
        assert_eq!(presence.query(ConnId(9), ANN).await, PresenceStatus::Online);
        assert_eq!(presence.users.has_actor(ANN), Some(false), "demoted");
        // Still her device: away and notifications reach it as before.
        presence.away(phone.conn(), ANN, true).await;
        assert_eq!(presence.query(ConnId(9), ANN).await, PresenceStatus::Away);
        presence.detach(phone.conn(), &[ANN]).await;
        assert_eq!(presence.users.has_actor(ANN), None);
        assert!(
            announced(&mut watcher_rx, ANN).is_empty(),
            "gone watchers hear nothing"
        );
    }

    /// Operations racing an actor that demotes itself: none is lost. Each round a second device
    /// connects and leaves while `away`, queries and notifications run beside it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn operations_racing_a_demotion_lose_nothing() {
        let (presence, _dir) = presence();
        let presence = Arc::new(presence);
        for round in 0..200u64 {
            let ann = UserId(100 + round);
            let (phone, phone_rx) = connection(2 * round + 1);
            let (laptop, _laptop_rx) = connection(2 * round + 2);
            presence.attach(&phone, ann).await;
            presence.attach(&laptop, ann).await;
            let leave = tokio::spawn({
                let presence = presence.clone();
                async move { presence.detach(ConnId(2 * round + 2), &[ann]).await }
            });
            let away = tokio::spawn({
                let presence = presence.clone();
                async move { presence.away(ConnId(2 * round + 1), ann, true).await }
            });
            let ping = Event::new(None, &ServerFrame::Pong(Done { rid: round }));
            presence.notify_devices(ann, ping).await;
            leave.await.unwrap();
            away.await.unwrap();
            assert_eq!(
                presence.query(ConnId(0), ann).await,
                PresenceStatus::Away,
                "round {round}"
            );
            assert!(
                matches!(phone_rx.try_recv(), Some(Outgoing::Event(_))),
                "round {round}: the notification reached the phone"
            );
            presence.detach(phone.conn(), &[ann]).await;
            assert_eq!(presence.users.has_actor(ann), None, "round {round}");
            assert_eq!(
                presence.query(ConnId(0), ann).await,
                PresenceStatus::Offline,
                "round {round}"
            );
        }
    }

    /// How many frames of `frame`'s type this connection was sent.
    fn events_like(rx: &OutboundReceiver, frame: &ServerFrame) -> usize {
        std::iter::from_fn(|| rx.try_recv())
            .filter_map(|item| match item {
                Outgoing::Event(e) => Codec::MsgPack.decode::<ServerFrame>(&e.msgpack()).ok(),
                Outgoing::Frame(_) | Outgoing::Notice(_) | Outgoing::Flush => None,
            })
            .filter(|f| f == frame)
            .count()
    }

    #[tokio::test]
    async fn news_reaches_other_devices_and_watchers_once() {
        let (presence, _dir) = presence();
        let news = ServerFrame::Pong(Done { rid: 42 });
        // A single device: nobody else to tell.
        let (phone, phone_rx) = connection(1);
        presence.attach(&phone, ANN).await;
        let event = Event::new(None, &news);
        presence.announce(phone.conn(), ANN, event.clone()).await;
        assert_eq!(events_like(&phone_rx, &news), 0, "not the one that made it");
        presence.announce(ConnId(0), ANN, event.clone()).await;
        assert_eq!(events_like(&phone_rx, &news), 1, "from elsewhere");

        // Her laptop watches her own presence too; Bob watches her.
        let (laptop, laptop_rx) = connection(2);
        let (watcher, watcher_rx) = connection(3);
        presence.attach(&laptop, ANN).await;
        presence.watch(&laptop, ANN, ANN).await;
        presence.watch(&watcher, BOB, ANN).await;
        presence.announce(phone.conn(), ANN, event).await;
        // Answered after the announcement: it is out by then.
        presence.query(ConnId(9), ANN).await;
        assert_eq!(events_like(&phone_rx, &news), 0);
        assert_eq!(
            events_like(&laptop_rx, &news),
            1,
            "a device that watches: once"
        );
        assert_eq!(events_like(&watcher_rx, &news), 1);
    }

    #[tokio::test]
    async fn a_light_device_that_disconnects_leaves_nothing_behind() {
        let (presence, _dir) = presence();
        let (phone, _rx) = connection(1);
        presence.attach(&phone, ANN).await;
        presence.detach(ConnId(5), &[ANN]).await;
        assert_eq!(presence.users.has_actor(ANN), Some(false), "not its device");
        presence.detach(phone.conn(), &[ANN]).await;
        assert_eq!(presence.users.has_actor(ANN), None);
        assert_eq!(
            presence.query(ConnId(9), ANN).await,
            PresenceStatus::Offline
        );
    }

    /// Bob watches Ann as her only device connects, in either order or at once: he learns she
    /// is online (from the watch's answer or an announcement), then that she is offline.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn watch_and_connect_at_once_lose_nothing() {
        let (presence, _dir) = presence();
        let presence = Arc::new(presence);
        for round in 0..200u64 {
            let ann = UserId(100 + round);
            let (phone, _phone_rx) = connection(2 * round + 1);
            let (watcher, mut watcher_rx) = connection(2 * round + 2);
            let connect = tokio::spawn({
                let (presence, phone) = (presence.clone(), phone.clone());
                async move { presence.attach(&phone, ann).await }
            });
            let watch = tokio::spawn({
                let presence = presence.clone();
                async move { presence.watch(&watcher, BOB, ann).await }
            });
            let answer = watch.await.unwrap();
            connect.await.unwrap();
            // A query is answered after every message queued before it: the announcements
            // are out by then.
            assert_eq!(presence.query(ConnId(0), ann).await, PresenceStatus::Online);
            let mut seen = vec![answer];
            seen.extend(announced(&mut watcher_rx, ann));
            assert_eq!(
                seen.last(),
                Some(&PresenceStatus::Online),
                "round {round}: {seen:?}"
            );
            assert_eq!(
                presence.users.has_actor(ann),
                Some(true),
                "watched: an actor"
            );

            presence.detach(phone.conn(), &[ann]).await;
            assert_eq!(
                presence.query(ConnId(0), ann).await,
                PresenceStatus::Offline
            );
            let after = announced(&mut watcher_rx, ann);
            assert_eq!(after, [PresenceStatus::Offline], "round {round}");

            presence.detach(ConnId(2 * round + 2), &[ann]).await;
            assert_eq!(
                presence.query(ConnId(0), ann).await,
                PresenceStatus::Offline
            );
            assert_eq!(presence.users.has_actor(ann), None, "round {round}");
        }
    }
}
