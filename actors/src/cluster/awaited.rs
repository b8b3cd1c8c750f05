//! `Awaited`: the commands this node forwarded to a room's owner whose reply has not come back.
//!
//! Each forwarded `join`, `leave`, `invite` and `send` is remembered here under a token that
//! travels with it and comes back on its reply. The table makes "exactly one reply per command"
//! hold whatever happens to the other node: the reply that arrives takes the entry and goes to
//! the client; an entry whose deadline passes, whose target left the ring, or whose batch could
//! not be published is answered 4001 `busy` instead; a reply that finds no entry is dropped.
//! Bounded: when full a command is not forwarded but answered `busy` at once.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use switchboard_engine::ring::NodeId;
use switchboard_engine::{ConnId, ErrorCode, RoomId};
use tokio::time::Instant;

use super::link::error;
use crate::metrics as names;
use crate::outbound::Outbound;

/// What a `busy` for an unanswered command says.
const NO_ANSWER: &str = "no answer from the room's node in time; retry (a send with the same cmid)";

/// One forwarded command waiting for its reply.
pub(super) struct Entry {
    /// The node it was sent to.
    pub(super) node: NodeId,
    pub(super) out: Outbound,
    pub(super) rid: u64,
    pub(super) room: RoomId,
    pub(super) join: bool,
}

impl Entry {
    /// Tells the client to retry: the reply will not come, or will come too late to count.
    pub(super) fn answer_busy(&self) {
        metrics::counter!(names::FORWARD_UNANSWERED).increment(1);
        self.out.frame(&error(self.rid, ErrorCode::Busy, NO_ANSWER));
    }
}

#[derive(Default)]
struct Table {
    entries: HashMap<u64, Entry>,
    /// Tokens in the order they were added; with one timeout, deadlines rise in that order.
    deadlines: VecDeque<(Instant, u64)>,
}

pub(super) struct Awaited {
    timeout: Duration,
    max: usize,
    table: Mutex<Table>,
}

impl Awaited {
    pub(super) fn new(timeout: Duration, max: usize) -> Awaited {
        Awaited {
            timeout,
            max,
            table: Mutex::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Remembers `entry` under `token` and runs `send` (which queues the command) under the
    /// table's lock, so a late `joined` for the same connection and room is judged against
    /// every join queued before it (see [`Self::late_join_unsubscribes`]). When the table is
    /// full or `send` fails nothing is remembered and the result is false.
    pub(super) fn insert(&self, token: u64, entry: Entry, send: impl FnOnce() -> bool) -> bool {
        let mut t = self.lock();
        if t.entries.len() >= self.max {
            return false;
        }
        if !send() {
            return false;
        }
        let Table { entries, deadlines } = &mut *t;
        deadlines.push_back((Instant::now() + self.timeout, token));
        entries.insert(token, entry);
        // Answered entries leave their deadline behind until it passes; under a high command
        // rate those would pile up, so they are dropped once they outnumber the bound.
        if deadlines.len() > 2 * self.max {
            deadlines.retain(|(_, token)| entries.contains_key(token));
        }
        true
    }

    /// The entry a reply with `token` for `conn` answers, if it is still awaited. A token of a
    /// previous run of this node (same number, another connection) answers nothing.
    pub(super) fn take(&self, token: u64, conn: ConnId) -> Option<Entry> {
        let mut t = self.lock();
        match t.entries.get(&token) {
            Some(e) if e.out.conn() == conn => t.entries.remove(&token),
            _ => None,
        }
    }

    /// A `joined` that came too late (its client was told `busy`) left `conn` subscribed at
    /// the owner. Unless another join of that connection to `room` is on its way (whose reply
    /// subscribes it again), `unsubscribe` queues the undo; under the lock, so no join can
    /// be queued between this check and the undo.
    pub(super) fn late_join_unsubscribes(
        &self,
        conn: ConnId,
        room: RoomId,
        unsubscribe: impl FnOnce(),
    ) {
        let t = self.lock();
        let rejoining = t
            .entries
            .values()
            .any(|e| e.join && e.room == room && e.out.conn() == conn);
        if !rejoining {
            unsubscribe();
        }
    }

    /// Entries past their deadline, removed.
    pub(super) fn expired(&self) -> Vec<Entry> {
        let now = Instant::now();
        let mut t = self.lock();
        let mut gone = Vec::new();
        while let Some(&(deadline, token)) = t.deadlines.front() {
            if deadline > now {
                break;
            }
            t.deadlines.pop_front();
            gone.extend(t.entries.remove(&token));
        }
        gone
    }

    /// The entries of `tokens` still awaited, removed (their commands were never sent).
    pub(super) fn remove(&self, tokens: &[u64]) -> Vec<Entry> {
        let mut t = self.lock();
        tokens
            .iter()
            .filter_map(|token| t.entries.remove(token))
            .collect()
    }

    /// Entries `lost` says will get no reply, removed (their deadlines lapse harmlessly).
    pub(super) fn remove_where(&self, lost: impl Fn(u64, &Entry) -> bool) -> Vec<Entry> {
        let mut t = self.lock();
        let tokens: Vec<u64> = t
            .entries
            .iter()
            .filter(|(token, e)| lost(**token, e))
            .map(|(token, _)| *token)
            .collect();
        tokens
            .into_iter()
            .filter_map(|token| t.entries.remove(&token))
            .collect()
    }

    /// How often [`Self::expired`] should be asked: a tenth of the timeout, within 10–100 ms.
    pub(super) fn sweep_every(&self) -> Duration {
        (self.timeout / 10).clamp(Duration::from_millis(10), Duration::from_millis(100))
    }
}

#[cfg(test)]
mod tests {
    use switchboard_engine::Codec;

    use super::*;
    use crate::outbound::{self, OutboundReceiver};

    fn entry(conn: u64, rid: u64) -> (Entry, OutboundReceiver) {
        let (out, rx) = outbound::channel(ConnId(conn), Codec::Json, 16, 1 << 20);
        let e = Entry {
            node: NodeId("b".into()),
            out,
            rid,
            room: RoomId(7),
            join: rid.is_multiple_of(2),
        };
        (e, rx)
    }

    #[tokio::test]
    async fn each_entry_is_answered_once_by_its_reply_or_its_deadline() {
        let awaited = Awaited::new(Duration::from_millis(200), 3);
        let mut rxs = Vec::new();
        for token in 1..=3 {
            let (e, rx) = entry(token, token * 10);
            assert!(awaited.insert(token, e, || true));
            rxs.push(rx);
        }
        let (fourth, _rx) = entry(4, 40);
        assert!(!awaited.insert(4, fourth, || true), "full");
        let (refused, _rx) = entry(5, 50);
        assert!(!awaited.insert(5, refused, || false), "not sent, not kept");

        assert!(
            awaited.take(1, ConnId(9)).is_none(),
            "another connection's token"
        );
        assert_eq!(awaited.take(1, ConnId(1)).map(|e| e.rid), Some(10));
        assert!(awaited.take(1, ConnId(1)).is_none(), "answered once");

        assert!(awaited.expired().is_empty());
        tokio::time::sleep(Duration::from_millis(250)).await;
        let late: Vec<u64> = awaited.expired().iter().map(|e| e.rid).collect();
        assert_eq!(late, vec![20, 30]);
        assert!(
            awaited.take(2, ConnId(2)).is_none(),
            "a reply after the deadline finds nothing"
        );
    }

    #[test]
    fn a_late_joined_is_undone_unless_the_connection_joins_again() {
        let awaited = Awaited::new(Duration::from_secs(5), 8);
        let mut undone = 0;
        awaited.late_join_unsubscribes(ConnId(2), RoomId(7), || undone += 1);
        assert_eq!(undone, 1);
        let (rejoin, _rx) = entry(2, 20);
        assert!(awaited.insert(1, rejoin, || true));
        awaited.late_join_unsubscribes(ConnId(2), RoomId(7), || undone += 1);
        assert_eq!(undone, 1, "the join on its way subscribes it again");
    }

    #[test]
    fn answered_deadlines_do_not_pile_up() {
        let awaited = Awaited::new(Duration::from_secs(5), 4);
        for token in 1..=100 {
            let (e, _rx) = entry(token, token);
            assert!(awaited.insert(token, e, || true));
            awaited.take(token, ConnId(token));
        }
        assert!(awaited.lock().deadlines.len() <= 8);
    }
}
