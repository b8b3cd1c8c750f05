//! The metric catalogue: every metric a node exports, with its type, `# HELP` text and label,
//! in one table (docs/METRICS.md mirrors it). Crates emit metrics by these names only; the
//! binary describes and registers every entry at start-up, so `/metrics` lists each one from
//! the first scrape. Labels stay low-cardinality: a label's values are listed here, never a
//! room or user id. Plain data: recording is the `metrics` crate's, in the crates above.

/// How a metric is exported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// One metric: its name, type, help text, and its label with every value it takes.
#[derive(Clone, Copy, Debug)]
pub struct Def {
    pub name: &'static str,
    pub kind: Kind,
    pub help: &'static str,
    pub label: Option<(&'static str, &'static [&'static str])>,
}

pub const CONNECTIONS: &str = "switchboard_connections";
pub const CONNECTS: &str = "switchboard_connects_total";
pub const DISCONNECTS: &str = "switchboard_disconnects_total";
pub const REFUSALS: &str = "switchboard_refusals_total";
pub const SIGN_IN_FAILURES: &str = "switchboard_sign_in_failures_total";
pub const COMMANDS: &str = "switchboard_commands_total";
pub const COMMAND_ERRORS: &str = "switchboard_command_errors_total";
pub const STORE_ERRORS: &str = "switchboard_command_store_errors_total";
pub const JOINS: &str = "switchboard_joins_total";
pub const MESSAGES: &str = "switchboard_messages_total";
pub const DELIVERIES: &str = "switchboard_deliveries_total";
pub const SEND_TO_DELIVER_SECONDS: &str = "switchboard_send_to_deliver_seconds";
pub const SEND_TO_STORED_SECONDS: &str = "switchboard_send_to_stored_seconds";
pub const ROOMS_ACTIVE: &str = "switchboard_rooms_active";
pub const ROOM_RESTARTS: &str = "switchboard_room_restarts_total";
pub const ROOM_MAILBOX_QUEUED: &str = "switchboard_room_mailbox_queued";
pub const ROOM_MAILBOX_MAX: &str = "switchboard_room_mailbox_max";
pub const FORWARD_ENVELOPES: &str = "switchboard_forward_envelopes_total";
pub const FORWARD_QUEUED: &str = "switchboard_forward_queued";
pub const FORWARD_REFUSED: &str = "switchboard_forward_refused_total";
pub const FORWARD_UNANSWERED: &str = "switchboard_forward_unanswered_total";
pub const FORWARD_LATE_REPLIES: &str = "switchboard_forward_late_replies_total";
pub const BUS_PUBLISHES: &str = "switchboard_bus_publishes_total";
pub const BUS_FAILURES: &str = "switchboard_bus_failures_total";
pub const BUS_GAPS: &str = "switchboard_bus_gaps_total";
pub const REDIS_SECONDS: &str = "switchboard_redis_seconds";
pub const REDIS_ERRORS: &str = "switchboard_redis_errors_total";
pub const ROOMS_MOVED_AWAY: &str = "switchboard_rooms_moved_away_total";
pub const ROOM_HANDOFFS: &str = "switchboard_room_handoffs_total";
pub const CLUSTER_NODES: &str = "switchboard_cluster_nodes";
pub const WRITE_BEHIND_BATCH_SIZE: &str = "switchboard_write_behind_batch_size";
pub const WRITE_BEHIND_COMMIT_SECONDS: &str = "switchboard_write_behind_commit_seconds";
pub const WRITE_BEHIND_FAILURES: &str = "switchboard_write_behind_failures_total";
pub const WRITE_BEHIND_FENCED: &str = "switchboard_write_behind_fenced_total";
pub const WRITE_BEHIND_BUSY: &str = "switchboard_write_behind_busy_total";
pub const WRITE_BEHIND_QUEUED: &str = "switchboard_write_behind_queued";
pub const TASK_RESTARTS: &str = "switchboard_task_restarts_total";
pub const TASK_DEATHS: &str = "switchboard_task_deaths_total";
pub const MEDIA_SLOTS: &str = "switchboard_media_slots_total";
pub const MEDIA_UPLOADS: &str = "switchboard_media_uploads_total";
pub const MEDIA_SWEPT: &str = "switchboard_media_swept_total";
pub const COGNITO_CHECKS: &str = "switchboard_cognito_checks_total";
pub const COGNITO_CHECK_FAILURES: &str = "switchboard_cognito_check_failures_total";
pub const REVOCATIONS: &str = "switchboard_revocations_total";
pub const BUILD_INFO: &str = "switchboard_build_info";
/// Process metrics keep the standard names, so stock dashboards and alerts find them.
pub const PROCESS_CPU_SECONDS: &str = "process_cpu_seconds_total";
pub const PROCESS_RESIDENT_BYTES: &str = "process_resident_memory_bytes";
pub const PROCESS_OPEN_FDS: &str = "process_open_fds";
pub const PROCESS_START_TIME: &str = "process_start_time_seconds";

/// The `reason` of a disconnect: the close reasons the connection actor and the socket give.
pub const DISCONNECT_REASONS: &[&str] = &[
    "gone",
    "peer closed",
    "slow consumer",
    "server restarting",
    "authentication timeout",
    "frame too large",
    "too many malformed frames",
    "text frame on a MessagePack connection",
    "binary frame on a JSON connection",
    "invalid UTF-8",
    "protocol error",
    "revoked",
];

/// The `class` of a refusal (`actors::refusal::Refusal::name`).
pub const REFUSAL_CLASSES: &[&str] = &[
    "auth_failed",
    "auth_timeout",
    "rate_limited",
    "slow_consumer",
    "oversized",
    "protocol_error",
    "connection_cap",
    "slow_http",
    "accept_failed",
    "commands_pending",
    "store_error",
    "churn",
];

/// The `reason` a sign-in failed.
pub const SIGN_IN_REASONS: &[&str] = &["wrong_credentials", "throttled", "busy"];

/// The `code` of a command error (`ErrorCode` values).
pub const ERROR_CODES: &[&str] = &[
    "1000", "1002", "1003", "1004", "2000", "2001", "2002", "2003", "2005", "3000", "3001", "3002",
    "3003", "4000", "4001", "4002", "5000", "5001",
];

/// The `task` of a supervised long-lived task (`actors::supervised::Task::name`).
pub const TASKS: &[&str] = &[
    "cluster_inbox",
    "ring_follower",
    "awaited_expiry",
    "forwarder",
    "cluster_view",
    "listener",
    "dashboard",
    "throttle_sync",
    "write_behind",
    "media_sweep",
    "revocation_check",
];

/// The `call` of a check of a Cognito user: `GetUser` with their newest access token (global
/// sign-out), `AdminGetUser` (disabled or deleted).
pub const COGNITO_CALLS: &[&str] = &["get_user", "admin_get_user"];

/// The `cause` of a revocation: what the check found (`signed_out`, `disabled`, `deleted`), a
/// sign-out through this node's `/api/cognito/signout` (`sign_out`), or one another node
/// recorded (`other_node`).
pub const REVOCATION_CAUSES: &[&str] = &[
    "signed_out",
    "disabled",
    "deleted",
    "sign_out",
    "other_node",
];

/// The `outcome` of a request for an upload slot.
pub const SLOT_OUTCOMES: &[&str] = &[
    "opened",
    "too_large",
    "unsupported_type",
    "invalid",
    "quota",
    "error",
];

/// The `outcome` of an upload to the local media store's signed URL.
pub const UPLOAD_OUTCOMES: &[&str] = &[
    "stored",
    "bad_signature",
    "expired",
    "too_large",
    "mismatch",
    "timeout",
    "error",
];

/// The `op` of a Redis call.
pub const REDIS_OPS: &[&str] = &["publish", "heartbeat", "live", "leave", "snapshot"];

use crate::protocol::ClientFrame;
use Kind::{Counter, Gauge, Histogram};

const fn def(name: &'static str, kind: Kind, help: &'static str) -> Def {
    Def {
        name,
        kind,
        help,
        label: None,
    }
}

const fn labelled(
    name: &'static str,
    kind: Kind,
    help: &'static str,
    label: &'static str,
    values: &'static [&'static str],
) -> Def {
    Def {
        name,
        kind,
        help,
        label: Some((label, values)),
    }
}

/// Every metric a node exports.
pub const ALL: &[Def] = &[
    def(CONNECTIONS, Gauge, "Open WebSocket connections."),
    def(
        CONNECTS,
        Counter,
        "WebSocket connections accepted (upgraded).",
    ),
    labelled(
        DISCONNECTS,
        Counter,
        "WebSocket connections closed, by close reason.",
        "reason",
        DISCONNECT_REASONS,
    ),
    labelled(
        REFUSALS,
        Counter,
        "Refusals by class: failed authentication (token or sign-in), auth timeouts, rate limits, slow consumers cut off, oversized input, protocol errors, connection cap, slow HTTP clients, failed accepts, commands over the in-flight cap, store failures; churn counts signed-in connections their client closed within 5 s (reconnect loops).",
        "class",
        REFUSAL_CLASSES,
    ),
    labelled(
        SIGN_IN_FAILURES,
        Counter,
        "HTTP sign-ins refused, by reason.",
        "reason",
        SIGN_IN_REASONS,
    ),
    labelled(
        COMMANDS,
        Counter,
        "Client commands received, by type.",
        "command",
        &ClientFrame::NAMES,
    ),
    labelled(
        COMMAND_ERRORS,
        Counter,
        "Commands answered with an error, by error code.",
        "code",
        ERROR_CODES,
    ),
    def(JOINS, Counter, "Room joins accepted by room owners."),
    def(
        MESSAGES,
        Counter,
        "Messages accepted (sequenced) by room owners.",
    ),
    def(
        DELIVERIES,
        Counter,
        "Event frames queued to subscribers by fan-out (local and forwarded).",
    ),
    def(
        SEND_TO_DELIVER_SECONDS,
        Histogram,
        "Seconds from a send's arrival at its room to its event queued to every subscriber (local queues and forwarders).",
    ),
    def(
        SEND_TO_STORED_SECONDS,
        Histogram,
        "Seconds from a send's arrival at its room to its acknowledgement as stored.",
    ),
    def(ROOMS_ACTIVE, Gauge, "Active room actors on this node."),
    def(ROOM_RESTARTS, Counter, "Room actor restarts after a panic."),
    def(
        ROOM_MAILBOX_QUEUED,
        Gauge,
        "Messages waiting in all room mailboxes (sampled every second).",
    ),
    def(
        ROOM_MAILBOX_MAX,
        Gauge,
        "Messages waiting in the fullest room mailbox (sampled every second).",
    ),
    def(
        STORE_ERRORS,
        Counter,
        "Store calls that failed: commands and HTTP requests answered 5000 (not those answered busy for a saturated pool), readiness checks, presence rechecks.",
    ),
    def(
        FORWARD_ENVELOPES,
        Counter,
        "Envelopes sent to other nodes (commands, deliveries, replies, handoffs).",
    ),
    def(
        FORWARD_QUEUED,
        Gauge,
        "Envelopes waiting in the forwarders to other nodes (sampled every second).",
    ),
    def(
        FORWARD_REFUSED,
        Counter,
        "Envelopes refused because the forwarder to a node was full.",
    ),
    def(
        FORWARD_UNANSWERED,
        Counter,
        "Forwarded commands answered 4001 busy because no reply came in time.",
    ),
    def(
        FORWARD_LATE_REPLIES,
        Counter,
        "Replies to forwarded commands that came after their client was told busy.",
    ),
    def(
        BUS_PUBLISHES,
        Counter,
        "Bus messages published (one per forwarded batch).",
    ),
    def(
        BUS_FAILURES,
        Counter,
        "Bus messages that could not be published.",
    ),
    def(
        BUS_GAPS,
        Counter,
        "Gaps in a sender's batch sequence (lost batches) and inbox resubscriptions.",
    ),
    labelled(
        REDIS_SECONDS,
        Histogram,
        "Seconds per Redis call, by operation.",
        "op",
        REDIS_OPS,
    ),
    labelled(
        REDIS_ERRORS,
        Counter,
        "Failed Redis calls, by operation.",
        "op",
        REDIS_OPS,
    ),
    def(
        ROOMS_MOVED_AWAY,
        Counter,
        "Rooms this node stopped because another node owns them now.",
    ),
    def(
        ROOM_HANDOFFS,
        Counter,
        "Rooms this node took over from another live node.",
    ),
    def(
        CLUSTER_NODES,
        Gauge,
        "Nodes in this node's ring, itself included.",
    ),
    def(
        WRITE_BEHIND_BATCH_SIZE,
        Histogram,
        "Messages per committed write-behind batch.",
    ),
    def(
        WRITE_BEHIND_COMMIT_SECONDS,
        Histogram,
        "Seconds to commit one write-behind batch to the store.",
    ),
    def(
        WRITE_BEHIND_FAILURES,
        Counter,
        "Failed write-behind batch commits (store errors; each is retried).",
    ),
    def(
        WRITE_BEHIND_FENCED,
        Counter,
        "Messages refused by the store because their room has a newer owner.",
    ),
    def(
        WRITE_BEHIND_BUSY,
        Counter,
        "Sends refused because the write-behind queue was full.",
    ),
    def(
        WRITE_BEHIND_QUEUED,
        Gauge,
        "Messages waiting in the write-behind queue.",
    ),
    labelled(
        TASK_RESTARTS,
        Counter,
        "Long-lived tasks rebuilt after a panic or an unexpected end, by task.",
        "task",
        TASKS,
    ),
    labelled(
        TASK_DEATHS,
        Counter,
        "Long-lived tasks whose death failed the node (/readyz answers 503 from then on), by task.",
        "task",
        TASKS,
    ),
    labelled(
        MEDIA_SLOTS,
        Counter,
        "Requests for an upload slot (HTTP or WebSocket), by outcome (opened, or the limit that refused it).",
        "outcome",
        SLOT_OUTCOMES,
    ),
    labelled(
        MEDIA_UPLOADS,
        Counter,
        "Uploads to the local media store's signed URLs, by outcome.",
        "outcome",
        UPLOAD_OUTCOMES,
    ),
    def(
        MEDIA_SWEPT,
        Counter,
        "Uploads never attached to a message, deleted by the sweep.",
    ),
    labelled(
        COGNITO_CHECKS,
        Counter,
        "Calls to the Cognito user pool made to check connected users for revocation, by call.",
        "call",
        COGNITO_CALLS,
    ),
    labelled(
        COGNITO_CHECK_FAILURES,
        Counter,
        "Revocation checks that got no clear answer (timeout, throttling, missing permission, pool unreachable), by call; nobody is cut off for them.",
        "call",
        COGNITO_CALLS,
    ),
    labelled(
        REVOCATIONS,
        Counter,
        "Cognito users whose access was revoked, as this node learnt it, by cause; their connections here close with 4003.",
        "cause",
        REVOCATION_CAUSES,
    ),
    def(
        BUILD_INFO,
        Gauge,
        "Always 1; the labels name the running build (version, commit).",
    ),
    def(
        PROCESS_CPU_SECONDS,
        Counter,
        "CPU time (user + system) this process used, in seconds.",
    ),
    def(
        PROCESS_RESIDENT_BYTES,
        Gauge,
        "Resident memory of this process, in bytes.",
    ),
    def(
        PROCESS_OPEN_FDS,
        Gauge,
        "Open file descriptors of this process (sockets included).",
    ),
    def(
        PROCESS_START_TIME,
        Gauge,
        "When this process started, in seconds since the Unix epoch.",
    ),
];

/// Histogram buckets for latencies, in seconds: 0.5 ms to 5 s, chat's range from a local
/// fan-out to a stalled store.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0,
];

/// Histogram buckets for batch sizes, in messages.
pub const BATCH_BUCKETS: &[f64] = &[1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_counters_end_in_total() {
        let mut names: Vec<&str> = ALL.iter().map(|d| d.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ALL.len(), "a name appears twice");
        for d in ALL {
            assert_eq!(d.kind == Counter, d.name.ends_with("_total"), "{}", d.name);
            assert!(!d.help.is_empty(), "{} has no help", d.name);
        }
    }

    #[test]
    fn docs_metrics_md_lists_every_metric() {
        let doc = include_str!("../../docs/METRICS.md");
        for d in ALL {
            assert!(
                doc.contains(&format!("| `{}` |", d.name)),
                "{} not in docs",
                d.name
            );
        }
    }
}
