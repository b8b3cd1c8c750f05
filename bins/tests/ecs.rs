//! A node on ECS: with `cluster.advertise` unset and `ECS_CONTAINER_METADATA_URI_V4` set, it
//! reads its task's private IP from the task metadata endpoint at start and joins the cluster
//! as that IP with its listen port. Real `switchboard serve` processes against a local
//! stand-in of the endpoint (an HTTP server answering container metadata) and the test Redis.

mod support;

use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use support::cluster::{Reaped, free_port, redis_url, serve_command, wait_healthy};
use switchboard_persistence::cluster::redis::RedisMembership;

/// The task's address in the stand-in's answers.
const TASK_IP: &str = "10.11.12.13";

/// A stand-in of the metadata endpoint on 127.0.0.1: `GET /v4/{id}` answers `status` with a
/// Fargate container's metadata naming [`TASK_IP`]; it records the paths asked for.
struct Metadata {
    uri: String,
    asked: Asked,
}

impl Metadata {
    async fn start(status: StatusCode) -> Metadata {
        let asked = Arc::new(Mutex::new(Vec::new()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let uri = format!("http://{}/v4/1f2e3d-task", listener.local_addr().unwrap());
        let router = Router::new()
            .route("/v4/{id}", get(answer))
            .with_state((asked.clone(), status));
        tokio::spawn(async move { axum::serve(listener, router).await });
        Metadata { uri, asked }
    }

    fn asked(&self) -> Vec<String> {
        self.asked.lock().unwrap().clone()
    }
}

type Asked = Arc<Mutex<Vec<String>>>;

async fn answer(
    State((asked, status)): State<(Asked, StatusCode)>,
    Path(id): Path<String>,
) -> (StatusCode, String) {
    asked.lock().unwrap().push(format!("/v4/{id}"));
    let body = serde_json::json!({
        "DockerId": "cd189a933e5849daa93386466019ab50-2495160603",
        "Name": "switchboard",
        "Networks": [{
            "NetworkMode": "awsvpc",
            "IPv4Addresses": [TASK_IP],
            "IPv4SubnetCIDRBlock": "10.11.12.0/24",
            "PrivateDNSName": "ip-10-11-12-13.eu-west-1.compute.internal"
        }]
    });
    (status, body.to_string())
}

/// `switchboard serve` in a cluster (the test Redis, a key prefix of its own) on `listen`.
fn node(prefix: &str, listen: &str, data: &std::path::Path) -> Command {
    let mut cmd = serve_command();
    cmd.env("SWITCHBOARD_LISTEN", listen)
        .env("SWITCHBOARD_DATA_DIR", data)
        .env("SWITCHBOARD_CLUSTER__REDIS_URL", redis_url())
        .env("SWITCHBOARD_CLUSTER__KEY_PREFIX", prefix)
        .env("SWITCHBOARD_LOG", "warn")
        .env_remove("ECS_CONTAINER_METADATA_URI_V4");
    cmd
}

fn redis() -> redis::Connection {
    redis::Client::open(redis_url())
        .unwrap()
        .get_connection()
        .unwrap()
}

/// The cluster's members and the address each advertises, as other nodes read them.
fn members(prefix: &str) -> Vec<(String, String)> {
    let [members, addrs, _] = RedisMembership::keys(prefix);
    let mut conn = redis();
    let ids: Vec<String> = redis::cmd("ZRANGE")
        .arg(&members)
        .arg(0)
        .arg(-1)
        .query(&mut conn)
        .unwrap();
    ids.into_iter()
        .map(|id| {
            let addr: String = redis::cmd("HGET")
                .arg(&addrs)
                .arg(&id)
                .query(&mut conn)
                .unwrap();
            (id, addr)
        })
        .collect()
}

/// Deletes a run's keys when dropped (the Redis is shared and outlives runs).
struct Keys(String);

impl Drop for Keys {
    fn drop(&mut self) {
        let keys = RedisMembership::keys(&self.0);
        let _ = redis::cmd("DEL").arg(&keys).query::<()>(&mut redis());
    }
}

fn prefix(test: &str) -> String {
    format!("sbtest-ecs-{test}-{}", std::process::id())
}

fn sigterm(child: &std::process::Child) {
    let ok = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
}

/// Runs a node that is expected to refuse to start; its output, once it has exited.
async fn refused(mut cmd: Command) -> Output {
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    assert!(!out.status.success(), "the node started");
    out
}

#[tokio::test]
async fn a_node_on_ecs_joins_the_cluster_as_its_task_s_private_ip_and_listen_port() {
    let metadata = Metadata::start(StatusCode::OK).await;
    let prefix = prefix("joins");
    let _keys = Keys(prefix.clone());
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    // As in the image: every interface, which names no task.
    let mut child = Reaped(
        node(&prefix, &format!("0.0.0.0:{port}"), data.path())
            .env("ECS_CONTAINER_METADATA_URI_V4", &metadata.uri)
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_healthy(port, "the ECS node").await;
    let advertised = format!("{TASK_IP}:{port}");
    let started = Instant::now();
    while members(&prefix).is_empty() {
        assert!(started.elapsed() < Duration::from_secs(5), "never joined");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Its id and its address are the task's: distinct per task, with no per-task setting.
    assert_eq!(members(&prefix), [(advertised.clone(), advertised)]);
    // The container's own metadata, read once.
    assert_eq!(metadata.asked(), ["/v4/1f2e3d-task"]);

    sigterm(&child.0);
    let status = tokio::task::spawn_blocking(move || child.0.wait().unwrap())
        .await
        .unwrap();
    assert!(status.success(), "{status}");
    assert_eq!(members(&prefix), [], "a graceful leave removes the lease");
}

#[tokio::test]
async fn cluster_advertise_wins_over_the_task_metadata() {
    let metadata = Metadata::start(StatusCode::OK).await;
    let prefix = prefix("advertise");
    let _keys = Keys(prefix.clone());
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let _child = Reaped(
        node(&prefix, &format!("0.0.0.0:{port}"), data.path())
            .env("ECS_CONTAINER_METADATA_URI_V4", &metadata.uri)
            .env("SWITCHBOARD_CLUSTER__ADVERTISE", "node-a.internal:8080")
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_healthy(port, "the node").await;
    let started = Instant::now();
    while members(&prefix).is_empty() {
        assert!(started.elapsed() < Duration::from_secs(5), "never joined");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let advertised = "node-a.internal:8080".to_owned();
    assert_eq!(members(&prefix), [(advertised.clone(), advertised)]);
    assert_eq!(metadata.asked(), Vec::<String>::new());
}

#[tokio::test]
async fn a_node_whose_task_metadata_cannot_be_read_refuses_to_start_and_says_why() {
    let metadata = Metadata::start(StatusCode::NOT_FOUND).await;
    let data = tempfile::tempdir().unwrap();
    let mut cmd = node(
        &prefix("refused"),
        &format!("0.0.0.0:{}", free_port()),
        data.path(),
    );
    cmd.env("ECS_CONTAINER_METADATA_URI_V4", &metadata.uri);
    let out = refused(cmd).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("ECS task metadata") && stderr.contains("404"),
        "{stderr}"
    );
}

#[tokio::test]
async fn a_cluster_node_on_a_wildcard_address_without_advertise_refuses_to_start() {
    // Every such node would take the id `0.0.0.0:PORT`: the same id for all.
    let data = tempfile::tempdir().unwrap();
    let cmd = node(
        &prefix("wildcard"),
        &format!("0.0.0.0:{}", free_port()),
        data.path(),
    );
    let out = refused(cmd).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("set cluster.advertise"), "{stderr}");
}
