//! The messages a room's edits, deletes, reactions and replies were checked against lately
//! ([`Targets`]), kept as they are now, so that the room decides each change alone and in order
//! (who may edit, whether a message is deleted, which reactions it holds).
//!
//! A message gets an entry the first time something targets it in this incarnation: from the
//! store, off the actor (`Work::TargetLoaded`), when it is durable; from the recent buffer when
//! it is not (a message not yet stored has had no change, or it would have an entry). Every
//! change the room sequences updates its target's entry. An entry leaves only once its last
//! change is durable, so an entry read back from the store later is complete; an entry's
//! reaction lists count against a budget, and past it the oldest durable entries go.

use std::collections::HashMap;

use switchboard_engine::Position;
use switchboard_persistence::Target;

/// Most entries kept, and most reactions (one per user and emoji) over all of them.
const ENTRIES: usize = 4096;
const WEIGHT: usize = 65_536;

struct Entry {
    target: Target,
    /// The seq (of this incarnation's epoch) of the last change to it; 0 if none.
    changed: u64,
    /// Insertion order, for eviction.
    age: u64,
}

#[derive(Default)]
pub(super) struct Targets {
    entries: HashMap<Position, Entry>,
    weight: usize,
    next_age: u64,
    /// Raised on every eviction: a store read started before one may have missed a change
    /// the evicted entry held, so its answer is read again.
    pub(super) generation: u64,
}

impl Targets {
    pub(super) fn get(&self, pos: Position) -> Option<&Target> {
        self.entries.get(&pos).map(|e| &e.target)
    }

    /// Keeps `target` for `pos` unless an entry is there already (which is newer).
    pub(super) fn insert(&mut self, pos: Position, target: Target, durable_seq: u64) {
        if self.entries.contains_key(&pos) {
            return;
        }
        self.weight += target.weight();
        self.next_age += 1;
        let entry = Entry {
            target,
            changed: 0,
            age: self.next_age,
        };
        self.entries.insert(pos, entry);
        self.evict(durable_seq);
    }

    /// Changes `pos`'s entry (sequenced at `seq`) with `f`.
    pub(super) fn change(&mut self, pos: Position, seq: u64, f: impl FnOnce(&mut Target)) {
        if let Some(e) = self.entries.get_mut(&pos) {
            self.weight -= e.target.weight();
            f(&mut e.target);
            self.weight += e.target.weight();
            e.changed = seq;
        }
    }

    /// Drops the oldest entries whose changes are all durable while over a bound.
    fn evict(&mut self, durable_seq: u64) {
        while self.entries.len() > ENTRIES || self.weight > WEIGHT {
            let oldest = self
                .entries
                .iter()
                .filter(|(_, e)| e.changed <= durable_seq)
                .min_by_key(|(_, e)| e.age)
                .map(|(pos, _)| *pos);
            let Some(pos) = oldest else { return };
            if let Some(e) = self.entries.remove(&pos) {
                self.weight -= e.target.weight();
            }
            self.generation += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_engine::UserId;

    fn p(seq: u64) -> Position {
        Position::new(1, seq)
    }

    #[test]
    fn entries_leave_only_once_their_changes_are_durable() {
        let mut t = Targets::default();
        t.insert(p(1), Target::default(), 0);
        t.change(p(1), 5, |target| {
            target.add("👍".into(), UserId(2));
        });
        for seq in 2..=ENTRIES as u64 + 10 {
            t.insert(p(seq), Target::default(), 4);
        }
        assert!(t.get(p(1)).is_some(), "its change (seq 5) is not durable");
        assert!(t.entries.len() <= ENTRIES + 1);
        assert!(t.generation > 0);
        t.insert(p(100_000), Target::default(), 5);
        assert!(t.get(p(1)).is_none(), "durable now, and the oldest");
        let first = t.get(p(100_000));
        assert!(first.is_some());
        // A second load of a kept entry does not replace it.
        t.change(p(100_000), 6, |target| target.deleted = true);
        t.insert(p(100_000), Target::default(), 5);
        assert!(t.get(p(100_000)).unwrap().deleted);
    }
}
