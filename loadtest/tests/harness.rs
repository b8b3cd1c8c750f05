//! The harness end to end: a tiny scenario against a real node over loopback sockets, and its
//! command line.

use std::path::PathBuf;
use std::process::Command;

fn harness() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_switchboard-load"))
}

/// The node binary beside the harness (`cargo test --workspace` builds both).
fn node_binary() -> PathBuf {
    let node = harness().with_file_name("switchboard");
    assert!(
        node.metadata().is_ok_and(|m| m.len() > 0),
        "{} missing: cargo build -p switchboard --bin switchboard",
        node.display()
    );
    node
}

#[test]
fn tiny_scenario_delivers_everything_once_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("tiny.toml");
    std::fs::write(
        &scenario,
        format!(
            r#"name = "tiny"
sockets = 50
room_size = {{ kind = "uniform", min = 5, max = 20 }}
sender_share = 0.1
send_rate = 5.0
presence_watch = 1
hold_secs = 3
workers = 1
[nodes]
count = 1
server = {:?}
"#,
            node_binary()
        ),
    )
    .unwrap();
    let out = Command::new(harness())
        .args(["run", "--file"])
        .arg(&scenario)
        .arg("--out")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("tiny.json")).unwrap()).unwrap();
    let run = &report["run"];
    assert_eq!(run["counts"]["connected"], 50, "{run:#}");
    assert!(run["counts"]["acked"].as_u64().unwrap() > 0, "{run:#}");
    assert!(run["expected"].as_u64().unwrap() > 0, "{run:#}");
    assert_eq!(run["counts"]["delivered"], run["expected"], "{run:#}");
    for zero in ["missing", "extra", "unexpected_disconnects"] {
        assert_eq!(run[zero], 0, "{zero}: {run:#}");
    }
    for zero in ["duplicated", "reordered", "connect_failed", "unanswered"] {
        assert_eq!(run["counts"][zero], 0, "{zero}: {run:#}");
    }
    assert_eq!(report["clean"], true);
    assert_eq!(report["scenario"]["sockets"], 50);
    assert_eq!(report["commit"].as_str().unwrap().len(), 40);
    assert!(dir.path().join("tiny.md").exists());
    assert!(dir.path().join("tiny.png").metadata().unwrap().len() > 1_000);
}

#[test]
fn help_names_every_subcommand_and_version_answers() {
    let version = Command::new(harness()).arg("--version").output().unwrap();
    assert!(version.status.success());
    assert!(String::from_utf8_lossy(&version.stdout).starts_with("switchboard-load "));
    let help = Command::new(harness()).arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout).into_owned();
    for line in [
        "run ",
        "presets ",
        "idle ",
        "fanout ",
        "sent ",
        "cluster ",
        "pg-write ",
        "pg-history ",
        "floor-server ",
        "worker ",
    ] {
        let described = help
            .lines()
            .any(|l| l.trim_start().starts_with(line) && l.trim().len() > line.len() + 5);
        assert!(described, "{line:?} undocumented in:\n{help}");
    }
    assert!(help.contains("Write-behind into Postgres"));
}

#[test]
fn unknown_scenario_keys_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("typo.toml");
    std::fs::write(&scenario, "sockets = 10\nhold_sec = 3\n").unwrap();
    let out = Command::new(harness())
        .args(["run", "--file"])
        .arg(&scenario)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown field"));
}

/// Against nodes it did not start, the harness cannot read their CPU or memory: it says
/// "not measured" rather than dividing by nothing, and says what it leaves on them.
#[test]
fn given_addresses_report_node_figures_as_not_measured() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut node = Command::new(node_binary())
        .arg("serve")
        .env("SWITCHBOARD_LISTEN", format!("127.0.0.1:{port}"))
        .env("SWITCHBOARD_DATA_DIR", dir.path().join("data"))
        .env("SWITCHBOARD_AUTH__ARGON2_MEMORY_KIB", "64")
        .env("SWITCHBOARD_AUTH__ARGON2_ITERATIONS", "1")
        .env("SWITCHBOARD_LOG", "warn")
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(started.elapsed().as_secs() < 20, "node never listened");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let scenario = dir.path().join("given.toml");
    std::fs::write(
        &scenario,
        "name = \"given\"\nsockets = 20\nsender_share = 0.2\nsend_rate = 5.0\nhold_secs = 2\nworkers = 1\n",
    )
    .unwrap();
    let out = Command::new(harness())
        .args(["run", "--file"])
        .arg(&scenario)
        .args(["--addresses", &format!("127.0.0.1:{port}"), "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    let _ = node.kill();
    let _ = node.wait();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("stay on the given nodes"), "{stderr}");
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("given.json")).unwrap()).unwrap();
    let run = &report["run"];
    assert!(run["counts"]["delivered"].as_u64().unwrap() > 0, "{run:#}");
    for figure in [
        "deliveries_per_node_cpu_sec",
        "connects_per_node_cpu_sec",
        "idle_bytes_per_connection",
    ] {
        assert!(run[figure].is_null(), "{figure}: {}", run[figure]);
    }
    let md = std::fs::read_to_string(dir.path().join("given.md")).unwrap();
    assert!(md.contains("not measured"), "{md}");
}
