//! `ClusterView`: this node's membership in the cluster and its current `Ring`.
//!
//! A kameo actor renews this node's lease every `heartbeat` and re-reads the live members every
//! `poll`, publishing a new `Ring` whenever the set changes. A node that crashes stops renewing
//! and drops out of every view within `lease + poll` (2.5 s + 0.5 s by default); one that shuts
//! down leaves at once. A node always counts itself in: if Redis forgot it (restarted) it keeps
//! its rooms until its next heartbeat puts it back, rather than giving them all away.

use std::sync::Arc;
use std::time::Duration;

use kameo::error::{ActorStopReason, Infallible};
use kameo::mailbox::{MailboxReceiver, Signal};
use kameo::prelude::*;
use switchboard_engine::ring::Ring;
use switchboard_persistence::cluster::{Member, Membership};
use tokio::sync::watch;

use crate::config::ClusterConfig;
use crate::supervised::{Policy, Supervisor, Task};

pub struct ClusterArgs {
    pub me: Member,
    pub membership: Arc<dyn Membership>,
    /// Its heartbeat, lease and poll times are used.
    pub config: ClusterConfig,
}

pub struct ClusterView {
    me: Member,
    membership: Arc<dyn Membership>,
    lease: Duration,
    ring: watch::Sender<Ring>,
    heartbeat: tokio::time::Interval,
    poll: tokio::time::Interval,
    /// Whether the last read of the members failed.
    outage: bool,
    /// After an outage, nodes are only added until this instant: a restarted Redis has
    /// forgotten every lease, and the live nodes need a heartbeat to register again.
    hold_removals_until: Option<tokio::time::Instant>,
}

impl Actor for ClusterView {
    type Args = ClusterArgs;
    type Error = Infallible;

    async fn on_start(args: ClusterArgs, _: ActorRef<Self>) -> Result<Self, Infallible> {
        let mut view = ClusterView {
            ring: watch::channel(Ring::default()).0,
            heartbeat: tokio::time::interval(args.config.heartbeat),
            poll: tokio::time::interval(args.config.poll),
            me: args.me,
            membership: args.membership,
            lease: args.config.lease,
            outage: false,
            hold_removals_until: None,
        };
        view.renew().await;
        view.refresh().await;
        Ok(view)
    }

    async fn next(
        &mut self,
        _: WeakActorRef<Self>,
        mailbox: &mut MailboxReceiver<Self>,
    ) -> Result<Option<Signal<Self>>, Infallible> {
        loop {
            tokio::select! {
                signal = mailbox.recv() => return Ok(signal),
                _ = self.heartbeat.tick() => self.renew().await,
                _ = self.poll.tick() => self.refresh().await,
            }
        }
    }

    async fn on_stop(
        &mut self,
        _: WeakActorRef<Self>,
        reason: ActorStopReason,
    ) -> Result<(), Infallible> {
        // Killed means abrupt: behave like a crash and let the lease run out.
        if matches!(reason, ActorStopReason::Killed) {
            return Ok(());
        }
        // Bounded: with Redis away, shutting down must not wait for it.
        match tokio::time::timeout(self.lease, self.membership.leave(&self.me.node)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "could not leave the cluster; the lease will expire")
            }
            Err(_) => tracing::warn!("Redis did not answer the leave; the lease will expire"),
        }
        Ok(())
    }
}

impl ClusterView {
    /// Spawns the view, watched by `tasks`. It fails the node if it dies (a panic while
    /// renewing, polling or answering): this node would stop renewing its lease and freeze
    /// its ring. It is not restarted, since the ring's subscribers hold the dead one's channel.
    pub fn start(args: ClusterArgs, tasks: &Supervisor) -> ActorRef<ClusterView> {
        let view = ClusterView::spawn(args);
        let weak = view.downgrade();
        tasks.spawn(Task::ClusterView, Policy::FailNode, move || {
            let view = weak.clone();
            Some(async move {
                if let Ok(reason @ ActorStopReason::Panicked(_)) =
                    view.wait_for_shutdown_result().await
                {
                    tracing::error!(%reason, "the cluster view stopped");
                }
            })
        });
        view
    }

    async fn renew(&mut self) {
        if let Err(e) = self.membership.heartbeat(&self.me, self.lease).await {
            self.outage = true;
            // Keep serving local rooms; the next heartbeat retries.
            tracing::warn!(error = %e, "membership heartbeat failed");
        }
    }

    async fn refresh(&mut self) {
        match self.membership.live().await {
            // Our own lease missing means the registry forgot us (Redis restarted, or our
            // renewals failed): it cannot be trusted to say who else is gone either.
            Ok(members) if !members.iter().any(|m| m.node == self.me.node) => {
                self.outage = true;
                let mut nodes: Vec<_> = members.into_iter().map(|m| m.node).collect();
                nodes.extend(self.ring.borrow().nodes().cloned());
                self.publish(Ring::new(nodes));
            }
            Ok(members) => {
                let now = tokio::time::Instant::now();
                if std::mem::take(&mut self.outage) {
                    self.hold_removals_until = Some(now + self.lease);
                }
                let holding = self.hold_removals_until.is_some_and(|t| now < t);
                let me = std::iter::once(self.me.node.clone());
                let mut nodes: Vec<_> = members.into_iter().map(|m| m.node).chain(me).collect();
                if holding {
                    nodes.extend(self.ring.borrow().nodes().cloned());
                }
                self.publish(Ring::new(nodes));
            }
            Err(e) => {
                self.outage = true;
                tracing::warn!(error = %e, "membership read failed; keeping the last ring");
            }
        }
    }
}

impl ClusterView {
    fn publish(&self, ring: Ring) {
        self.ring.send_if_modified(|current| {
            let changed = *current != ring;
            if changed {
                tracing::info!(nodes = ring.len(), "cluster membership changed");
                metrics::gauge!(crate::metrics::CLUSTER_NODES).set(ring.len() as f64);
                *current = ring;
            }
            changed
        });
    }
}

/// Subscribe to this node's view of the ring.
pub struct WatchRing;

impl Message<WatchRing> for ClusterView {
    type Reply = RingWatch;

    async fn handle(&mut self, _: WatchRing, _: &mut Context<Self, RingWatch>) -> RingWatch {
        RingWatch(self.ring.subscribe())
    }
}

/// A live view of the ring.
#[derive(kameo::Reply)]
pub struct RingWatch(pub watch::Receiver<Ring>);
