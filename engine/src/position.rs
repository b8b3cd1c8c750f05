//! `Position`: where a message sits in its room's history.
//!
//! The room's owner assigns positions. Within one epoch `seq` starts at 1 and is gapless; a new
//! owner (a restart, a move to another node) starts a higher epoch, so positions never collide and
//! compare lexicographically: first by epoch, then by seq.

use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub struct Position {
    pub epoch: u64,
    pub seq: u64,
}

impl Position {
    /// Before every message of every epoch: resuming from here replays the whole history.
    pub const ZERO: Position = Position { epoch: 0, seq: 0 };

    pub const fn new(epoch: u64, seq: u64) -> Self {
        Position { epoch, seq }
    }

    /// Whether a room could assign this position: epoch and seq are stored as signed 64-bit
    /// integers, so neither is above [`crate::ids::MAX_STORED`].
    pub const fn in_range(self) -> bool {
        self.epoch <= crate::ids::MAX_STORED && self.seq <= crate::ids::MAX_STORED
    }

    /// The position after this one in the same epoch.
    pub const fn next(self) -> Self {
        Position {
            epoch: self.epoch,
            seq: self.seq + 1,
        }
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.epoch, self.seq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn order_is_epoch_then_seq(a in 0u64..5, b in 0u64..1000, c in 0u64..5, d in 0u64..1000) {
            let (p, q) = (Position::new(a, b), Position::new(c, d));
            prop_assert_eq!(p.cmp(&q), (a, b).cmp(&(c, d)));
        }
    }

    #[test]
    fn a_new_epoch_sorts_after_any_seq_of_the_old() {
        assert!(Position::new(2, 1) > Position::new(1, u64::MAX));
        assert_eq!(Position::new(3, 9).next(), Position::new(3, 10));
    }
}
