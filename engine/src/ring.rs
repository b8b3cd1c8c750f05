//! `Ring`: which node owns a room, by rendezvous (highest-random-weight) hashing over the live
//! node ids.
//!
//! Every node computes the same owner from the same set of ids, whatever order it learned them
//! in. When a node leaves, exactly the rooms it owned move (each to its next-highest node); when
//! one joins, it takes about 1/N of the rooms and no other room moves. The hash is defined here
//! (FNV-1a over the id, splitmix64 to mix), not taken from `std`, so every build and every
//! version of a node agrees.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::{RoomId, UserId};

/// A node's stable identity in the cluster, e.g. `node-3` or a task id.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct NodeId(pub String);

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The live nodes, ready to answer "who owns this room?".
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ring {
    /// Sorted by id, each with its id's hash.
    nodes: Vec<(NodeId, u64)>,
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

impl Ring {
    pub fn new(nodes: impl IntoIterator<Item = NodeId>) -> Ring {
        let mut nodes: Vec<_> = nodes
            .into_iter()
            .map(|n| {
                let h = fnv1a(n.0.as_bytes());
                (n, h)
            })
            .collect();
        nodes.sort();
        nodes.dedup_by(|a, b| a.0 == b.0);
        Ring { nodes }
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn nodes(&self) -> impl Iterator<Item = &NodeId> {
        self.nodes.iter().map(|(n, _)| n)
    }

    pub fn contains(&self, node: &NodeId) -> bool {
        self.nodes.iter().any(|(n, _)| n == node)
    }

    /// The node that owns `room`; `None` only when the ring is empty.
    pub fn owner(&self, room: RoomId) -> Option<&NodeId> {
        self.owner_of(room.0)
    }

    /// The home node of `user`: where that user's presence is kept. Hashed apart from room
    /// ids, so user 7 and room 7 need not share a node.
    pub fn home(&self, user: UserId) -> Option<&NodeId> {
        self.owner_of(user.0 ^ 0x7573_6572_0000_0000)
    }

    fn owner_of(&self, key: u64) -> Option<&NodeId> {
        let key = splitmix64(key);
        self.nodes
            .iter()
            .max_by_key(|(id, h)| (splitmix64(h ^ key), std::cmp::Reverse(id)))
            .map(|(id, _)| id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ring(names: &[String]) -> Ring {
        Ring::new(names.iter().map(|n| NodeId(n.clone())))
    }

    fn node_names() -> impl Strategy<Value = Vec<String>> {
        proptest::collection::hash_set("[a-z0-9-]{1,12}", 2..12)
            .prop_map(|s| s.into_iter().collect())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn every_order_of_learning_the_nodes_gives_the_same_owners(mut names in node_names(), rooms in proptest::collection::vec(any::<u64>(), 1..200)) {
            let a = ring(&names);
            names.reverse();
            let b = ring(&names);
            for r in rooms {
                prop_assert_eq!(a.owner(RoomId(r)), b.owner(RoomId(r)));
            }
        }

        #[test]
        fn a_leaving_node_moves_exactly_its_own_rooms(names in node_names(), leaver in any::<prop::sample::Index>()) {
            let before = ring(&names);
            let gone = names[leaver.index(names.len())].clone();
            let rest: Vec<String> = names.iter().filter(|n| **n != gone).cloned().collect();
            let after = ring(&rest);
            for r in 0..2000u64 {
                let (b, a) = (before.owner(RoomId(r)).unwrap(), after.owner(RoomId(r)).unwrap());
                if b.0 == gone {
                    prop_assert_ne!(&a.0, &gone);
                } else {
                    prop_assert_eq!(a, b, "room {} moved though its owner stayed", r);
                }
            }
        }

        #[test]
        fn a_joining_node_takes_rooms_only_for_itself(names in node_names(), newcomer in "[A-Z]{3,8}") {
            let before = ring(&names);
            let mut more = names.clone();
            more.push(newcomer.clone());
            let after = ring(&more);
            for r in 0..2000u64 {
                let (b, a) = (before.owner(RoomId(r)).unwrap(), after.owner(RoomId(r)).unwrap());
                prop_assert!(a == b || a.0 == newcomer, "room {} moved between old nodes", r);
            }
        }
    }

    #[test]
    fn about_one_nth_of_the_rooms_move_when_a_node_joins() {
        let names: Vec<String> = (0..5).map(|i| format!("node-{i}")).collect();
        let before = ring(&names);
        let mut more = names.clone();
        more.push("node-5".into());
        let after = ring(&more);
        let rooms = 60_000u64;
        let moved = (0..rooms)
            .filter(|r| before.owner(RoomId(*r)) != after.owner(RoomId(*r)))
            .count() as f64;
        let share = moved / rooms as f64;
        assert!(
            (0.14..0.19).contains(&share),
            "{share} of rooms moved, expected ~1/6"
        );
    }

    #[test]
    fn rooms_spread_evenly() {
        let names: Vec<String> = (0..8).map(|i| format!("10.0.0.{i}:8080")).collect();
        let r = ring(&names);
        let mut counts = std::collections::HashMap::new();
        for room in 0..80_000u64 {
            *counts
                .entry(r.owner(RoomId(room)).unwrap().clone())
                .or_insert(0) += 1;
        }
        for (node, n) in counts {
            assert!(
                (8_500..11_500).contains(&n),
                "{node} owns {n} of 80,000 rooms"
            );
        }
        assert_eq!(Ring::default().owner(RoomId(1)), None);
    }
}
