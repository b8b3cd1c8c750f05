//! Users at home on this node: the `Directory`, and `UserActor` for users that have work.
//!
//! A user with one device and nobody watching costs no actor: the directory keeps that
//! device's `Recipient` and the away flag, and answers for it. A `UserActor` is spawned when a
//! second device or a watcher comes; it merges presence over all the user's devices and tells
//! watchers when it changes. A watcher may see a user only while the two share a room: checked
//! at subscribe time, and again before announcing a change to a watcher whose check is older
//! than `presence_recheck`. The actor stops once it has no work left: with no device and no
//! watcher it is forgotten; with one device and no watcher it becomes a light entry again, but
//! only when no message for it is on its way (the directory counts them), so no change is lost
//! or applied out of order. A directory operation that finds the actor stopped tries again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use kameo::error::Infallible;
use kameo::prelude::*;
use switchboard_engine::domain::PresenceStatus;
use switchboard_engine::protocol::{PresenceInfo, ServerFrame};
use switchboard_engine::{ConnId, UserId};
use switchboard_persistence::Store;

use crate::error::store_failed;
use crate::outbound::Event;
use crate::recipient::Recipient;

/// A user's presence, as a reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq, kameo::Reply)]
pub struct Status(pub PresenceStatus);

/// A light entry's away flag, as the devices that chose away.
fn away_of(device: &Recipient, away: bool) -> Vec<ConnId> {
    if away {
        vec![device.conn()]
    } else {
        Vec::new()
    }
}

fn status_of(connected: bool, away: bool) -> PresenceStatus {
    match (connected, away) {
        (false, _) => PresenceStatus::Offline,
        (true, true) => PresenceStatus::Away,
        (true, false) => PresenceStatus::Online,
    }
}

/// The users at home on this node, each either light (one device, nobody watching) or an actor.
pub(crate) struct Directory {
    /// Held only for map operations and to spawn an actor, never across an `.await`: a light
    /// entry becomes an actor under it, with the light state in the actor's arguments, so no
    /// other operation on that user can slip between.
    users: Mutex<HashMap<UserId, Entry>>,
    store: Arc<dyn Store>,
    recheck: Duration,
}

enum Entry {
    /// One device, nobody watching: no actor.
    Light { device: Recipient, away: bool },
    /// An actor, and how many of the messages the directory sends it (`Detach`, `SetAway`,
    /// `Tell`) are on their way or queued: it leaves a light entry behind only when
    /// none is (see `demote`), so none can reach it after it stopped, and the light entry
    /// sees every change in the order it was made. (Asks to a stopped actor fail, and their
    /// callers ask the directory again.)
    Actor {
        actor: ActorRef<UserActor>,
        sending: usize,
    },
}

/// `user`'s entry, less an actor that died without forgetting itself (a panic).
fn live(users: &mut HashMap<UserId, Entry>, user: UserId) -> Option<&mut Entry> {
    if matches!(users.get(&user), Some(Entry::Actor { actor, .. }) if !actor.is_alive()) {
        users.remove(&user);
    }
    users.get_mut(&user)
}

impl Directory {
    pub(crate) fn new(store: Arc<dyn Store>, recheck: Duration) -> Arc<Directory> {
        Arc::new(Directory {
            users: Mutex::default(),
            store,
            recheck,
        })
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<UserId, Entry>> {
        self.users.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// An actor for `user` with this state. Called under the lock: spawning does not wait.
    fn spawn(
        self: &Arc<Self>,
        user: UserId,
        devices: Vec<Recipient>,
        away: Vec<ConnId>,
        watchers: Vec<Watcher>,
    ) -> Entry {
        let actor = UserActor::spawn(UserArgs {
            user,
            directory: Arc::downgrade(self),
            devices,
            away,
            watchers,
        });
        Entry::Actor { actor, sending: 0 }
    }

    /// `out`'s connection is a device of `user`.
    pub(crate) async fn attach(self: &Arc<Self>, user: UserId, out: Recipient) {
        // An actor that is stopping refuses the ask, and has left the directory by then: the
        // second try starts afresh.
        for _ in 0..2 {
            let actor = {
                let mut users = self.lock();
                match live(&mut users, user) {
                    Some(Entry::Actor { actor, .. }) => actor.clone(),
                    Some(Entry::Light { device, .. }) if device.conn() == out.conn() => {
                        *device = out;
                        return;
                    }
                    Some(Entry::Light { device, away }) => {
                        // A second device, online: the user is now online, and nobody
                        // watches to be told.
                        let away = away_of(device, *away);
                        let devices = vec![device.clone(), out];
                        let entry = self.spawn(user, devices, away, Vec::new());
                        users.insert(user, entry);
                        return;
                    }
                    None => {
                        let away = false;
                        users.insert(user, Entry::Light { device: out, away });
                        return;
                    }
                }
            };
            if actor.ask(Attach { out: out.clone() }).await.is_ok() {
                return;
            }
        }
        tracing::warn!(%user, "could not attach to user actor");
    }

    /// `out`'s connection, of user `by`, wants `user`'s presence changes; returns the status.
    pub(crate) async fn watch(
        self: &Arc<Self>,
        user: UserId,
        out: Recipient,
        by: UserId,
    ) -> PresenceStatus {
        for _ in 0..2 {
            let actor = {
                let mut users = self.lock();
                match live(&mut users, user) {
                    Some(Entry::Actor { actor, .. }) => actor.clone(),
                    light => {
                        // A watcher needs an actor to announce changes to it.
                        let (devices, away) = match light {
                            Some(Entry::Light { device, away }) => {
                                (vec![device.clone()], away_of(device, *away))
                            }
                            _ => (Vec::new(), Vec::new()),
                        };
                        let status = status_of(!devices.is_empty(), !away.is_empty());
                        let watchers = vec![Watcher::new(out, by)];
                        let entry = self.spawn(user, devices, away, watchers);
                        users.insert(user, entry);
                        return status;
                    }
                }
            };
            if let Ok(Status(status)) = actor
                .ask(Watch {
                    out: out.clone(),
                    by,
                })
                .await
            {
                return status;
            }
        }
        PresenceStatus::Offline
    }

    /// `conn` closed: it is no longer a device of, nor watching, `user`.
    pub(crate) async fn detach(&self, user: UserId, conn: ConnId) {
        for _ in 0..2 {
            let actor = {
                let mut users = self.lock();
                match live(&mut users, user) {
                    Some(Entry::Actor { actor, sending, .. }) => {
                        *sending += 1;
                        actor.clone()
                    }
                    Some(Entry::Light { device, .. }) if device.conn() == conn => {
                        users.remove(&user);
                        return;
                    }
                    _ => return,
                }
            };
            // Waits for mailbox room: a lost Detach would leave the user online. An actor
            // that stopped meanwhile (it had no device left) left nothing: try that.
            if self.tell(user, actor, Detach { conn }).await {
                return;
            }
        }
    }

    /// Device `conn` of `user` chose away (or online again).
    pub(crate) async fn set_away(&self, user: UserId, conn: ConnId, away: bool) {
        for _ in 0..2 {
            let actor = match live(&mut self.lock(), user) {
                Some(Entry::Actor { actor, sending, .. }) => {
                    *sending += 1;
                    actor.clone()
                }
                Some(Entry::Light { device, away: a }) => {
                    if device.conn() == conn {
                        *a = away;
                    }
                    return;
                }
                None => return,
            };
            if self.tell(user, actor, SetAway { conn, away }).await {
                return;
            }
        }
    }

    pub(crate) async fn query(&self, user: UserId) -> PresenceStatus {
        for _ in 0..2 {
            let actor = match live(&mut self.lock(), user) {
                Some(Entry::Actor { actor, .. }) => actor.clone(),
                Some(Entry::Light { away, .. }) => return status_of(true, *away),
                None => return PresenceStatus::Offline,
            };
            if let Ok(Status(status)) = actor.ask(Query).await {
                return status;
            }
        }
        PresenceStatus::Offline
    }

    /// Delivers `event` to every device of `user` connected here or elsewhere.
    pub(crate) async fn notify(&self, user: UserId, event: Arc<Event>) {
        self.deliver(user, event, None).await;
    }

    /// Delivers `event` to every device of `user` but `except` (the connection it came from)
    /// and to every connection watching `user`.
    pub(crate) async fn announce(&self, user: UserId, except: ConnId, event: Arc<Event>) {
        self.deliver(user, event, Some(except)).await;
    }

    /// Delivers `event` to `user`'s devices; with `announce`, news from that connection, to
    /// every device but it and to every watcher.
    async fn deliver(&self, user: UserId, event: Arc<Event>, announce: Option<ConnId>) {
        for _ in 0..2 {
            let actor = match live(&mut self.lock(), user) {
                Some(Entry::Actor { actor, sending, .. }) => {
                    *sending += 1;
                    actor.clone()
                }
                // Nobody watches a light entry. A gone device is forgotten when its
                // connection detaches.
                Some(Entry::Light { device, .. }) => {
                    if announce != Some(device.conn()) {
                        device.event(&event);
                    }
                    return;
                }
                None => return,
            };
            let tell = Tell {
                event: event.clone(),
                announce,
            };
            if self.tell(user, actor, tell).await {
                return;
            }
        }
    }

    /// Hands `msg` to `actor`, found for `user` and counted as `sending` (the actor uncounts
    /// it when it handles it); false when it had stopped (the caller looks again).
    async fn tell<M>(&self, user: UserId, actor: ActorRef<UserActor>, msg: M) -> bool
    where
        UserActor: Message<M, Reply = ()>,
        M: Send + 'static,
    {
        if actor.tell(msg).await.is_ok() {
            return true;
        }
        self.handled(user, actor.id());
        false
    }

    /// One message counted for `user`'s actor `actor` is handled (or was never delivered).
    fn handled(&self, user: UserId, actor: ActorId) {
        if let Some(Entry::Actor { actor: a, sending }) = self.lock().get_mut(&user)
            && a.id() == actor
        {
            *sending = sending.saturating_sub(1);
        }
    }

    /// Replaces `user`'s actor, if it is still `actor` (called by the actor when it has no work
    /// left), with a light entry for its one remaining device, or with nothing. True when the
    /// actor must stop now. An actor with a device stays while a message for it is on its way
    /// or queued: it tries again once it has handled that message.
    fn demote(&self, user: UserId, actor: ActorId, light: Option<(Recipient, bool)>) -> bool {
        let mut users = self.lock();
        let sending = match users.get(&user) {
            Some(Entry::Actor { actor: a, sending }) if a.id() == actor => *sending,
            // Forgotten already (killed when the user's home moved).
            _ => return true,
        };
        match light {
            None => {
                users.remove(&user);
                true
            }
            Some((device, away)) if sending == 0 => {
                users.insert(user, Entry::Light { device, away });
                true
            }
            Some(_) => false,
        }
    }

    /// Forgets every user for whom `keep` is false, stopping their actors.
    pub(crate) fn retain(&self, keep: impl Fn(UserId) -> bool) {
        let mut gone = Vec::new();
        self.lock().retain(|user, entry| {
            if keep(*user) {
                return true;
            }
            if let Entry::Actor { actor, .. } = entry {
                gone.push(actor.clone());
            }
            false
        });
        for actor in gone {
            actor.kill();
        }
    }

    /// Whether `user` has an entry here, and whether it is an actor.
    #[cfg(test)]
    pub(crate) fn has_actor(&self, user: UserId) -> Option<bool> {
        live(&mut self.lock(), user).map(|e| matches!(e, Entry::Actor { .. }))
    }
}

pub struct UserArgs {
    user: UserId,
    directory: Weak<Directory>,
    devices: Vec<Recipient>,
    away: Vec<ConnId>,
    watchers: Vec<Watcher>,
}

pub struct UserActor {
    user: UserId,
    directory: Weak<Directory>,
    devices: Vec<Recipient>,
    /// The devices that chose away. The user is away only when every device is: presence
    /// follows the most present one (a tab closed or hidden says nothing of the others).
    away: Vec<ConnId>,
    watchers: Vec<Watcher>,
}

/// A connection watching this user's presence, and when its right to was last checked.
struct Watcher {
    out: Recipient,
    user: UserId,
    checked: Instant,
}

impl Watcher {
    /// A watcher whose right to watch was just checked.
    fn new(out: Recipient, user: UserId) -> Watcher {
        Watcher {
            out,
            user,
            checked: Instant::now(),
        }
    }
}

impl Actor for UserActor {
    type Args = UserArgs;
    type Error = Infallible;

    async fn on_start(args: UserArgs, _: ActorRef<Self>) -> Result<Self, Infallible> {
        Ok(UserActor {
            user: args.user,
            directory: args.directory,
            devices: args.devices,
            away: args.away,
            watchers: args.watchers,
        })
    }
}

impl UserActor {
    fn status(&self) -> PresenceStatus {
        let all_away = self.devices.iter().all(|d| self.away.contains(&d.conn()));
        status_of(!self.devices.is_empty(), all_away)
    }

    async fn announce_if_changed(&mut self, before: PresenceStatus) {
        let status = self.status();
        if status == before {
            return;
        }
        self.recheck_watchers().await;
        let event = Event::new(
            None,
            &ServerFrame::PresenceChanged(PresenceInfo {
                user: self.user,
                status,
            }),
        );
        self.watchers.retain(|w| w.out.event(&event));
    }

    /// Drops watchers that no longer share a room with this user (checked at most once per
    /// `presence_recheck` each). A store that does not answer keeps them: it is not a "no".
    async fn recheck_watchers(&mut self) {
        let Some(directory) = self.directory.upgrade() else {
            return;
        };
        let now = Instant::now();
        let mut kept = Vec::with_capacity(self.watchers.len());
        for mut w in std::mem::take(&mut self.watchers) {
            if now.duration_since(w.checked) >= directory.recheck {
                match directory.store.shares_room(self.user, w.user).await {
                    Ok(false) => continue,
                    Ok(true) => {}
                    Err(e) => store_failed(format_args!("presence recheck: {e}")),
                }
                w.checked = now;
            }
            kept.push(w);
        }
        self.watchers = kept;
    }

    /// Uncounts a message the directory sent (see `Entry::Actor`).
    fn handled(&self, ctx: &mut Context<Self, impl Reply>) {
        if let Some(directory) = self.directory.upgrade() {
            directory.handled(self.user, ctx.actor_ref().id());
        }
    }

    /// Stops once an actor has no work left (no watcher, at most one device), leaving a light
    /// entry for a remaining device; the directory is changed first, so nobody resolves this
    /// actor after.
    fn stop_if_unused(&mut self, ctx: &mut Context<Self, impl Reply>) {
        if !self.watchers.is_empty() || self.devices.len() > 1 {
            return;
        }
        let light = self
            .devices
            .first()
            .map(|d| (d.clone(), self.away.contains(&d.conn())));
        let stop = self
            .directory
            .upgrade()
            .is_none_or(|d| d.demote(self.user, ctx.actor_ref().id(), light));
        if stop {
            ctx.stop();
        }
    }
}

/// A device of this user connected.
#[derive(Clone)]
pub struct Attach {
    pub out: Recipient,
}

impl Message<Attach> for UserActor {
    type Reply = Status;

    async fn handle(&mut self, a: Attach, _: &mut Context<Self, Self::Reply>) -> Status {
        let before = self.status();
        self.devices.retain(|d| d.conn() != a.out.conn());
        self.away.retain(|c| *c != a.out.conn());
        self.devices.push(a.out);
        self.announce_if_changed(before).await;
        Status(self.status())
    }
}

/// A connection closed: it is no longer a device of this user nor a watcher.
pub struct Detach {
    pub conn: ConnId,
}

impl Message<Detach> for UserActor {
    type Reply = ();

    async fn handle(&mut self, d: Detach, ctx: &mut Context<Self, ()>) {
        self.handled(ctx);
        let before = self.status();
        self.devices.retain(|o| o.conn() != d.conn);
        self.watchers.retain(|w| w.out.conn() != d.conn);
        self.away.retain(|c| *c != d.conn);
        self.announce_if_changed(before).await;
        self.stop_if_unused(ctx);
    }
}

/// Another user's connection wants this user's presence changes.
#[derive(Clone)]
pub struct Watch {
    pub out: Recipient,
    /// The watching user (whose right to see this user was just checked).
    pub by: UserId,
}

impl Message<Watch> for UserActor {
    type Reply = Status;

    async fn handle(&mut self, w: Watch, _: &mut Context<Self, Self::Reply>) -> Status {
        let conn = w.out.conn();
        self.watchers.retain(|o| o.out.conn() != conn);
        self.watchers.push(Watcher::new(w.out, w.by));
        Status(self.status())
    }
}

/// Device `conn` chose `away` (true) or `online` (false).
pub struct SetAway {
    pub conn: ConnId,
    pub away: bool,
}

impl Message<SetAway> for UserActor {
    type Reply = ();

    async fn handle(&mut self, s: SetAway, ctx: &mut Context<Self, ()>) {
        self.handled(ctx);
        let before = self.status();
        self.away.retain(|c| *c != s.conn);
        if s.away && self.devices.iter().any(|d| d.conn() == s.conn) {
            self.away.push(s.conn);
        }
        self.announce_if_changed(before).await;
        // The announcement may have dropped watchers that no longer share a room.
        self.stop_if_unused(ctx);
    }
}

/// The user's current presence.
#[derive(Clone)]
pub struct Query;

impl Message<Query> for UserActor {
    type Reply = Status;

    async fn handle(&mut self, _: Query, _: &mut Context<Self, Self::Reply>) -> Status {
        Status(self.status())
    }
}

/// An event for this user's devices; with `announce`, news about the user from that
/// connection (a changed profile): for every device but it, and every watcher still allowed to
/// see the user.
pub struct Tell {
    pub event: Arc<Event>,
    pub announce: Option<ConnId>,
}

impl Message<Tell> for UserActor {
    type Reply = ();

    async fn handle(&mut self, t: Tell, ctx: &mut Context<Self, ()>) {
        self.handled(ctx);
        let except = t.announce;
        self.devices
            .retain(|d| Some(d.conn()) == except || d.event(&t.event));
        if except.is_some() {
            self.recheck_watchers().await;
            // A device that also watches its own user (a page showing its own presence)
            // hears of it once.
            let told: Vec<ConnId> = self.devices.iter().map(|d| d.conn()).collect();
            self.watchers.retain(|w| {
                let conn = w.out.conn();
                Some(conn) == except || told.contains(&conn) || w.out.event(&t.event)
            });
        }
        // A demotion put off while this was on its way happens now; watchers dropped by the
        // recheck may leave nothing to do.
        self.stop_if_unused(ctx);
    }
}
