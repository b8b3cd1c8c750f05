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
/// Counter: commands that failed because the store did (answered 5000).
pub const STORE_ERRORS: &str = "switchboard_command_store_errors_total";
/// Gauge: active room actors.
pub const ROOMS_ACTIVE: &str = "switchboard_rooms_active";
/// Counter: room actor restarts after a panic.
pub const ROOM_RESTARTS: &str = "switchboard_room_restarts_total";
/// Histogram: seconds from a send's arrival at its room to its acknowledgement as stored.
pub const SEND_TO_STORED_SECONDS: &str = "switchboard_send_to_stored_seconds";
/// Counter: envelopes sent to other nodes (commands, deliveries, replies, handoffs).
pub const FORWARD_ENVELOPES: &str = "switchboard_forward_envelopes_total";
/// Counter: envelopes refused because the forwarder to a node was full.
pub const FORWARD_REFUSED: &str = "switchboard_forward_refused_total";
/// Counter: forwarded commands answered 4001 `busy` by their connection's node because the
/// reply did not come in time, the target left the ring, or the command was never published.
pub const FORWARD_UNANSWERED: &str = "switchboard_forward_unanswered_total";
/// Counter: replies to forwarded commands that came after their client was told `busy`
/// (dropped: one reply per command).
pub const FORWARD_LATE_REPLIES: &str = "switchboard_forward_late_replies_total";
/// Counter: bus messages published (one per forwarded batch: the Redis commands issued).
pub const BUS_PUBLISHES: &str = "switchboard_bus_publishes_total";
/// Counter: bus messages that could not be published.
pub const BUS_FAILURES: &str = "switchboard_bus_failures_total";
/// Counter: gaps seen in a sender's batch sequence (lost batches), and inbox resubscriptions.
pub const BUS_GAPS: &str = "switchboard_bus_gaps_total";
/// Counter: rooms this node stopped because another node owns them now.
pub const ROOMS_MOVED_AWAY: &str = "switchboard_rooms_moved_away_total";
/// Counter: rooms this node took over from another live node (a handoff).
pub const ROOM_HANDOFFS: &str = "switchboard_room_handoffs_total";
/// Gauge: nodes in this node's ring (itself included).
pub const CLUSTER_NODES: &str = "switchboard_cluster_nodes";
