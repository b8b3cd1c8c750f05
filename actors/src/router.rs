//! The room router: the one way a room command reaches its room.
//!
//! [`Router`] holds this node's rooms and, in a cluster, the way to the others ([`Forward`]).
//! [`RoomRef`] is where a room is served as a command sees it: an active actor here, a room
//! here that must be started first (its supervisor starts it and hands it the command), or
//! another node. [`Router::send`] owns the choice between them, the retry when a room stopped while a
//! command was on its way, and the when-full policy: a task that serves many callers (the
//! cluster inbox) never waits for mailbox space, its command is answered `busy`; a
//! connection's own command task may wait until its deadline. Whatever happens, an answered
//! command gets exactly one answer: from its room, or from here.

use std::sync::{Arc, OnceLock};

use kameo::actor::ActorRef;
use kameo::error::SendError;
use switchboard_engine::ring::NodeId;
use switchboard_engine::{RoomId, UserId};
use tokio::time::Instant;

use crate::error::{Busy, Refused};
use crate::outbound::Outbound;
use crate::recipient::Recipient;
use crate::room::{Command, Deliver, RoomActor, RoomCommand, RoomSupervisor, Rooms};

/// Room commands to other nodes; the cluster link implements it.
pub trait Forward: Send + Sync {
    /// Sends a room command of `out`'s connection (of `user`, with `rid`) to `room`'s owner
    /// `node`; `out` receives the answer. False when the way there is full: the caller answers
    /// `busy`.
    fn command(
        &self,
        node: &NodeId,
        out: &Outbound,
        user: UserId,
        rid: u64,
        room: RoomId,
        cmd: RoomCommand,
    ) -> bool;
}

/// The way to every room, here or on another node.
pub struct Router {
    rooms: Arc<Rooms>,
    remote: OnceLock<Arc<dyn Forward>>,
}

/// Where a room's commands go.
pub enum RoomRef {
    /// The room's actor, active on this node.
    Here(ActorRef<RoomActor>),
    /// Served here, not active: the supervisor starts it and hands it the command.
    Starting(ActorRef<RoomSupervisor>),
    /// Served by another node.
    There(NodeId, Arc<dyn Forward>),
}

/// Why a command could not be handed over at once. It carries the command back by value, as
/// kameo's `SendError` does: the error path is rare and a box would cost every send.
#[allow(clippy::large_enum_variant)]
enum Stuck {
    /// The mailbox (or queue) is full.
    Full(Command),
    /// The actor stopped: the room may be served elsewhere, or by a new incarnation, now.
    Stopped(Command),
}

impl RoomRef {
    /// Hands `cmd` over without waiting.
    #[allow(clippy::result_large_err)] // see `Stuck`
    fn try_send(&self, rooms: &Rooms, cmd: Command) -> Result<(), Stuck> {
        match self {
            RoomRef::Here(actor) => actor.tell(cmd).try_send().map_err(stuck),
            RoomRef::Starting(supervisor) => {
                let room = cmd.room;
                // Counted before it is sent: from now on later commands for the room queue
                // behind it (see `room::directory`).
                rooms.directory.via_supervisor(room);
                supervisor.tell(Deliver(cmd)).try_send().map_err(|e| {
                    rooms.directory.handled_by_supervisor(room);
                    match stuck(e.map_msg(|Deliver(c)| c)) {
                        // The supervisor only stops with the node.
                        Stuck::Stopped(c) => Stuck::Full(c),
                        full => full,
                    }
                })
            }
            RoomRef::There(node, remote) => {
                let Recipient::Local(out) = &cmd.caller.reply else {
                    // Commands from other nodes are passed on by the inbox, never routed twice.
                    return Err(Stuck::Stopped(cmd));
                };
                let (caller, answered) = (cmd.caller.clone(), cmd.cmd.is_answered());
                if !remote.command(node, out, caller.user, caller.rid, cmd.room, cmd.cmd)
                    && answered
                {
                    // A full forwarder or table of awaited replies: waiting would not help.
                    caller.refuse(Refused::Busy(Busy::Overloaded));
                }
                Ok(())
            }
        }
    }

    /// Hands `cmd` over, waiting for mailbox space until `deadline`.
    #[allow(clippy::result_large_err)] // see `Stuck`
    async fn send_by(&self, rooms: &Rooms, cmd: Command, deadline: Instant) -> Result<(), Stuck> {
        let caller = cmd.caller.clone();
        let answered = cmd.cmd.is_answered();
        let sent = match self {
            RoomRef::Here(actor) => tokio::time::timeout_at(deadline, actor.tell(cmd).send()).await,
            RoomRef::Starting(supervisor) => {
                let room = cmd.room;
                rooms.directory.via_supervisor(room);
                let deliver = supervisor.tell(Deliver(cmd));
                let sent = match tokio::time::timeout_at(deadline, deliver.send()).await {
                    Ok(Ok(())) => return Ok(()),
                    Ok(Err(e)) => Ok(Err(e.map_msg(|Deliver(c)| c))),
                    Err(elapsed) => Err(elapsed),
                };
                rooms.directory.handled_by_supervisor(room);
                sent
            }
            RoomRef::There(..) => return self.try_send(rooms, cmd),
        };
        match sent {
            Ok(r) => r.map_err(stuck),
            Err(_) => {
                // The command was dropped with the send: it never reached the room.
                if answered {
                    caller.refuse(Refused::Busy(Busy::Overloaded));
                }
                Ok(())
            }
        }
    }
}

fn stuck(e: SendError<Command, kameo::error::Infallible>) -> Stuck {
    match e {
        SendError::MailboxFull(c) => Stuck::Full(c),
        SendError::ActorNotRunning(c) => Stuck::Stopped(c),
        // A `tell` has no handler error and no timeout.
        _ => unreachable!("a tell without a timeout fails only on a full or closed mailbox"),
    }
}

impl Router {
    pub(crate) fn new(rooms: Arc<Rooms>) -> Router {
        Router {
            rooms,
            remote: OnceLock::new(),
        }
    }

    /// From now on commands for rooms other nodes serve go there.
    pub(crate) fn set_forward(&self, remote: Arc<dyn Forward>) {
        let _ = self.remote.set(remote);
    }

    pub fn rooms(&self) -> &Arc<Rooms> {
        &self.rooms
    }

    /// Where commands for `room` go now.
    fn room_ref(&self, room: RoomId) -> Result<RoomRef, Refused> {
        if let Some(remote) = self.remote.get()
            && let Some(node) = self.rooms.owner(room)
        {
            return Ok(RoomRef::There(node, remote.clone()));
        }
        if let Some(actor) = self.rooms.directory.for_command(room) {
            return Ok(RoomRef::Here(actor));
        }
        let supervisor = self.rooms.supervisor().ok_or(Refused::ShuttingDown)?;
        Ok(RoomRef::Starting(supervisor.clone()))
    }

    /// Finds `cmd`'s room and hands the command over without waiting. A room that stopped
    /// while the command was on its way (idle, moved) is looked up once more: a new
    /// incarnation here, or its new node. Gives the command back, with its target, when the
    /// target's mailbox is full.
    fn hand_over(&self, mut cmd: Command) -> Option<(RoomRef, Command)> {
        for _ in 0..2 {
            let target = match self.room_ref(cmd.room) {
                Ok(target) => target,
                Err(why) => {
                    cmd.refuse(why);
                    return None;
                }
            };
            match target.try_send(&self.rooms, cmd) {
                Ok(()) => return None,
                Err(Stuck::Full(c)) => return Some((target, c)),
                Err(Stuck::Stopped(c)) => cmd = c,
            }
        }
        cmd.refuse(Refused::Busy(Busy::RoomMoving));
        None
    }

    /// Sends `cmd` to its room, wherever it is served, without waiting: a full mailbox on the
    /// way answers `busy`. For tasks that serve many callers (the cluster inbox) and for a
    /// connection's own loop.
    pub fn send_now(&self, cmd: Command) {
        if let Some((_, cmd)) = self.hand_over(cmd) {
            cmd.refuse(Refused::Busy(Busy::Overloaded));
        }
    }

    /// Sends `cmd` to its room, wherever it is served, waiting for mailbox space until
    /// `deadline` (then `busy`): only the calling command's task waits.
    pub async fn send(&self, cmd: Command, deadline: Instant) {
        let Some((target, cmd)) = self.hand_over(cmd) else {
            return;
        };
        match target.send_by(&self.rooms, cmd, deadline).await {
            Ok(()) => {}
            Err(Stuck::Full(cmd)) => cmd.refuse(Refused::Busy(Busy::Overloaded)),
            Err(Stuck::Stopped(cmd)) => cmd.refuse(Refused::Busy(Busy::RoomMoving)),
        }
    }
}
