//! Membership for a single process: the embedded default, and tests.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use switchboard_engine::ring::NodeId;

use super::{ClusterError, Member, Membership};

/// Leases in a map. The mutex guards map operations only, never an `.await`.
#[derive(Default)]
pub struct LocalMembership {
    members: Mutex<BTreeMap<NodeId, (String, Instant)>>,
}

#[async_trait]
impl Membership for LocalMembership {
    async fn heartbeat(&self, member: &Member, lease: Duration) -> Result<(), ClusterError> {
        self.members
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(
                member.node.clone(),
                (member.addr.clone(), Instant::now() + lease),
            );
        Ok(())
    }

    async fn leave(&self, node: &NodeId) -> Result<(), ClusterError> {
        self.members
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(node);
        Ok(())
    }

    async fn live(&self) -> Result<Vec<Member>, ClusterError> {
        let now = Instant::now();
        let mut members = self.members.lock().unwrap_or_else(|p| p.into_inner());
        members.retain(|_, (_, until)| *until > now);
        Ok(members
            .iter()
            .map(|(node, (addr, _))| Member {
                node: node.clone(),
                addr: addr.clone(),
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn local_membership_passes_the_conformance_cases() {
        super::super::conformance::run_all(&super::LocalMembership::default()).await;
    }
}
