//! Metric recording for the actors. Names, help and labels are the catalogue's
//! ([`switchboard_engine::metrics`], re-exported here); the counters hit on every command and
//! every fan-out are registered once and kept as handles ([`hot`]), so recording one is an
//! atomic add with no key built, no lookup and no allocation.

pub use switchboard_engine::metrics::*;

use std::sync::LazyLock;

use metrics::{Counter, Histogram};
use switchboard_engine::ErrorCode;
use switchboard_engine::protocol::ClientFrame;

/// Handles of the hot-path metrics.
pub struct Hot {
    pub messages: Counter,
    pub deliveries: Counter,
    pub joins: Counter,
    pub send_to_deliver: Histogram,
    commands: [Counter; ClientFrame::NAMES.len()],
    /// Error replies by code, in the catalogue's order of `ERROR_CODES`.
    errors: Vec<(u16, Counter)>,
}

impl Hot {
    /// The counter of commands of `frame`'s type.
    pub fn command(&self, frame: &ClientFrame) -> &Counter {
        &self.commands[frame.ordinal()]
    }

    /// Counts one command answered with `code`.
    pub fn error(&self, code: ErrorCode) {
        match self.errors.iter().find(|(c, _)| *c == code as u16) {
            Some((_, counter)) => counter.increment(1),
            // A code missing from the catalogue still counts, at the cost of building its key.
            None => {
                metrics::counter!(COMMAND_ERRORS, "code" => (code as u16).to_string()).increment(1)
            }
        }
    }
}

/// The hot-path handles, registered on first use. The binary installs its recorder before
/// starting the hub; handles taken before a recorder exists would record nothing.
pub fn hot() -> &'static Hot {
    static HOT: LazyLock<Hot> = LazyLock::new(|| Hot {
        messages: metrics::counter!(MESSAGES),
        deliveries: metrics::counter!(DELIVERIES),
        joins: metrics::counter!(JOINS),
        send_to_deliver: metrics::histogram!(SEND_TO_DELIVER_SECONDS),
        commands: ClientFrame::NAMES.map(|c| metrics::counter!(COMMANDS, "command" => c)),
        errors: ERROR_CODES
            .iter()
            .filter_map(|c| {
                Some((
                    c.parse().ok()?,
                    metrics::counter!(COMMAND_ERRORS, "code" => *c),
                ))
            })
            .collect(),
    });
    &HOT
}
