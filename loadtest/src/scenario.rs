//! A scenario: what a run does, from a named preset or a TOML file. Every field is documented
//! here, where it is declared; unknown keys are refused so a typo never silently runs the
//! default.

use std::path::PathBuf;

use anyhow::{Context as _, bail, ensure};
use serde::{Deserialize, Serialize};

/// Sockets one worker process holds at most: 20,000 open files per process here, less room
/// for the runtime and stdio.
pub const MAX_SOCKETS_PER_WORKER: usize = 19_000;
/// Sockets one source address takes. Their ports are chosen at `connect`, 28,232 per source
/// and destination, but the kernel finds a free one by walking the ports in use, which took a
/// third of a worker's CPU at 18,000 sockets on one source and node: a source is kept to a
/// seventh of its range.
pub const MAX_SOCKETS_PER_SOURCE: usize = 4_000;

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Scenario {
    /// A short name, used in report file names.
    pub name: String,
    /// Concurrent sockets, each its own signed-up user.
    pub sockets: usize,
    /// Rooms each socket joins (every socket is in at least one).
    pub rooms_per_socket: usize,
    /// Members per room. Rooms are cut from the memberships until all are placed, so the number
    /// of rooms follows from `sockets × rooms_per_socket` and this distribution.
    pub room_size: RoomSize,
    /// Share of sockets (0..=1) that send, each into its first room.
    pub sender_share: f64,
    /// Messages per second per sender; 0 sends as fast as `window` acknowledgements allow.
    pub send_rate: f64,
    /// Sends a sender keeps unanswered at most (the floor answers none: it sends at the rate).
    pub window: usize,
    /// Bytes of message text (at least the ~40 bytes of sequence and timestamp it carries).
    pub message_bytes: usize,
    /// Percent (0..=100) of each sender's sends that are a `react` instead, on the newest
    /// message of its room it has seen: adding and taking away alternate, so a user never has
    /// more than one emoji on a message (the bound is 10). Switchboard only: the floor sends
    /// messages.
    pub reactions_percent: u8,
    /// Percent (0..=100, together with `reactions_percent` at most 100) of each sender's sends
    /// that are a `mark_read` of the newest entry of its room it has seen instead. Each
    /// `read_receipt` delivered counts as a delivery, as each `reaction` does.
    pub receipts_percent: u8,
    /// Other members of its first room whose presence each socket watches.
    pub presence_watch: usize,
    /// New sockets per second across all workers; 0 connects as fast as it can.
    pub ramp_per_sec: f64,
    /// Sockets each worker opens at once while ramping.
    pub connect_concurrency: usize,
    /// Seconds the traffic runs once every socket has joined.
    pub hold_secs: u64,
    /// Seconds after the last send that receivers keep reading.
    pub drain_secs: u64,
    /// Worker processes; 0 picks the fewest that keep each under `MAX_SOCKETS_PER_WORKER`.
    pub workers: usize,
    /// Source addresses in 127.0.0.0/8; 0 picks enough for the ephemeral port limit.
    pub sources: usize,
    pub nodes: Nodes,
    /// How sockets sign in: `local` accounts (signed up through the node) or `cognito` (access
    /// tokens of a stand-in user pool the harness runs, verified by the nodes against its JWKS;
    /// each user is made on its first connection, before the measured connect phase).
    pub identity: Identity,
    /// Seconds into the hold at which the first `kill_nodes` nodes are killed at once (SIGKILL;
    /// 0: never). Their sockets then reconnect to the other nodes and rejoin their rooms, and the
    /// report gives how many did and the slowest one's time from losing its socket to rejoined.
    pub kill_node_after_secs: u64,
    /// Nodes killed at `kill_node_after_secs` (nodes 0, 1, ...); at least one node must live.
    pub kill_nodes: usize,
    /// Run the same scenario against the floor (bare broadcast servers, as many as `nodes`)
    /// after the main run, and state ratios to it.
    pub compare_floor: bool,
}

/// The members-per-room distribution.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum RoomSize {
    /// Every room has `size` members (the last may have fewer).
    Fixed { size: usize },
    /// Sizes drawn uniformly from `min..=max`.
    Uniform { min: usize, max: usize },
    /// Sizes drawn from `[size, weight]` pairs.
    Weighted { sizes: Vec<(usize, u32)> },
}

/// The servers under load.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Nodes {
    /// `switchboard` or `floor` (the bare tokio-tungstenite broadcast server).
    pub kind: NodeKind,
    /// Nodes to start on 127.0.0.1; ignored when `addresses` is set.
    pub count: usize,
    /// With more than one node, or when true with one: Redis and a scratch Postgres database.
    pub cluster: bool,
    /// Given `host:port` addresses instead of started nodes (switchboard only; users are
    /// signed up through the first).
    pub addresses: Vec<String>,
    /// The node binary to start.
    pub server: PathBuf,
    /// `synchronous = FULL` for the embedded store of a single node.
    pub durable: bool,
    pub redis_url: String,
    /// Extra `SWITCHBOARD_*` settings for every started node.
    pub env: Vec<(String, String)>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Identity {
    #[default]
    Local,
    Cognito,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeKind {
    Switchboard,
    Floor,
}

impl Default for Scenario {
    fn default() -> Self {
        Scenario {
            name: "custom".into(),
            sockets: 2_000,
            rooms_per_socket: 1,
            room_size: RoomSize::Uniform { min: 20, max: 80 },
            sender_share: 0.01,
            send_rate: 1.0,
            window: 1,
            message_bytes: 64,
            reactions_percent: 0,
            receipts_percent: 0,
            presence_watch: 0,
            ramp_per_sec: 0.0,
            connect_concurrency: 256,
            hold_secs: 20,
            drain_secs: 2,
            workers: 0,
            sources: 0,
            nodes: Nodes::default(),
            identity: Identity::Local,
            kill_node_after_secs: 0,
            kill_nodes: 1,
            compare_floor: false,
        }
    }
}

impl Default for Nodes {
    fn default() -> Self {
        Nodes {
            kind: NodeKind::Switchboard,
            count: 1,
            cluster: false,
            addresses: Vec::new(),
            server: "target/release/switchboard".into(),
            durable: false,
            redis_url: "redis://127.0.0.1:6379".into(),
            env: Vec::new(),
        }
    }
}

/// The named presets: the headline runs and the smaller ones they grow from.
pub const PRESETS: &[(&str, &str)] = &[
    (
        "smoke",
        "2 nodes on Redis + Postgres, 2 workers, 2,000 sockets in rooms of 20-80, 1% senders at 1/s, 20 s",
    ),
    (
        "headline",
        "run 1: 100,000 sockets on 6 nodes (Redis + Postgres), rooms of 50, 1% senders at 1/s, presence watched, 60 s",
    ),
    (
        "fanout",
        "one node, one room of 2,000, one sender at 20/s, against the floor in the same run",
    ),
    (
        "saturation",
        "run 2: one node, one room of 2,000, 4 senders as fast as 16 unanswered sends allow, against the floor",
    ),
    (
        "storm",
        "run 3 (first half): 18,000 sockets connect to one node as fast as they can, no traffic",
    ),
    (
        "failover",
        "run 3 (second half): 42,000 sockets on 6 nodes (Redis + Postgres); nodes 0-2 are killed at once and their 21,000 reconnect to the other three",
    ),
    (
        "idle",
        "10,000 idle sockets in rooms of 100 on one node: memory per connection, against the floor",
    ),
];

impl Scenario {
    pub fn preset(name: &str) -> anyhow::Result<Scenario> {
        let d = Scenario::default();
        let s = match name {
            "smoke" => Scenario {
                nodes: Nodes {
                    count: 2,
                    ..Nodes::default()
                },
                workers: 2,
                ..d
            },
            "headline" => Scenario {
                sockets: 100_000,
                room_size: RoomSize::Fixed { size: 50 },
                presence_watch: 1,
                ramp_per_sec: 2_000.0,
                hold_secs: 60,
                drain_secs: 3,
                nodes: Nodes {
                    count: 6,
                    // Six pools of the default 16 would take 96 of Postgres's default 100
                    // connections; other engineers' tests share the server.
                    env: vec![("SWITCHBOARD_DATABASE__POOL_SIZE".into(), "6".into())],
                    ..Nodes::default()
                },
                ..d
            },
            "fanout" => Scenario {
                room_size: RoomSize::Fixed { size: 2_000 },
                sender_share: 1.0 / 2_000.0,
                send_rate: 20.0,
                hold_secs: 10,
                compare_floor: true,
                ..d
            },
            "saturation" => Scenario {
                room_size: RoomSize::Fixed { size: 2_000 },
                sender_share: 4.0 / 2_000.0,
                send_rate: 0.0,
                // The node's default `engine.commands_in_flight`: with more, sends beyond it are
                // answered 4001 busy and the run measures refusals.
                window: 16,
                hold_secs: 10,
                compare_floor: true,
                ..d
            },
            "storm" => Scenario {
                // Under a node's default `http.max_connections` (19,000: its open-file limit).
                sockets: 18_000,
                room_size: RoomSize::Fixed { size: 50 },
                sender_share: 0.0,
                connect_concurrency: 1_024,
                hold_secs: 2,
                ..d
            },
            "failover" => Scenario {
                // 7,000 per node, and three of the six killed at once: 21,000 clients lose
                // their node, and each survivor takes 7,000 more (14,000; a node holds at most
                // 19,000 here, 20,000 open files).
                sockets: 42_000,
                room_size: RoomSize::Fixed { size: 50 },
                sender_share: 0.0,
                connect_concurrency: 1_024,
                hold_secs: 60,
                kill_node_after_secs: 5,
                kill_nodes: 3,
                nodes: Nodes {
                    count: 6,
                    ..Nodes::default()
                },
                ..d
            },
            "idle" => Scenario {
                sockets: 10_000,
                room_size: RoomSize::Fixed { size: 100 },
                sender_share: 0.0,
                hold_secs: 3,
                compare_floor: true,
                ..d
            },
            other => bail!(
                "no preset {other:?}; presets: {}",
                PRESETS.iter().map(|p| p.0).collect::<Vec<_>>().join(", ")
            ),
        };
        Ok(Scenario {
            name: name.into(),
            ..s
        })
    }

    pub fn from_file(path: &std::path::Path) -> anyhow::Result<Scenario> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading scenario {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("scenario {}", path.display()))
    }

    /// Fills the automatic fields and refuses what cannot run.
    pub fn resolve(mut self) -> anyhow::Result<Scenario> {
        ensure!(self.sockets > 0, "sockets must be at least 1");
        ensure!(
            (1..=self.sockets).contains(&self.rooms_per_socket),
            "rooms_per_socket must be within 1..=sockets"
        );
        ensure!(
            (0.0..=1.0).contains(&self.sender_share),
            "sender_share must be within 0..=1"
        );
        ensure!(self.send_rate >= 0.0, "send_rate must not be negative");
        ensure!(self.window >= 1, "window must be at least 1");
        ensure!(
            u16::from(self.reactions_percent) + u16::from(self.receipts_percent) <= 100,
            "reactions_percent + receipts_percent must be at most 100"
        );
        ensure!(
            self.connect_concurrency >= 1,
            "connect_concurrency must be at least 1"
        );
        ensure!(self.hold_secs <= 3_600, "hold_secs is at most 3600");
        ensure!(
            self.kill_node_after_secs == 0
                || (1..self.nodes.count.max(self.nodes.addresses.len())).contains(&self.kill_nodes),
            "kill_nodes must be at least 1 and leave a node alive"
        );
        ensure!(
            self.identity == Identity::Local
                || (self.nodes.kind == NodeKind::Switchboard && self.nodes.addresses.is_empty()),
            "identity = \"cognito\" needs nodes the harness starts (it configures their pool)"
        );
        match &self.room_size {
            RoomSize::Fixed { size } => ensure!(*size >= 1, "room size must be at least 1"),
            RoomSize::Uniform { min, max } => {
                ensure!(1 <= *min && min <= max, "room size needs 1 <= min <= max")
            }
            RoomSize::Weighted { sizes } => ensure!(
                !sizes.is_empty() && sizes.iter().all(|(s, w)| *s >= 1 && *w >= 1),
                "weighted room sizes need at least one [size >= 1, weight >= 1]"
            ),
        }
        if self.workers == 0 {
            self.workers = self.sockets.div_ceil(MAX_SOCKETS_PER_WORKER);
        }
        ensure!(
            self.sockets.div_ceil(self.workers) <= MAX_SOCKETS_PER_WORKER,
            "{} workers cannot hold {} sockets (at most {MAX_SOCKETS_PER_WORKER} each)",
            self.workers,
            self.sockets
        );
        if self.sources == 0 {
            self.sources = self.sockets.div_ceil(MAX_SOCKETS_PER_SOURCE).max(1);
        }
        ensure!(
            self.sources <= 250,
            "at most 250 source addresses (127.0.0.2..)"
        );
        if self.nodes.addresses.is_empty() {
            ensure!(self.nodes.count >= 1, "nodes.count must be at least 1");
        } else {
            ensure!(
                self.nodes.kind == NodeKind::Switchboard,
                "given addresses are switchboard nodes"
            );
            self.nodes.count = self.nodes.addresses.len();
        }
        Ok(self)
    }

    /// The same scenario against the floor.
    pub fn floor(&self) -> Scenario {
        let mut s = self.clone();
        s.nodes.kind = NodeKind::Floor;
        s.nodes.addresses.clear();
        s.compare_floor = false;
        s
    }

    /// What the senders' sends are.
    pub fn mix(&self) -> Mix {
        Mix {
            reactions_percent: self.reactions_percent,
            receipts_percent: self.receipts_percent,
        }
    }

    /// Whether started switchboard nodes need Redis and Postgres.
    pub fn clustered(&self) -> bool {
        self.nodes.kind == NodeKind::Switchboard
            && self.nodes.addresses.is_empty()
            && (self.nodes.count > 1 || self.nodes.cluster)
    }
}

/// Which sends of a sender are reactions and read marks: spread evenly over its sends, so
/// every 100 consecutive sends hold exactly the scenario's shares.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mix {
    pub reactions_percent: u8,
    pub receipts_percent: u8,
}

/// What one send of a sender is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SendKind {
    Message,
    Reaction,
    Receipt,
}

impl Mix {
    /// The kind of a sender's send number `n` (1, 2, 3…): the n-th is a change (a reaction or
    /// a read mark) when the changes' share of the first n sends reaches another whole one,
    /// and the j-th change is a reaction the same way by the reactions' share of changes.
    pub fn kind(&self, n: u64) -> SendKind {
        let changes = u64::from(self.reactions_percent) + u64::from(self.receipts_percent);
        let reached = |n: u64, part: u64, whole: u64| n * part / whole > (n - 1) * part / whole;
        if n == 0 || changes == 0 || !reached(n, changes, 100) {
            return SendKind::Message;
        }
        let j = n * changes / 100;
        if reached(j, u64::from(self.reactions_percent), changes) {
            SendKind::Reaction
        } else {
            SendKind::Receipt
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preset_resolves() {
        for (name, _) in PRESETS {
            Scenario::preset(name).unwrap().resolve().unwrap();
        }
        let h = Scenario::preset("headline").unwrap().resolve().unwrap();
        assert_eq!((h.workers, h.sources), (6, 25));
    }

    #[test]
    fn every_scenario_file_resolves() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
        let mut seen = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            Scenario::from_file(&path).unwrap().resolve().unwrap();
            seen += 1;
        }
        assert!(seen >= 5, "{seen} scenario files");
        let cognito = Scenario::from_file(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/storm-cognito.toml"),
        )
        .unwrap();
        assert_eq!(cognito.identity, Identity::Cognito);
        let mut given = cognito.clone();
        given.nodes.addresses = vec!["127.0.0.1:1".into()];
        assert!(
            given.resolve().is_err(),
            "Cognito runs start their own nodes"
        );
    }

    #[test]
    fn unknown_keys_are_refused() {
        let err = toml::from_str::<Scenario>("sockets = 10\nsocket = 3").unwrap_err();
        assert!(err.to_string().contains("unknown field"), "{err}");
        let err = toml::from_str::<Scenario>("[nodes]\ncont = 3").unwrap_err();
        assert!(err.to_string().contains("unknown field"), "{err}");
        let s: Scenario = toml::from_str(
            "sockets = 10\nroom_size = { kind = \"weighted\", sizes = [[2, 1], [5, 3]] }",
        )
        .unwrap();
        assert_eq!(s.sockets, 10);
    }

    #[test]
    fn reactions_and_receipts_are_read_and_bounded() {
        let s: Scenario = toml::from_str("reactions_percent = 15\nreceipts_percent = 15").unwrap();
        assert_eq!(
            s.mix(),
            Mix {
                reactions_percent: 15,
                receipts_percent: 15
            }
        );
        s.resolve().unwrap();
        let over: Scenario =
            toml::from_str("reactions_percent = 60\nreceipts_percent = 41").unwrap();
        assert!(over.resolve().is_err(), "more than all sends");
        assert!(toml::from_str::<Scenario>("reactions_percent = 300").is_err());
        assert_eq!(Scenario::default().mix(), Mix::default());
    }

    #[test]
    fn the_mix_holds_its_shares_in_every_hundred_sends() {
        let count = |mix: Mix, from: u64, kind: SendKind| {
            (from..from + 100).filter(|n| mix.kind(*n) == kind).count()
        };
        for (reactions_percent, receipts_percent) in
            [(15, 15), (30, 0), (0, 30), (7, 13), (100, 0), (50, 50)]
        {
            let mix = Mix {
                reactions_percent,
                receipts_percent,
            };
            for from in [1, 37, 1_000] {
                assert_eq!(
                    count(mix, from, SendKind::Reaction),
                    usize::from(reactions_percent)
                );
                assert_eq!(
                    count(mix, from, SendKind::Receipt),
                    usize::from(receipts_percent)
                );
            }
        }
        assert!((1..1_000).all(|n| Mix::default().kind(n) == SendKind::Message));
        // Spread, not bunched: at 30% no two changes in a row.
        let mix = Mix {
            reactions_percent: 15,
            receipts_percent: 15,
        };
        assert!(
            (1..1_000)
                .all(|n| mix.kind(n) == SendKind::Message || mix.kind(n + 1) == SendKind::Message)
        );
    }
}
