//! The settings of a node's actors, deserialised straight from the configuration: [`HubConfig`]
//! is the `[engine]` section, [`ClusterConfig`] the `[cluster]` section. Durations are written
//! in the file as whole milliseconds (`*_ms`) or seconds (`*_secs`).

use std::time::Duration;

use serde::{Deserialize, Serialize};
use switchboard_engine::limits::Limits;
use switchboard_engine::settings::{ms, secs};

/// `[engine]`: tuning for the actors of one node. Every field has a production default.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HubConfig {
    /// Not part of `[engine]`: the node sets it from the `[limits]` section.
    #[serde(skip)]
    pub limits: Limits,
    /// Most frames queued to one connection before it is disconnected as slow (close 4008).
    pub outbound_frames: usize,
    /// Most bytes queued to one connection before it is disconnected as slow (close 4008).
    pub outbound_bytes: usize,
    /// Recent messages each active room keeps in memory for resume and deduplication.
    pub room_buffer: usize,
    /// Most missed messages a resume replays; beyond it the client is told to reload.
    pub resume_limit: usize,
    /// Rooms with more members than this do not announce `member_joined`/`member_left`: in a
    /// huge room those events would cost members × joins deliveries.
    pub member_events_max: usize,
    /// `room_idle_secs`: how long a room with no subscribers stays active.
    #[serde(rename = "room_idle_secs", with = "secs")]
    pub room_idle: Duration,
    /// `typing_ttl_ms`: how long a `typing {active: true}` lasts without a repeat; then the
    /// room tells the others `active: false` (also at once when the typer's last connection
    /// leaves).
    #[serde(rename = "typing_ttl_ms", with = "ms")]
    pub typing_ttl: Duration,
    /// `presence_recheck_ms`: how long a presence watcher's right to see a user (a shared
    /// room) is trusted before it is checked again, when a change is to be announced to it.
    #[serde(rename = "presence_recheck_ms", with = "ms")]
    pub presence_recheck: Duration,
    /// Mailbox capacity of each room actor; senders wait while it is full.
    pub room_mailbox: usize,
    /// Restarts of a panicking room allowed within `room_restart_window` before it is left
    /// stopped.
    pub room_restart_limit: u32,
    /// `room_restart_window_secs`: the window `room_restart_limit` counts restarts in.
    #[serde(rename = "room_restart_window_secs", with = "secs")]
    pub room_restart_window: Duration,
    /// `auth_timeout_secs`: how long a new connection may take to authenticate (close 4001
    /// after).
    #[serde(rename = "auth_timeout_secs", with = "secs")]
    pub auth_timeout: Duration,
    /// Malformed frames in a row before the connection is closed (close 4009).
    pub max_bad_frames: u32,
    /// `close_timeout_ms`: how long a closing connection may take to write its final
    /// `disconnect` and close frames (behind whatever the client has not read yet) before the
    /// socket is dropped.
    #[serde(rename = "close_timeout_ms", with = "ms")]
    pub close_timeout: Duration,
    /// `shutdown_grace_secs`: how long the node's shutdown waits for connections to close
    /// before stopping anyway.
    #[serde(rename = "shutdown_grace_secs", with = "secs")]
    pub shutdown_grace: Duration,
    /// Fixed, not in the file: how long a send waits for the store's answer on an earlier
    /// `cmid` before going on.
    #[serde(skip)]
    pub store_check_timeout: Duration,
    /// `store_timeout_ms`: how long a command may wait on the store (its reads, an inactive
    /// room's load) before it is answered 4001 `busy`. The connection keeps delivering
    /// meanwhile.
    #[serde(rename = "store_timeout_ms", with = "ms")]
    pub store_timeout: Duration,
    /// Commands one connection may have waiting on the store or on other actors at once
    /// (running, or queued behind an earlier one for the same room); beyond it 4001 `busy`.
    pub commands_in_flight: usize,
    /// Test-only fault injection: lets `Hub::inject_room_panic` and
    /// `Hub::inject_connection_panic` reach their actors. Exists only in builds with the
    /// `testing` feature, so a release build refuses the key.
    #[cfg(feature = "testing")]
    pub fault_injection: bool,
    /// Subjects (users, sign-in names, source addresses) each rate-limit table of the hub's
    /// throttle tracks. When one is full of subjects active within their window, new ones are
    /// refused with 4000 until some lapse (about 100 bytes each).
    pub throttle_subjects: usize,
}

impl Default for HubConfig {
    fn default() -> Self {
        HubConfig {
            limits: Limits::default(),
            outbound_frames: 1024,
            outbound_bytes: 4 * 1024 * 1024,
            room_buffer: 1024,
            resume_limit: 1000,
            member_events_max: 1000,
            room_idle: Duration::from_secs(60),
            typing_ttl: Duration::from_secs(6),
            presence_recheck: Duration::from_secs(30),
            room_mailbox: 1024,
            room_restart_limit: 5,
            room_restart_window: Duration::from_secs(10),
            auth_timeout: Duration::from_secs(10),
            max_bad_frames: 10,
            close_timeout: Duration::from_secs(1),
            shutdown_grace: Duration::from_secs(10),
            store_check_timeout: Duration::from_millis(250),
            store_timeout: Duration::from_secs(5),
            commands_in_flight: 16,
            #[cfg(feature = "testing")]
            fault_injection: false,
            throttle_subjects: 100_000,
        }
    }
}

/// `[cluster]`: membership through Redis. Unset `redis_url` runs a single node. Defaults
/// detect a crash within `lease + poll`, 3 s.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClusterConfig {
    /// e.g. `redis://127.0.0.1:6379`. When set, the node registers itself and tracks the ring.
    pub redis_url: Option<String>,
    /// This node's id, distinct in the cluster; defaults to the advertised address.
    pub node_id: Option<String>,
    /// The address other nodes and the dashboard know this one by. Unset: on ECS
    /// (`ECS_CONTAINER_METADATA_URI_V4` set) the task's private IP with the listen port, read
    /// at start from the task metadata endpoint; elsewhere the listen address (a cluster node
    /// listening on `0.0.0.0` must then set this or `node_id`).
    pub advertise: Option<String>,
    /// Prefix of every Redis key, so clusters sharing a Redis never meet.
    pub key_prefix: String,
    /// `heartbeat_ms`: time between lease renewals.
    #[serde(rename = "heartbeat_ms", with = "ms")]
    pub heartbeat: Duration,
    /// `lease_ms`: lease length; a node that stops renewing drops out after it.
    #[serde(rename = "lease_ms", with = "ms")]
    pub lease: Duration,
    /// `poll_ms`: time between reads of the member list (crash detection ≤ lease + poll).
    #[serde(rename = "poll_ms", with = "ms")]
    pub poll: Duration,
    /// `throttle_sync_ms`: time between pushes of this node's rate-limit counts to Redis. A
    /// user, name or address can exceed a cluster-wide limit by at most this long's worth of
    /// events per node.
    #[serde(rename = "throttle_sync_ms", with = "ms")]
    pub throttle_sync: Duration,
    /// `reply_timeout_ms`: how long a node waits for the reply to a command it forwarded to a
    /// room's owner; then the client gets 4001 `busy` (and a later reply is dropped). Also the
    /// bound on a command lost with a crashed node or a Redis outage.
    #[serde(rename = "reply_timeout_ms", with = "ms")]
    pub reply_timeout: Duration,
    /// `reply_hold_ms`: how long deliveries to a sender's node wait for its `sent`, so that the
    /// two leave in one Redis `PUBLISH` (the commit and its answer take a few milliseconds). Past
    /// it they go without (during a store outage, live delivery goes on). 0: never wait.
    #[serde(rename = "reply_hold_ms", with = "ms")]
    pub reply_hold: Duration,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            redis_url: None,
            node_id: None,
            advertise: None,
            key_prefix: "switchboard".into(),
            heartbeat: Duration::from_millis(1000),
            lease: Duration::from_millis(2500),
            poll: Duration::from_millis(500),
            throttle_sync: Duration::from_millis(100),
            reply_timeout: ForwardLimits::default().reply_timeout,
            reply_hold: ForwardLimits::default().reply_hold,
        }
    }
}

impl ClusterConfig {
    /// The forwarding bounds: the configured reply timeout and hold, the fixed queue bounds.
    pub fn forward_limits(&self) -> ForwardLimits {
        ForwardLimits {
            reply_timeout: self.reply_timeout,
            reply_hold: self.reply_hold,
            ..ForwardLimits::default()
        }
    }
}

/// Bounds of forwarding: each forwarder's queue, and the replies a node awaits.
#[derive(Clone, Copy, Debug)]
pub struct ForwardLimits {
    pub max_envelopes: usize,
    pub max_bytes: usize,
    /// How long a forwarded command's reply is awaited before its client is told `busy`.
    pub reply_timeout: Duration,
    /// Most forwarded commands awaiting their reply at once; more are answered `busy`.
    pub max_awaited: usize,
    /// Longest a batch to a node waits for the answers to that node's posts (see
    /// `ClusterConfig::reply_hold`).
    pub reply_hold: Duration,
}

impl Default for ForwardLimits {
    fn default() -> Self {
        ForwardLimits {
            max_envelopes: 65_536,
            max_bytes: 32 * 1024 * 1024,
            reply_timeout: Duration::from_secs(5),
            max_awaited: 65_536,
            reply_hold: Duration::from_millis(20),
        }
    }
}
