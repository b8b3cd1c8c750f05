//! The connection's rooms on other nodes: which node it takes each room's frames from, and
//! what the cluster's notices (lost frames, a dropped join, a ring change) do to them.

use switchboard_engine::protocol::{self as p, ServerFrame};
use switchboard_engine::ring::{NodeId, Ring};
use switchboard_engine::{RoomId, UserId};

use super::{ConnectionActor, tasks};
use crate::outbound::Notice;

impl ConnectionActor {
    /// Applies news of this connection's rooms on other nodes: each room that starts over gets
    /// a `room_reset` (queued behind what is queued now, none of which is from that room).
    pub(super) fn on_notice(&mut self, notice: &Notice) {
        match notice {
            Notice::Lost(node) => self.reset_remote(|_, n| node.as_ref().is_none_or(|l| l == n)),
            Notice::Dropped { room, node } => self.reset_remote(|r, n| r == *room && n == node),
            Notice::Ring { before, after } => {
                self.reset_remote(|room, n| after.owner(room) != Some(n));
                self.rehome(before, after);
            }
            #[cfg(feature = "testing")]
            Notice::Panic => panic!("injected panic in connection {}", self.id),
        }
    }

    fn reset_remote(&mut self, moved: impl Fn(RoomId, &NodeId) -> bool) {
        for room in self.rx.reset_remote(moved) {
            self.out
                .frame(&ServerFrame::RoomReset(p::RoomReset { room }));
        }
    }

    /// After the ring changed: attaches again as a device, and watches again, where a user's
    /// home moved (off the loop, like a command). Away is reset.
    fn rehome(&mut self, before: &Ring, after: &Ring) {
        let Some(me) = self.identity.as_ref().map(|i| i.user) else {
            return;
        };
        let moved = |user: UserId| before.home(user) != after.home(user);
        let device = moved(me);
        let watch: Vec<UserId> = self
            .watching
            .iter()
            .copied()
            .filter(|u| moved(*u))
            .collect();
        if !device && watch.is_empty() {
            return;
        }
        let (hub, out) = (self.hub.clone(), self.out.clone());
        self.pending.spawn(None, 0, async move {
            if device {
                hub.presence().attach(&out, me).await;
            }
            for user in watch {
                hub.presence().watch(&out, me, user).await;
            }
            Ok(tasks::Effect::Answered)
        });
    }
}
