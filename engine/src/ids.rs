//! Identifier newtypes. Numeric ids keep frames small and hashing cheap.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The largest id, epoch or seq a store can hold (`i64::MAX`: SQLite and Postgres keep them as
/// signed 64-bit integers). Larger values on the wire name nothing that exists.
pub const MAX_STORED: u64 = i64::MAX as u64;

macro_rules! id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub u64);

        impl $name {
            /// Whether an entity can have this id: stores keep ids as signed 64-bit
            /// integers, so none is above `MAX_STORED`.
            pub const fn can_exist(self) -> bool {
                self.0 <= MAX_STORED
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

id!(
    /// A user account, the same across all of that user's devices.
    UserId
);
id!(
    /// A room: a public or private group, or a direct conversation.
    RoomId
);
id!(
    /// One live WebSocket connection on this node.
    ConnId
);
id!(
    /// An uploaded file (an attachment), chosen at random by the node that made its upload
    /// slot, so attachment ids say nothing about how many exist.
    AttachmentId
);
