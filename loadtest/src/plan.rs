//! The plan of a run: which rooms exist and who is in them, who sends, who watches whom, and
//! where each socket runs (worker process, source address, node). Deterministic for a scenario.

use crate::scenario::{RoomSize, Scenario};

pub struct Plan {
    /// Members (socket indexes) of each room.
    pub rooms: Vec<Vec<u32>>,
    /// Rooms (indexes) of each socket, its first room first.
    pub socket_rooms: Vec<Vec<u32>>,
    /// Whether each socket sends.
    pub senders: Vec<bool>,
}

/// A small deterministic generator: the plan must not change between the run and its floor.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

impl Plan {
    pub fn new(s: &Scenario) -> Plan {
        let n = s.sockets;
        let total = n * s.rooms_per_socket;
        let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
        let mut size = || match &s.room_size {
            RoomSize::Fixed { size } => *size,
            RoomSize::Uniform { min, max } => min + (rng.next() as usize) % (max - min + 1),
            RoomSize::Weighted { sizes } => {
                let sum: u64 = sizes.iter().map(|(_, w)| u64::from(*w)).sum();
                let mut pick = rng.next() % sum;
                sizes
                    .iter()
                    .find(|(_, w)| {
                        let hit = pick < u64::from(*w);
                        pick = pick.saturating_sub(u64::from(*w));
                        hit
                    })
                    .map_or(1, |(s, _)| *s)
            }
        };
        // Memberships m = 0.. belong to socket m % n; rooms are consecutive runs of at most n
        // memberships, so no socket is in one room twice.
        let mut rooms = Vec::new();
        let mut socket_rooms = vec![Vec::with_capacity(s.rooms_per_socket); n];
        let mut m = 0;
        while m < total {
            let len = size().min(n).min(total - m);
            let room = rooms.len() as u32;
            let members: Vec<u32> = (m..m + len).map(|m| (m % n) as u32).collect();
            for &member in &members {
                socket_rooms[member as usize].push(room);
            }
            rooms.push(members);
            m += len;
        }
        let count = (n as f64 * s.sender_share).round() as usize;
        let count = if s.sender_share > 0.0 {
            count.max(1)
        } else {
            0
        };
        let mut senders = vec![false; n];
        for k in 0..count {
            senders[k * n / count] = true;
        }
        Plan {
            rooms,
            socket_rooms,
            senders,
        }
    }

    /// Up to `k` other members of the socket's first room, the ones after it.
    pub fn watched(&self, socket: usize, k: usize) -> Vec<u32> {
        let members = &self.rooms[self.socket_rooms[socket][0] as usize];
        let at = members
            .iter()
            .position(|&m| m as usize == socket)
            .unwrap_or(0);
        (1..members.len())
            .map(|d| members[(at + d) % members.len()])
            .take(k)
            .collect()
    }

    /// Deliveries expected for `sent` messages into each room: every connected member
    /// receives each one, the sender included (its own echo); `failed` sockets never connected.
    pub fn expected(&self, sent_per_room: &[u64], failed: &std::collections::HashSet<u32>) -> u64 {
        sent_per_room
            .iter()
            .zip(&self.rooms)
            .map(|(sent, members)| {
                sent * members.iter().filter(|m| !failed.contains(m)).count() as u64
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_socket_is_in_its_rooms_once() {
        let s = Scenario {
            sockets: 1_000,
            rooms_per_socket: 2,
            room_size: RoomSize::Uniform { min: 3, max: 70 },
            ..Scenario::default()
        };
        let plan = Plan::new(&s);
        assert!(
            plan.socket_rooms
                .iter()
                .all(|r| r.len() == 2 && r[0] != r[1])
        );
        let members: usize = plan.rooms.iter().map(Vec::len).sum();
        assert_eq!(members, 2_000);
        assert_eq!(plan.senders.iter().filter(|s| **s).count(), 10);
        assert_eq!(plan.watched(0, 2).len(), 2);
        assert!(!plan.watched(5, 3).contains(&5));
    }
}
