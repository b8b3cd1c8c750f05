//! Edits, deletes, reactions and replies as both stores keep them (migration 10).
//!
//! Each is a row of `messages` like any entry of a room's sequence (so a resume read from the
//! store replays it), told apart by `kind`; `ref_epoch`/`ref_seq` name the message it changes,
//! or, on a message, the one it answers. Storing a change also applies it to its target in the
//! same transaction: an edit replaces the target's `text` and sets `edited`; a delete empties
//! `text` and `attachments`, sets `deleted`, drops its reactions and releases its uploads to
//! the sweep; a reaction is a row of `reactions` (one per message, emoji and user); a pin sets
//! the target's `pinned_ts` (the pin's `ts`), an unpin clears it (migration 14). Applying is
//! idempotent, so a retried batch changes nothing twice.
//!
//! A client's history leaves the change rows out and shows each message as it is now (edited
//! mark, tombstone, reaction counts, the quote of what it answers); search finds only the
//! current text of messages not deleted.

use switchboard_engine::domain::{Change, ChatMessage, Quote, ReactionCount};
use switchboard_engine::{Position, RoomId, UserId};

/// `messages.kind`.
pub(super) const MESSAGE: i16 = 0;
const EDIT: i16 = 1;
const DELETE: i16 = 2;
const REACT: i16 = 3;
const UNREACT: i16 = 4;
const PIN: i16 = 5;
const UNPIN: i16 = 6;

/// The migration that adds pins (both stores): when the message was pinned, NULL when not.
pub(super) const PINS_MIGRATION: &str = "ALTER TABLE messages ADD COLUMN pinned_ts BIGINT;";

/// The row's `kind`, what `ref_epoch`/`ref_seq` hold, and its `text` column.
pub(super) fn columns(m: &ChatMessage) -> (i16, Option<Position>, &str) {
    match m.change.as_deref() {
        None => (MESSAGE, m.reply_to.as_ref().map(|q| q.pos), &m.text),
        Some(Change::Edit { target }) => (EDIT, Some(*target), &m.text),
        Some(Change::Delete { target }) => (DELETE, Some(*target), ""),
        Some(Change::React {
            target,
            emoji,
            removed,
        }) => (if *removed { UNREACT } else { REACT }, Some(*target), emoji),
        Some(Change::Pin { target, removed }) => {
            (if *removed { UNPIN } else { PIN }, Some(*target), "")
        }
    }
}

/// Sets `m`'s change (or the position it replies to) from its row's `kind`, reference and
/// text, as `columns` wrote them. The quote of a reply is filled by [`quote`] afterwards.
pub(super) fn restore(m: &mut ChatMessage, kind: i16, reference: Option<Position>) {
    let Some(target) = reference else {
        return;
    };
    m.change = match kind {
        EDIT => Some(Box::new(Change::Edit { target })),
        DELETE => Some(Box::new(Change::Delete { target })),
        REACT | UNREACT => Some(Box::new(Change::React {
            target,
            emoji: std::mem::take(&mut m.text),
            removed: kind == UNREACT,
        })),
        PIN | UNPIN => Some(Box::new(Change::Pin {
            target,
            removed: kind == UNPIN,
        })),
        _ => {
            m.reply_to = Some(Box::new(Quote {
                pos: target,
                ..Quote::default()
            }));
            None
        }
    };
}

/// The messages (room, position) a page's replies quote.
pub(super) fn quoted(page: &[ChatMessage]) -> Vec<(RoomId, Position)> {
    let mut positions: Vec<(RoomId, Position)> = page
        .iter()
        .filter_map(|m| m.reply_to.as_ref().map(|q| (m.room, q.pos)))
        .collect();
    positions.sort_unstable();
    positions.dedup();
    positions
}

/// Fills each reply's quote from the quoted messages as they are now (`found`: position,
/// sender, text, deleted, each with its room). A quoted message that is not found shows as
/// deleted.
pub(super) fn quote(page: &mut [ChatMessage], found: &[(RoomId, Position, UserId, String, bool)]) {
    for m in page {
        let room = m.room;
        if let Some(q) = &mut m.reply_to {
            **q = match found.iter().find(|f| f.0 == room && f.1 == q.pos) {
                Some((_, pos, sender, text, deleted)) => Quote::of(*pos, *sender, text, *deleted),
                None => Quote::of(q.pos, UserId(0), "", true),
            };
        }
    }
}

/// Puts a page back in the order `order` lists its positions (after decorating it in
/// position order, as the decorating queries read it).
pub(super) fn reorder(page: &mut [ChatMessage], order: &[Position]) {
    page.sort_by_key(|m| order.iter().position(|p| *p == m.pos));
}

/// Sets each message's reactions from rows of (position, emoji, count, mine), in the order
/// the rows come (each emoji's first use).
pub(super) fn react(page: &mut [ChatMessage], rows: Vec<(Position, String, u32, bool)>) {
    for (pos, emoji, count, mine) in rows {
        if let Some(m) = page.iter_mut().find(|m| m.pos == pos) {
            m.reactions.push(ReactionCount { emoji, count, mine });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_round_trips_through_its_columns() {
        let target = Position::new(3, 9);
        let changes = [
            None,
            Some(Change::Edit { target }),
            Some(Change::Delete { target }),
            Some(Change::React {
                target,
                emoji: "👍".into(),
                removed: false,
            }),
            Some(Change::React {
                target,
                emoji: "👍".into(),
                removed: true,
            }),
            Some(Change::Pin {
                target,
                removed: false,
            }),
            Some(Change::Pin {
                target,
                removed: true,
            }),
        ];
        for change in changes {
            let m = ChatMessage {
                text: if matches!(change, Some(Change::Edit { .. })) {
                    "new".into()
                } else {
                    String::new()
                },
                change: change.clone().map(Box::new),
                reply_to: change.is_none().then(|| {
                    Box::new(Quote {
                        pos: target,
                        ..Quote::default()
                    })
                }),
                ..ChatMessage::default()
            };
            let (kind, reference, text) = columns(&m);
            let mut back = ChatMessage {
                text: text.to_owned(),
                ..ChatMessage::default()
            };
            restore(&mut back, kind, reference);
            assert_eq!(back.change, m.change);
            assert_eq!(back.reply_to, m.reply_to);
            assert_eq!(back.text, m.text);
        }
    }
}
