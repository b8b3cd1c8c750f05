//! Identifier newtypes. Numeric ids keep frames small and hashing cheap.

use std::fmt;

use serde::{Deserialize, Serialize};

macro_rules! id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub u64);

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
