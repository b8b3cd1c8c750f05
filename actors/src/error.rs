//! `Refused`: why the actors did not do what a command asked. It is the actors' own type; the
//! wire code and message are chosen in one place ([`Refused::frame`]), which also counts every
//! error sent and logs every store failure, wherever the command came from.

use std::fmt;

use switchboard_engine::ErrorCode;
use switchboard_engine::protocol::{self as p, ServerFrame};
use switchboard_persistence::StoreError;

use crate::attachments::AttachmentRefused;
use crate::refusal::{self, Refusal};

/// Why a command gets `busy` (4001). The client's answer is the same for each: retry, a send
/// with the same `cmid`. The reason is for operators and tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Busy {
    /// The room is moving to another node, or stopped while the command was on its way.
    RoomMoving,
    /// The write-behind queue is full, or the store did not answer a check in time.
    StorageBehind,
    /// The room's mailbox, or a queue on the way to it, is full.
    Overloaded,
    /// The store or another node did not answer within the command's deadline.
    NoAnswer,
    /// The connection has its most commands in flight already.
    TooManyPending,
}

impl Busy {
    fn message(self) -> &'static str {
        match self {
            Busy::RoomMoving => "busy: room is moving; retry (a send with the same cmid)",
            Busy::StorageBehind => "busy: storage is behind; retry (a send with the same cmid)",
            Busy::Overloaded => "busy: room is overloaded; retry (a send with the same cmid)",
            Busy::NoAnswer => "busy: no answer in time; retry (a send with the same cmid)",
            Busy::TooManyPending => "busy: too many commands in flight; wait for their replies",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Refused {
    #[error("{}", .0.message())]
    Busy(Busy),
    #[error("not a member of this room")]
    NotMember,
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("{0}")]
    NotFound(&'static str),
    #[error("join the room first")]
    NotJoined,
    #[error("{0}")]
    Invalid(&'static str),
    #[error("too many commands; slow down")]
    RateLimited,
    /// A frame that does not decode, with the decoder's words.
    #[error("{0}")]
    BadFrame(String),
    #[error("storage error")]
    Store(StoreError),
    #[error("server shutting down; reconnect")]
    ShuttingDown,
    /// A code chosen by a layer below the actors (token checks, queries).
    #[error("{}", .0.describe())]
    Code(ErrorCode),
    /// An upload slot or a message's attachments refused by the node's media, with its code
    /// and a message naming the limit or the attachment.
    #[error("{0}")]
    Attachment(AttachmentRefused),
}

impl From<StoreError> for Refused {
    /// A saturated store (every pooled connection in use) has not failed: `busy`, and the
    /// client tries again later.
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Busy => Refused::Busy(Busy::StorageBehind),
            e => Refused::Store(e),
        }
    }
}

impl From<AttachmentRefused> for Refused {
    /// `busy` keeps its usual message (retry with the same `cmid`).
    fn from(a: AttachmentRefused) -> Self {
        match a.code {
            ErrorCode::Busy => Refused::Busy(Busy::StorageBehind),
            ErrorCode::ShuttingDown => Refused::ShuttingDown,
            _ => Refused::Attachment(a),
        }
    }
}

impl From<ErrorCode> for Refused {
    fn from(code: ErrorCode) -> Self {
        match code {
            ErrorCode::Busy => Refused::Busy(Busy::NoAnswer),
            ErrorCode::ShuttingDown => Refused::ShuttingDown,
            code => Refused::Code(code),
        }
    }
}

impl Refused {
    /// The wire code.
    pub fn code(&self) -> ErrorCode {
        match self {
            Refused::Busy(_) => ErrorCode::Busy,
            Refused::NotMember | Refused::Forbidden(_) => ErrorCode::Forbidden,
            Refused::NotFound(_) => ErrorCode::NotFound,
            Refused::NotJoined => ErrorCode::NotJoined,
            Refused::Invalid(_) => ErrorCode::InvalidArgument,
            Refused::RateLimited => ErrorCode::RateLimited,
            Refused::BadFrame(_) => ErrorCode::BadFrame,
            Refused::Store(_) => ErrorCode::Internal,
            Refused::ShuttingDown => ErrorCode::ShuttingDown,
            Refused::Code(code) => *code,
            Refused::Attachment(a) => a.code,
        }
    }

    /// The error frame answering command `rid`. Counts it, and logs a store failure (at a
    /// bounded rate), so no store error goes unseen whichever path it took.
    pub fn frame(&self, rid: Option<u64>) -> ServerFrame {
        let code = self.code();
        crate::metrics::hot().error(code);
        if let Refused::Store(e) = self {
            store_failed(format_args!("command {rid:?} failed: {e}"));
        }
        ServerFrame::Error(p::Error {
            rid,
            code,
            message: self.to_string(),
        })
    }
}

impl From<Refused> for ErrorCode {
    fn from(r: Refused) -> Self {
        r.code()
    }
}

/// A command (WebSocket or HTTP) failed because the store did: see [`store_failed`]. A
/// saturated store (every pooled connection in use) has not failed: 4001 `busy`, as when a
/// read outlasts `store_timeout`, and the client tries again later.
pub fn internal(e: StoreError) -> ErrorCode {
    if let StoreError::Busy = e {
        return ErrorCode::Busy;
    }
    store_failed(format_args!("command failed: {e}"));
    ErrorCode::Internal
}

/// A store call failed: counted, and logged at a bounded rate (a store outage fails every
/// call that reads it, and must not flood the log). `detail` says what was asked and the error.
pub fn store_failed(detail: fmt::Arguments<'_>) {
    metrics::counter!(crate::metrics::STORE_ERRORS).increment(1);
    refusal::note(Refusal::StoreError, detail);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_busy_reason_tells_the_client_to_retry_with_the_same_code() {
        // (`TooManyPending` is about the connection, not one command to send again.)
        for why in [
            Busy::RoomMoving,
            Busy::StorageBehind,
            Busy::Overloaded,
            Busy::NoAnswer,
        ] {
            let r = Refused::Busy(why);
            assert_eq!(r.code(), ErrorCode::Busy);
            assert!(r.to_string().contains("same cmid"), "{r}");
        }
    }

    #[test]
    fn a_store_failure_is_internal_and_says_nothing_of_the_store() {
        let r = Refused::Store(StoreError::Backend("password=hunter2".into()));
        assert_eq!(r.code(), ErrorCode::Internal);
        assert_eq!(r.to_string(), "storage error");
    }
}
