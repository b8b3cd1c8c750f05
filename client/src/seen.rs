//! `Seen`: where each recent message was first handed out, by (room, sender, `cmid`), bounded.

use std::collections::{HashMap, VecDeque};

use switchboard_engine::domain::ChatMessage;
use switchboard_engine::{Position, RoomId, UserId};

/// Messages remembered; the oldest are forgotten first. A lost copy comes again within
/// seconds of its node's crash, far fewer messages than this in any one client's rooms.
pub const REMEMBERED: usize = 4096;

type Key = (RoomId, UserId, String);

pub(crate) struct Seen {
    first: HashMap<Key, Position>,
    order: VecDeque<Key>,
    cap: usize,
}

impl Seen {
    pub fn new(cap: usize) -> Seen {
        Seen {
            first: HashMap::new(),
            order: VecDeque::new(),
            cap,
        }
    }

    /// Records `m` unless its key is known: the first position stays.
    pub fn note(&mut self, m: &ChatMessage) {
        let key = (m.room, m.sender, m.cmid.clone());
        if self.first.contains_key(&key) {
            return;
        }
        if self.order.len() == self.cap
            && let Some(old) = self.order.pop_front()
        {
            self.first.remove(&old);
        }
        self.first.insert(key.clone(), m.pos);
        self.order.push_back(key);
    }

    /// Where a message with `m`'s key was first seen.
    pub fn first(&self, m: &ChatMessage) -> Option<Position> {
        self.first.get(&(m.room, m.sender, m.cmid.clone())).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(cmid: &str, epoch: u64, seq: u64) -> ChatMessage {
        ChatMessage {
            room: RoomId(1),
            pos: Position::new(epoch, seq),
            sender: UserId(2),
            cmid: cmid.into(),
            text: "t".into(),
            ts: 0,
            ..ChatMessage::default()
        }
    }

    #[test]
    fn the_first_position_is_kept_and_the_oldest_forgotten() {
        let mut seen = Seen::new(2);
        seen.note(&msg("a", 1, 1));
        seen.note(&msg("a", 2, 1));
        assert_eq!(seen.first(&msg("a", 2, 1)), Some(Position::new(1, 1)));
        seen.note(&msg("b", 1, 2));
        seen.note(&msg("c", 1, 3));
        assert_eq!(
            seen.first(&msg("a", 2, 1)),
            None,
            "forgotten beyond the bound"
        );
        assert_eq!(seen.first(&msg("c", 9, 9)), Some(Position::new(1, 3)));
    }
}
