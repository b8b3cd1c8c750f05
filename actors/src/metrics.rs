//! Metric names emitted by the actors, in one place. Labels stay low-cardinality: never a room
//! or user id.

/// Gauge: open WebSocket connections.
pub const CONNECTIONS: &str = "switchboard_connections";
/// Counter: connections closed, labelled by `reason`.
pub const DISCONNECTS: &str = "switchboard_disconnects_total";
/// Counter: messages accepted by room owners.
pub const MESSAGES: &str = "switchboard_messages_total";
/// Counter: event frames queued to connections by fan-out.
pub const DELIVERIES: &str = "switchboard_deliveries_total";
/// Counter: commands answered with an error, labelled by `code`.
pub const COMMAND_ERRORS: &str = "switchboard_command_errors_total";
/// Gauge: active room actors.
pub const ROOMS_ACTIVE: &str = "switchboard_rooms_active";
/// Counter: room actor restarts after a panic.
pub const ROOM_RESTARTS: &str = "switchboard_room_restarts_total";
/// Histogram: seconds from a send's arrival at its room to its acknowledgement as stored.
pub const SEND_TO_STORED_SECONDS: &str = "switchboard_send_to_stored_seconds";
