//! `Recent`: a room's in-memory tail of history, for resume without the store and for
//! deduplicating client message ids.
//!
//! It is always a contiguous suffix of the room's history. It keeps at least the newest
//! `capacity` messages and every message not yet durable, so everything older than its first
//! entry can be read from the store.

use std::collections::{HashMap, VecDeque};
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::{Duration, Instant};

use switchboard_engine::{Position, UserId};

use crate::outbound::Event;

struct Entry {
    pos: Position,
    sender: UserId,
    cmid: Arc<str>,
    event: Arc<Event>,
}

pub struct Recent {
    entries: VecDeque<Entry>,
    by_cmid: HashMap<(UserId, Arc<str>), Position>,
    capacity: usize,
    /// True while the entries hold the room's entire history.
    complete: bool,
    /// Hashes of (sender, cmid) trimmed in the last `TRIMMED_WINDOW`, oldest first, and how
    /// often each occurs: a resend whose original just left the buffer is recognised here and
    /// answered from the store instead of getting a second position.
    trimmed: VecDeque<(u64, Instant)>,
    trimmed_counts: HashMap<u64, u32>,
}

/// How long a trimmed cmid is remembered, and at most how many are.
const TRIMMED_WINDOW: Duration = Duration::from_secs(60);
const TRIMMED_MAX: usize = 100_000;

fn cmid_hash(sender: UserId, cmid: &str) -> u64 {
    let mut h = std::hash::DefaultHasher::new();
    (sender, cmid).hash(&mut h);
    h.finish()
}

/// What a resume from a position needs.
#[derive(Debug)]
pub enum Since {
    /// These events, oldest first, are everything after the position.
    Events(Vec<Arc<Event>>),
    /// Messages before the buffer must come from the store first.
    NeedStore { first_buffered: Position },
    /// The position is after the newest message: it was never assigned here.
    Unknown,
}

impl Recent {
    pub fn new(capacity: usize) -> Self {
        Recent {
            entries: VecDeque::new(),
            by_cmid: HashMap::new(),
            capacity: capacity.max(1),
            complete: true,
            trimmed: VecDeque::new(),
            trimmed_counts: HashMap::new(),
        }
    }

    /// Marks that older history exists in the store beyond the loaded entries.
    pub fn set_incomplete(&mut self) {
        self.complete = false;
    }

    pub fn head(&self) -> Option<Position> {
        self.entries.back().map(|e| e.pos)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Appends the newest message. Positions must rise.
    pub fn push(&mut self, pos: Position, sender: UserId, cmid: &str, event: Arc<Event>) {
        debug_assert!(self.head().is_none_or(|h| h < pos));
        let cmid: Arc<str> = Arc::from(cmid);
        self.by_cmid.insert((sender, cmid.clone()), pos);
        self.entries.push_back(Entry {
            pos,
            sender,
            cmid,
            event,
        });
    }

    /// Drops the oldest entries beyond capacity, but never one that is not yet durable.
    pub fn trim(&mut self, is_durable: impl Fn(Position) -> bool) {
        while self.entries.len() > self.capacity {
            let Some(front) = self.entries.front() else {
                break;
            };
            if !is_durable(front.pos) {
                break;
            }
            let e = self.entries.pop_front().expect("checked");
            let hash = cmid_hash(e.sender, &e.cmid);
            self.by_cmid.remove(&(e.sender, e.cmid));
            self.complete = false;
            self.trimmed.push_back((hash, Instant::now()));
            *self.trimmed_counts.entry(hash).or_default() += 1;
        }
        self.forget_trimmed();
    }

    /// Forgets trimmed cmids past the window or beyond the bound.
    fn forget_trimmed(&mut self) {
        let now = Instant::now();
        while let Some(&(hash, at)) = self.trimmed.front() {
            if self.trimmed.len() <= TRIMMED_MAX && now.duration_since(at) < TRIMMED_WINDOW {
                break;
            }
            self.trimmed.pop_front();
            if let Some(n) = self.trimmed_counts.get_mut(&hash) {
                *n -= 1;
                if *n == 0 {
                    self.trimmed_counts.remove(&hash);
                }
            }
        }
    }

    /// Whether a message `sender` sent with `cmid` may have left the buffer recently (false
    /// positives are possible, false negatives within the window are not).
    pub fn maybe_trimmed(&mut self, sender: UserId, cmid: &str) -> bool {
        self.forget_trimmed();
        if self.trimmed_counts.is_empty() {
            return false;
        }
        self.trimmed_counts.contains_key(&cmid_hash(sender, cmid))
    }

    /// The position of a buffered message `sender` sent with `cmid`.
    pub fn find_cmid(&self, sender: UserId, cmid: &str) -> Option<Position> {
        self.by_cmid.get(&(sender, Arc::from(cmid))).copied()
    }

    /// Everything after `from`, if the buffer alone can say.
    pub fn since(&self, from: Position) -> Since {
        let Some(head) = self.head() else {
            return if from == Position::ZERO {
                Since::Events(Vec::new())
            } else {
                Since::Unknown
            };
        };
        if from > head {
            return Since::Unknown;
        }
        let first = self.entries.front().expect("non-empty").pos;
        // Within one epoch seq is gapless, so `from` just before the first entry needs nothing
        // older.
        let adjacent = from.epoch == first.epoch && from.seq + 1 == first.seq;
        if from < first && !self.complete && !adjacent {
            return Since::NeedStore {
                first_buffered: first,
            };
        }
        let start = self.entries.partition_point(|e| e.pos <= from);
        Since::Events(
            self.entries
                .range(start..)
                .map(|e| e.event.clone())
                .collect(),
        )
    }

    /// The buffered event at `pos`.
    pub fn at(&self, pos: Position) -> Option<&Arc<Event>> {
        let i = self.entries.partition_point(|e| e.pos < pos);
        self.entries
            .get(i)
            .filter(|e| e.pos == pos)
            .map(|e| &e.event)
    }

    /// Every buffered event, oldest first.
    pub fn all(&self) -> Vec<Arc<Event>> {
        self.entries.iter().map(|e| e.event.clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_engine::protocol::{Done, ServerFrame};

    fn ev() -> Arc<Event> {
        Event::new(None, &ServerFrame::Pong(Done { rid: 0 }))
    }

    fn p(seq: u64) -> Position {
        Position::new(1, seq)
    }

    fn filled(n: u64, capacity: usize) -> Recent {
        let mut r = Recent::new(capacity);
        for seq in 1..=n {
            r.push(p(seq), UserId(seq % 3), &format!("c{seq}"), ev());
        }
        r
    }

    fn count(s: Since) -> usize {
        match s {
            Since::Events(v) => v.len(),
            other => panic!("expected events, got {other:?}"),
        }
    }

    #[test]
    fn a_complete_buffer_answers_every_resume() {
        let r = filled(5, 10);
        assert_eq!(count(r.since(Position::ZERO)), 5);
        assert_eq!(count(r.since(p(3))), 2);
        assert_eq!(count(r.since(p(5))), 0);
        assert!(matches!(r.since(p(6)), Since::Unknown));
        assert!(matches!(Recent::new(4).since(p(1)), Since::Unknown));
        assert_eq!(count(Recent::new(4).since(Position::ZERO)), 0);
    }

    #[test]
    fn trimming_keeps_capacity_and_every_undurable_entry() {
        let mut r = filled(10, 4);
        r.trim(|pos| pos <= p(3));
        assert_eq!(r.len(), 7, "entries 4..=10 are not durable yet");
        r.trim(|_| true);
        assert_eq!(r.len(), 4);
        assert!(matches!(
            r.since(p(2)),
            Since::NeedStore { first_buffered } if first_buffered == p(7)
        ));
        assert_eq!(count(r.since(p(6))), 4);
        assert_eq!(count(r.since(p(8))), 2);
    }

    #[test]
    fn cmids_are_found_until_trimmed() {
        let mut r = filled(6, 2);
        assert_eq!(r.find_cmid(UserId(1), "c4"), Some(p(4)));
        assert_eq!(r.find_cmid(UserId(2), "c4"), None, "cmids are per sender");
        r.trim(|_| true);
        assert_eq!(r.find_cmid(UserId(1), "c4"), None);
        assert_eq!(r.find_cmid(UserId(2), "c5"), Some(p(5)));
        // A trimmed cmid is still recognised as possibly sent; others are not.
        assert!(r.maybe_trimmed(UserId(1), "c4"));
        assert!(!r.maybe_trimmed(UserId(1), "c5"));
        assert!(!r.maybe_trimmed(UserId(1), "never sent"));
    }

    #[test]
    fn resume_spans_epochs() {
        let mut r = Recent::new(8);
        r.push(Position::new(1, 1), UserId(1), "a", ev());
        r.push(Position::new(1, 2), UserId(1), "b", ev());
        r.push(Position::new(2, 1), UserId(1), "c", ev());
        assert_eq!(count(r.since(Position::new(1, 1))), 2);
        assert_eq!(count(r.since(Position::new(1, 2))), 1);
    }
}
