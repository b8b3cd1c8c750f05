//! `UserActor`: one per online (or watched) user. It merges presence over all of the user's
//! devices and tells watchers when it changes. A watcher may see a user only while the two
//! share a room: checked at subscribe time, and again before announcing a change to a watcher
//! whose check is older than `presence_recheck`. It stops once nobody is connected or watching.

use std::sync::Weak;
use std::time::Instant;

use kameo::error::Infallible;
use kameo::prelude::*;
use switchboard_engine::domain::PresenceStatus;
use switchboard_engine::protocol::{PresenceInfo, ServerFrame};
use switchboard_engine::{ConnId, UserId};

use crate::hub::Hub;
use crate::outbound::Event;
use crate::queries;
use crate::recipient::Recipient;

/// A user's presence, as a reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq, kameo::Reply)]
pub struct Status(pub PresenceStatus);

pub struct UserArgs {
    pub user: UserId,
    pub hub: Weak<Hub>,
}

pub struct UserActor {
    user: UserId,
    hub: Weak<Hub>,
    devices: Vec<Recipient>,
    away: bool,
    watchers: Vec<Watcher>,
}

/// A connection watching this user's presence, and when its right to was last checked.
struct Watcher {
    out: Recipient,
    user: UserId,
    checked: Instant,
}

impl Actor for UserActor {
    type Args = UserArgs;
    type Error = Infallible;

    async fn on_start(args: UserArgs, _: ActorRef<Self>) -> Result<Self, Infallible> {
        Ok(UserActor {
            user: args.user,
            hub: args.hub,
            devices: Vec::new(),
            away: false,
            watchers: Vec::new(),
        })
    }
}

impl UserActor {
    fn status(&self) -> PresenceStatus {
        match (self.devices.is_empty(), self.away) {
            (true, _) => PresenceStatus::Offline,
            (false, true) => PresenceStatus::Away,
            (false, false) => PresenceStatus::Online,
        }
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
        let Some(hub) = self.hub.upgrade() else {
            return;
        };
        let now = Instant::now();
        let due = hub.config.presence_recheck;
        let mut kept = Vec::with_capacity(self.watchers.len());
        for mut w in std::mem::take(&mut self.watchers) {
            if now.duration_since(w.checked) >= due {
                match hub.store.shares_room(self.user, w.user).await {
                    Ok(false) => continue,
                    Ok(true) => {}
                    Err(e) => queries::store_failed(format_args!("presence recheck: {e}")),
                }
                w.checked = now;
            }
            kept.push(w);
        }
        self.watchers = kept;
    }

    /// Stops once nobody needs this actor; forgets it first so nobody resolves it after.
    fn stop_if_unused(&mut self, ctx: &mut Context<Self, impl Reply>) {
        if self.devices.is_empty() && self.watchers.is_empty() {
            if let Some(hub) = self.hub.upgrade() {
                hub.forget_user(self.user, ctx.actor_ref().id());
            }
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
        let before = self.status();
        self.devices.retain(|o| o.conn() != d.conn);
        self.watchers.retain(|w| w.out.conn() != d.conn);
        if self.devices.is_empty() {
            self.away = false;
        }
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
        self.watchers.push(Watcher {
            out: w.out,
            user: w.by,
            checked: Instant::now(),
        });
        Status(self.status())
    }
}

/// The user chose `away` (true) or `online` (false) for all devices.
pub struct SetAway {
    pub away: bool,
}

impl Message<SetAway> for UserActor {
    type Reply = ();

    async fn handle(&mut self, s: SetAway, _: &mut Context<Self, ()>) {
        let before = self.status();
        self.away = s.away;
        self.announce_if_changed(before).await;
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

/// Deliver an event to every connection of this user.
pub struct NotifyDevices(pub std::sync::Arc<Event>);

impl Message<NotifyDevices> for UserActor {
    type Reply = ();

    async fn handle(&mut self, n: NotifyDevices, _: &mut Context<Self, ()>) {
        self.devices.retain(|d| d.event(&n.0));
    }
}
