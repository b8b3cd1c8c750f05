//! The end of a run: a JSON report (the scenario, the commit, every figure), a Markdown
//! summary and a chart, side by side in one directory.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::scenario::{NodeKind, Scenario};
use crate::wire::Counts;

/// What one run (the scenario, or its floor) measured.
pub struct Outcome {
    pub kind: NodeKind,
    pub nodes: usize,
    pub rooms: usize,
    pub setup_secs: f64,
    pub connect_secs: f64,
    /// The wait after the connect phase until the nodes' CPU settled.
    pub settle_secs: f64,
    pub counts: Counts,
    pub expected: u64,
    pub latency: Histogram<u64>,
    pub connect: Histogram<u64>,
    pub node_usage: Vec<ProcUsage>,
    pub worker_usage: Vec<ProcUsage>,
    pub redis: Option<ProcUsage>,
    pub postgres: Option<ProcUsage>,
    pub timeline: Vec<Sample>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ProcUsage {
    pub name: String,
    pub pid: u32,
    /// CPU seconds while the sockets connected and joined, and until the nodes settled.
    pub cpu_connect_secs: f64,
    /// CPU seconds from `go` to the end of the drain (the sockets close after it).
    pub cpu_traffic_secs: f64,
    pub rss_kib_before_connect: u64,
    /// Once every socket joined, before any traffic.
    pub rss_kib_idle: u64,
    pub rss_kib_peak: u64,
}

/// One second of the run.
#[derive(Clone, Debug, Serialize)]
pub struct Sample {
    /// Seconds since the first worker started connecting.
    pub t: f64,
    pub phase: String,
    pub connected: u64,
    pub sent_per_sec: f64,
    pub delivered_per_sec: f64,
    /// Send → deliver percentiles of this second's deliveries.
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// Per node, 100 = one core.
    pub node_cpu_pct: Vec<f64>,
    pub node_rss_mib: f64,
    pub worker_cpu_pct: f64,
    pub redis_cpu_pct: f64,
    pub postgres_cpu_pct: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Percentiles {
    pub count: u64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

impl Percentiles {
    fn of(h: &Histogram<u64>) -> Percentiles {
        let ms = |q: f64| h.value_at_quantile(q) as f64 / 1e3;
        Percentiles {
            count: h.len(),
            p50_ms: ms(0.5),
            p90_ms: ms(0.9),
            p99_ms: ms(0.99),
            p999_ms: ms(0.999),
            max_ms: h.max() as f64 / 1e3,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct Summary {
    pub kind: NodeKind,
    pub nodes: usize,
    pub rooms: usize,
    pub setup_secs: f64,
    pub connect_secs: f64,
    pub settle_secs: f64,
    pub connects_per_sec: f64,
    pub counts: Counts,
    /// Deliveries the acknowledged sends owed (each to every member of its room).
    pub expected: u64,
    pub missing: u64,
    /// Unique deliveries beyond the expected (sends delivered whose answer never came).
    pub extra: u64,
    pub unexpected_disconnects: u64,
    pub latency: Percentiles,
    /// Connect + authenticate + join (+ watch), per socket.
    pub connect: Percentiles,
    /// Deliveries per CPU-second of all nodes together, over the traffic. `None` (not
    /// measured) for nodes the run did not start (`addresses`): their processes are not ours
    /// to read.
    pub deliveries_per_node_cpu_sec: Option<f64>,
    /// Sockets connected, authenticated and joined per CPU-second of all nodes together, over
    /// the connect phase: what a connect costs a node, whatever limits the clients.
    pub connects_per_node_cpu_sec: Option<f64>,
    /// Node memory growth while connecting, per connected socket (all nodes together).
    pub idle_bytes_per_connection: Option<f64>,
    pub node_usage: Vec<ProcUsage>,
    pub worker_usage: Vec<ProcUsage>,
    pub redis: Option<ProcUsage>,
    pub postgres: Option<ProcUsage>,
    pub timeline: Vec<Sample>,
}

impl Summary {
    pub fn of(o: Outcome) -> Summary {
        let c = &o.counts;
        let node_cpu: f64 = o.node_usage.iter().map(|u| u.cpu_traffic_secs).sum();
        let connect_cpu: f64 = o.node_usage.iter().map(|u| u.cpu_connect_secs).sum();
        let grown: u64 = o
            .node_usage
            .iter()
            .map(|u| u.rss_kib_idle.saturating_sub(u.rss_kib_before_connect))
            .sum();
        let measured = !o.node_usage.is_empty();
        let per = |n: f64, d: f64| measured.then(|| n / d);
        Summary {
            kind: o.kind,
            nodes: o.nodes,
            rooms: o.rooms,
            setup_secs: o.setup_secs,
            connect_secs: o.connect_secs,
            settle_secs: o.settle_secs,
            connects_per_sec: c.connected as f64 / o.connect_secs.max(1e-3),
            expected: o.expected,
            missing: o.expected.saturating_sub(c.delivered),
            extra: c.delivered.saturating_sub(o.expected),
            // A socket of a killed node that reconnected elsewhere was expected to drop.
            unexpected_disconnects: c
                .disconnects
                .values()
                .sum::<u64>()
                .saturating_sub(c.reconnected),
            latency: Percentiles::of(&o.latency),
            connect: Percentiles::of(&o.connect),
            deliveries_per_node_cpu_sec: per(c.delivered as f64, node_cpu.max(1e-3)),
            connects_per_node_cpu_sec: per(c.connected as f64, connect_cpu.max(1e-3)),
            idle_bytes_per_connection: per(grown as f64 * 1024.0, c.connected.max(1) as f64),
            counts: o.counts,
            node_usage: o.node_usage,
            worker_usage: o.worker_usage,
            redis: o.redis,
            postgres: o.postgres,
            timeline: o.timeline,
        }
    }

    /// Whether every socket connected, every command was answered without an error, and
    /// every delivery came once, in order, with no disconnect.
    pub fn clean(&self) -> bool {
        self.counts.connect_failed == 0
            && self.counts.errors.is_empty()
            && self.counts.unanswered == 0
            && self.missing == 0
            && self.counts.duplicated == 0
            && self.counts.reordered == 0
            && self.unexpected_disconnects == 0
    }
}

/// The scenario's figures over the floor's, measured in the same run; `None` where the floor's
/// figure is zero (no deliveries in an idle scenario).
#[derive(Debug, Serialize)]
pub struct Ratios {
    pub deliveries_per_node_cpu_sec: Option<f64>,
    pub idle_bytes_per_connection: Option<f64>,
    pub p99_latency_diff_ms: f64,
}

fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    let (a, b) = (a?, b?);
    (b > 0.0 && a > 0.0).then(|| a / b)
}

/// A figure, or "not measured" where the run could not read it.
fn measured(v: Option<f64>) -> String {
    v.map_or_else(|| "not measured".into(), |v| format!("{v:.0}"))
}

#[derive(Debug, Serialize)]
pub struct FullReport {
    pub scenario: Scenario,
    pub commit: String,
    pub date: String,
    pub machine: String,
    pub command: String,
    pub clean: bool,
    pub run: Summary,
    pub floor: Option<Summary>,
    pub ratios: Option<Ratios>,
}

impl FullReport {
    pub fn new(scenario: Scenario, run: Summary, floor: Option<Summary>) -> FullReport {
        let ratios = floor.as_ref().map(|f| Ratios {
            deliveries_per_node_cpu_sec: ratio(
                run.deliveries_per_node_cpu_sec,
                f.deliveries_per_node_cpu_sec,
            ),
            idle_bytes_per_connection: ratio(
                run.idle_bytes_per_connection,
                f.idle_bytes_per_connection,
            ),
            p99_latency_diff_ms: run.latency.p99_ms - f.latency.p99_ms,
        });
        FullReport {
            scenario,
            commit: shell("git rev-parse HEAD"),
            date: shell("date -u +%Y-%m-%dT%H:%M:%SZ"),
            machine: shell(
                "echo \"$(nproc) cores, $(awk '/MemTotal/ {printf \"%.0f GiB\", $2/1048576}' /proc/meminfo), $(uname -sr)\"",
            ),
            command: std::env::args().collect::<Vec<_>>().join(" "),
            clean: run.clean(),
            run,
            floor,
            ratios,
        }
    }

    /// Writes `<name>.json`, `<name>.md` and `<name>.png` into `dir`; the paths written.
    pub fn write(&self, dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
        std::fs::create_dir_all(dir)?;
        let name = &self.scenario.name;
        let json = dir.join(format!("{name}.json"));
        std::fs::write(&json, serde_json::to_vec_pretty(self)?)?;
        let md = dir.join(format!("{name}.md"));
        std::fs::write(&md, self.markdown(&format!("{name}.png")))?;
        let png = dir.join(format!("{name}.png"));
        crate::chart::draw(&png, &self.run, self.floor.as_ref())?;
        Ok(vec![json, md, png])
    }

    pub fn markdown(&self, chart: &str) -> String {
        let mut md = String::new();
        let s = &self.scenario;
        let _ = writeln!(md, "# switchboard-load: {}\n", s.name);
        let _ = writeln!(
            md,
            "`{}` at `{}`, {}, {}.\n",
            self.command, self.commit, self.date, self.machine
        );
        let _ = writeln!(
            md,
            "{} sockets, {} room(s) each, members per room {:?}, {:.2}% senders at {} msg/s (window {}), {} B messages ({}% of sends reactions, {}% read marks), {} watched each, ramp {} /s, hold {} s, {} worker(s), {} source address(es), {} {:?} node(s), {:?} identity. **Clean: {}**\n",
            s.sockets,
            s.rooms_per_socket,
            s.room_size,
            s.sender_share * 100.0,
            s.send_rate,
            s.window,
            s.message_bytes,
            s.reactions_percent,
            s.receipts_percent,
            s.presence_watch,
            s.ramp_per_sec,
            s.hold_secs,
            s.workers,
            s.sources,
            s.nodes.count,
            s.nodes.kind,
            s.identity,
            self.clean,
        );
        let runs: Vec<&Summary> = std::iter::once(&self.run).chain(&self.floor).collect();
        let _ = writeln!(
            md,
            "| | {} |",
            runs.iter()
                .map(|r| format!("{:?}", r.kind))
                .collect::<Vec<_>>()
                .join(" | ")
        );
        let _ = writeln!(md, "|---|{}", "---|".repeat(runs.len()));
        let row = |md: &mut String, name: &str, f: &dyn Fn(&Summary) -> String| {
            let _ = writeln!(
                md,
                "| {name} | {} |",
                runs.iter().map(|r| f(r)).collect::<Vec<_>>().join(" | ")
            );
        };
        row(&mut md, "connected / failed", &|r| {
            format!("{} / {}", r.counts.connected, r.counts.connect_failed)
        });
        row(&mut md, "connect phase", &|r| {
            format!("{:.1} s ({:.0}/s)", r.connect_secs, r.connects_per_sec)
        });
        row(&mut md, "settling before the traffic", &|r| {
            format!("{:.1} s", r.settle_secs)
        });
        row(&mut md, "connect+auth+join p50 / p99", &|r| {
            format!("{:.1} / {:.1} ms", r.connect.p50_ms, r.connect.p99_ms)
        });
        row(&mut md, "sent / acknowledged / unanswered", &|r| {
            format!(
                "{} / {} / {}",
                r.counts.sent, r.counts.acked, r.counts.unanswered
            )
        });
        row(&mut md, "deliveries expected / delivered", &|r| {
            format!("{} / {}", r.expected, r.counts.delivered)
        });
        row(&mut md, "missing / duplicated / reordered", &|r| {
            format!(
                "{} / {} / {}",
                r.missing, r.counts.duplicated, r.counts.reordered
            )
        });
        row(&mut md, "send→deliver p50 / p99 / p99.9 / max", &|r| {
            format!(
                "{:.2} / {:.2} / {:.2} / {:.1} ms",
                r.latency.p50_ms, r.latency.p99_ms, r.latency.p999_ms, r.latency.max_ms
            )
        });
        row(&mut md, "deliveries per node CPU-second", &|r| {
            measured(r.deliveries_per_node_cpu_sec)
        });
        row(&mut md, "idle bytes per connection (nodes)", &|r| {
            measured(r.idle_bytes_per_connection)
        });
        row(&mut md, "connects per node CPU-second", &|r| {
            measured(r.connects_per_node_cpu_sec)
        });
        row(&mut md, "node CPU s (connect / traffic)", &|r| {
            if r.node_usage.is_empty() {
                return "not measured".into();
            }
            format!(
                "{:.1} / {:.1}",
                r.node_usage.iter().map(|u| u.cpu_connect_secs).sum::<f64>(),
                r.node_usage.iter().map(|u| u.cpu_traffic_secs).sum::<f64>()
            )
        });
        row(&mut md, "node RSS peak (MiB, all)", &|r| {
            if r.node_usage.is_empty() {
                return "not measured".into();
            }
            format!(
                "{:.0}",
                r.node_usage.iter().map(|u| u.rss_kib_peak).sum::<u64>() as f64 / 1024.0
            )
        });
        row(&mut md, "worker CPU s / RSS peak MiB", &|r| {
            format!(
                "{:.1} / {:.0}",
                r.worker_usage
                    .iter()
                    .map(|u| u.cpu_connect_secs + u.cpu_traffic_secs)
                    .sum::<f64>(),
                r.worker_usage.iter().map(|u| u.rss_kib_peak).sum::<u64>() as f64 / 1024.0
            )
        });
        row(&mut md, "Redis / Postgres CPU s (traffic)", &|r| {
            format!(
                "{} / {}",
                r.redis
                    .as_ref()
                    .map_or("-".into(), |u| format!("{:.1}", u.cpu_traffic_secs)),
                r.postgres
                    .as_ref()
                    .map_or("-".into(), |u| format!("{:.1}", u.cpu_traffic_secs))
            )
        });
        row(&mut md, "errors by code", &|r| {
            format!("{:?}", r.counts.errors)
        });
        row(
            &mut md,
            "busy answers and failed reconnects, tried again",
            &|r| format!("{:?}", r.counts.retries),
        );
        row(&mut md, "disconnects by code", &|r| {
            format!("{:?}", r.counts.disconnects)
        });
        row(&mut md, "presence events", &|r| {
            r.counts.presence_events.to_string()
        });
        if self.scenario.kill_node_after_secs > 0 {
            row(
                &mut md,
                &format!(
                    "reconnected and rejoined after {} node(s) were killed / slowest",
                    self.scenario.kill_nodes
                ),
                &|r| {
                    format!(
                        "{} / {} ms",
                        r.counts.reconnected, r.counts.reconnect_max_ms
                    )
                },
            );
        }
        if let Some(q) = &self.ratios {
            let x = |r: Option<f64>| r.map_or("-".into(), |r| format!("{r:.2}×"));
            let _ = writeln!(
                md,
                "\nAgainst the floor in the same run: {} its deliveries per node CPU-second, {} its idle bytes per connection, p99 {:+.2} ms.",
                x(q.deliveries_per_node_cpu_sec),
                x(q.idle_bytes_per_connection),
                q.p99_latency_diff_ms
            );
        }
        let _ = writeln!(
            md,
            "\n![latency, throughput and node CPU over time]({chart})"
        );
        md
    }
}

/// Where and when a report was made: commit, date, machine and the command line.
#[derive(Serialize)]
pub struct Stamp {
    pub commit: String,
    pub date: String,
    pub machine: String,
    pub command: String,
}

impl Stamp {
    pub fn now() -> Stamp {
        Stamp {
            commit: shell("git rev-parse HEAD"),
            date: shell("date -u +%Y-%m-%dT%H:%M:%SZ"),
            machine: shell(
                "echo \"$(nproc) cores, $(awk '/MemTotal/ {printf \"%.0f GiB\", $2/1048576}' /proc/meminfo), $(uname -sr)\"",
            ),
            command: std::env::args().collect::<Vec<_>>().join(" "),
        }
    }

    /// Writes `<name>.json` (this stamp beside `figures`) and `<name>.md` (a heading with the
    /// command, then `body`) into `dir`.
    pub fn write(
        &self,
        dir: &Path,
        name: &str,
        figures: &impl Serialize,
        body: &str,
    ) -> anyhow::Result<()> {
        std::fs::create_dir_all(dir)?;
        let json = dir.join(format!("{name}.json"));
        let value = serde_json::json!({ "stamp": self, "figures": figures });
        std::fs::write(&json, serde_json::to_vec_pretty(&value)?)?;
        let md = dir.join(format!("{name}.md"));
        std::fs::write(
            &md,
            format!(
                "# switchboard-load: {name}\n\n`{}` at `{}`, {}, {}.\n\n{body}\n",
                self.command, self.commit, self.date, self.machine
            ),
        )?;
        eprintln!("wrote {} and {}", json.display(), md.display());
        Ok(())
    }
}

/// The lines a subcommand prints, kept for its report files.
#[derive(Default)]
pub struct Transcript(Vec<String>);

impl Transcript {
    pub fn say(&mut self, line: String) {
        println!("{line}");
        self.0.push(line);
    }

    /// Writes `<name>.json` (the figures of its `RESULT key=value ...` lines, and every line)
    /// and `<name>.md` (the lines) into `dir`.
    pub fn write(&self, dir: &Path, name: &str) -> anyhow::Result<()> {
        let result: serde_json::Map<String, serde_json::Value> = self
            .0
            .iter()
            .filter_map(|l| l.strip_prefix("RESULT "))
            .flat_map(str::split_whitespace)
            .filter_map(|kv| {
                let (k, v) = kv.split_once('=')?;
                let v = v.parse::<f64>().map_or(v.into(), serde_json::Value::from);
                Some((k.to_owned(), v))
            })
            .collect();
        let figures = serde_json::json!({ "result": result, "lines": self.0 });
        let body = format!("```\n{}\n```", self.0.join("\n"));
        Stamp::now().write(dir, name, &figures, &body)
    }
}

fn shell(cmd: &str) -> String {
    std::process::Command::new("sh")
        .args(["-c", cmd])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into())
}
