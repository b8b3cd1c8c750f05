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
