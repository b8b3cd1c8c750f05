//! The `switchboard` binary as an operator runs it: start-up time, HTTP routes, and SIGTERM
//! under a send load followed by a restart, with every acknowledged message still stored.

use std::collections::HashSet;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use switchboard_client::Client;
use switchboard_engine::protocol::{ServerFrame, Visibility};
use switchboard_engine::{Position, close};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn switchboard(data: &Path, port: u16) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_switchboard"));
    cmd.env("SWITCHBOARD_LISTEN", format!("127.0.0.1:{port}"))
        .env("SWITCHBOARD_DATA_DIR", data)
        .env("SWITCHBOARD_AUTH__ARGON2_MEMORY_KIB", "256")
        .env("SWITCHBOARD_AUTH__ARGON2_ITERATIONS", "1")
        .env("SWITCHBOARD_LOG", "warn");
    cmd
}

/// Starts `serve` and returns once `/healthz` answers, with the time that took.
async fn serve(data: &Path, port: u16) -> (Child, Duration) {
    let started = Instant::now();
    let child = switchboard(data, port)
        .arg("serve")
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    while http(port, "GET", "/healthz", "").await.0 != 200 {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "server never became ready"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    (child, started.elapsed())
}

/// An HTTP request with a JSON body; (status, body). Status 0 when nothing listens.
async fn http(port: u16, method: &str, path: &str, body: &str) -> (u16, String) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let response = reqwest::Client::new()
        .request(method, format!("http://127.0.0.1:{port}{path}"))
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await;
    match response {
        Ok(r) => (r.status().as_u16(), r.text().await.unwrap_or_default()),
        Err(_) => (0, String::new()),
    }
}

/// Signs `name` up with a fixed password and returns its token.
async fn sign_up(port: u16, name: &str) -> String {
    let body = format!(r#"{{"name":"{name}","password":"hunter2hunter2"}}"#);
    let (status, body) = http(port, "POST", "/api/signup", &body).await;
    assert_eq!(status, 200, "{body}");
    let session: serde_json::Value = serde_json::from_str(&body).unwrap();
    session["token"].as_str().unwrap().to_owned()
}

fn sigterm(child: &Child) {
    let ok = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
}

#[tokio::test]
async fn acknowledged_messages_survive_sigterm_and_restart() {
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let (mut child, ready_in) = serve(data.path(), port).await;
    eprintln!("ready in {ready_in:?}");
    assert!(ready_in < Duration::from_secs(2), "ready in {ready_in:?}");
    assert_eq!(http(port, "GET", "/readyz", "").await.0, 200);
    let (status, page) = http(port, "GET", "/", "").await;
    assert!(status == 200 && page.contains("<html"), "web page served");

    let token = sign_up(port, "op").await;
    let (status, _) = http(
        port,
        "POST",
        "/api/signup",
        r#"{"name":"op","password":"hunter2hunter2"}"#,
    )
    .await;
    assert_eq!(status, 409);
    assert_eq!(
        http(
            port,
            "POST",
            "/api/signin",
            r#"{"name":"op","password":"wrong-password"}"#
        )
        .await
        .0,
        401
    );
    assert_eq!(
        http(
            port,
            "POST",
            "/api/signin",
            r#"{"name":"op","password":"hunter2hunter2"}"#
        )
        .await
        .0,
        200
    );

    let url = format!("ws://127.0.0.1:{port}/ws");
    let admin = Client::connect(&url, Some(&token)).await.unwrap();
    let room = admin
        .create_room("durable", Visibility::Public)
        .await
        .unwrap();

    // Four senders send as fast as acknowledgements come back.
    let mut senders = Vec::new();
    for s in 0..4 {
        let mut c = Client::connect(&url, Some(&token)).await.unwrap();
        c.join(room, None).await.unwrap();
        senders.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            let mut i = 0;
            while let Ok(sent) = c.send(room, &format!("s{s}-{i}"), "payload").await {
                acked.push((sent.cmid, sent.pos));
                i += 1;
            }
            // The node said goodbye with 1012 (restart), unless the socket was already gone.
            let mut code = c.close_frame().map(|c| c.0);
            while let Some(f) = c.event_within(Duration::from_secs(2)).await {
                if let ServerFrame::Disconnect(d) = f {
                    code = Some(d.code);
                }
            }
            (acked, code)
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    sigterm(&child);
    let exit = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(exit.success(), "clean exit after SIGTERM: {exit:?}");

    let mut acked = Vec::new();
    let mut told_to_reconnect = 0;
    for s in senders {
        let (a, code) = s.await.unwrap();
        acked.extend(a);
        told_to_reconnect += usize::from(code == Some(close::SERVICE_RESTART));
    }
    assert!(acked.len() > 20, "load ran: {} acked", acked.len());
    assert!(
        told_to_reconnect > 0,
        "clients were told to reconnect (1012)"
    );

    let (mut child, _) = serve(data.path(), port).await;
    let reader = Client::connect(&url, Some(&token)).await.unwrap();
    let mut stored = Vec::new();
    let mut after = Position::ZERO;
    loop {
        let page = reader.history(room, None, Some(after), 200).await.unwrap();
        if let Some(last) = page.messages.last() {
            after = last.pos;
        }
        stored.extend(page.messages.into_iter().map(|m| (m.cmid, m.pos)));
        if !page.more {
            break;
        }
    }
    let stored_set: HashSet<_> = stored.iter().cloned().collect();
    assert_eq!(stored_set.len(), stored.len(), "nothing stored twice");
    for a in &acked {
        assert!(stored_set.contains(a), "acknowledged {a:?} was lost");
    }
    eprintln!("{} acknowledged, {} stored", acked.len(), stored.len());
    sigterm(&child);
    assert!(child.wait().unwrap().success());
}

/// During the grace period the listener still answers: `/readyz` and `/ws` upgrades get 503
/// with code 5001 (not a refused connection) until the last client has gone.
#[tokio::test]
async fn shutdown_answers_503_until_connections_have_drained() {
    use futures::StreamExt as _;
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut cmd = switchboard(data.path(), port);
    // A client that never answers the close keeps the node draining for the close timeout.
    cmd.env("SWITCHBOARD_ENGINE__CLOSE_TIMEOUT_MS", "3000")
        .arg("serve")
        .stderr(Stdio::null());
    let mut child = cmd.spawn().unwrap();
    while http(port, "GET", "/healthz", "").await.0 != 200 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let token = sign_up(port, "drain").await;
    let url = format!("ws://127.0.0.1:{port}/ws?token={token}");
    let (mut stuck, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    stuck.next().await.unwrap().unwrap(); // hello; then it stops reading

    sigterm(&child);
    let signalled = Instant::now();
    // The signal takes a moment to reach the node.
    while http(port, "GET", "/readyz", "").await.0 == 200 {
        assert!(
            signalled.elapsed() < Duration::from_secs(2),
            "SIGTERM not seen"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut answered = 0;
    while signalled.elapsed() < Duration::from_millis(1500) {
        let (status, body) = http(port, "GET", "/readyz", "").await;
        assert_eq!(status, 503, "readyz during the drain: {body:?}");
        assert!(body.contains(r#""code":5001"#), "{body}");
        match tokio_tungstenite::connect_async(&url).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                assert_eq!(response.status(), 503);
                let body = String::from_utf8(response.into_body().unwrap()).unwrap();
                assert!(body.contains(r#""code":5001"#), "{body}");
            }
            other => panic!("upgrade during the drain: {other:?}"),
        }
        answered += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(answered >= 5, "{answered}");
    let exit = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(exit.success(), "{exit:?}");
    eprintln!("exited {:?} after SIGTERM", signalled.elapsed());
    // Once drained, the listener is closed.
    assert_eq!(http(port, "GET", "/healthz", "").await.0, 0);
    drop(stuck);
}

/// What an operator reads: plain lines off a terminal (no colour codes), the configuration at
/// start-up without secrets, refusals at a bounded rate, the shutdown phases; or JSON lines.
#[tokio::test]
async fn logs_are_plain_or_json_and_refusals_are_bounded() {
    for json in [false, true] {
        let data = tempfile::tempdir().unwrap();
        let port = free_port();
        let mut cmd = switchboard(data.path(), port);
        cmd.env("SWITCHBOARD_LOG", "info")
            .env(
                "SWITCHBOARD_AUTH__TOKEN_SECRET",
                "a-secret-that-must-not-be-logged",
            )
            .arg("serve")
            .stderr(Stdio::piped());
        if json {
            cmd.env("SWITCHBOARD_LOG_FORMAT", "json");
        }
        let child = cmd.spawn().unwrap();
        while http(port, "GET", "/healthz", "").await.0 != 200 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let signup = r#"{"name":"logger","password":"hunter2hunter2"}"#;
        assert_eq!(http(port, "POST", "/api/signup", signup).await.0, 200);
        let wrong = r#"{"name":"logger","password":"wrong-password"}"#;
        // A client in a reconnect loop: signed-in connections it closes at once.
        let token = serde_json::from_str::<serde_json::Value>(
            &http(port, "POST", "/api/signin", signup).await.1,
        )
        .unwrap()["token"]
            .as_str()
            .unwrap()
            .to_owned();
        let url = format!("ws://127.0.0.1:{port}/ws");
        for _ in 0..3 {
            let c = Client::connect(&url, Some(&token)).await.unwrap();
            c.close();
            drop(c);
        }
        // Wrong passwords until the throttle of a name from one address (10/min) refuses them.
        for _ in 0..20 {
            let status = http(port, "POST", "/api/signin", wrong).await.0;
            assert!(status == 401 || status == 429, "{status}");
        }
        sigterm(&child);
        let out = tokio::task::spawn_blocking(move || child.wait_with_output())
            .await
            .unwrap()
            .unwrap();
        assert!(out.status.success());
        let log = String::from_utf8(out.stderr).unwrap();
        assert!(
            !log.contains('\u{1b}'),
            "colour codes in a log file:\n{log}"
        );
        assert!(!log.contains("a-secret-that"), "secret logged:\n{log}");
        for line in log.lines() {
            assert_eq!(
                serde_json::from_str::<serde_json::Value>(line).is_ok(),
                json,
                "{line}"
            );
        }
        let count = |needle: &str| log.lines().filter(|l| l.contains(needle)).count();
        assert_eq!(count("starting: listen"), 1, "{log}");
        // Twenty failed sign-ins, ten of them throttled: one line per class, within the window.
        assert_eq!(count("auth_failed"), 1, "{log}");
        assert_eq!(count("rate_limited"), 1, "{log}");
        // Three short-lived connections: one line, and not a warning (a page reload is one).
        assert_eq!(count("reconnect churn"), 1, "{log}");
        let churn = log.lines().find(|l| l.contains("reconnect churn")).unwrap();
        assert!(churn.contains("INFO") && !churn.contains("WARN"), "{churn}");
        for phase in [
            "draining",
            "connections drained",
            "listener closed",
            "stopped",
        ] {
            assert_eq!(count(phase), 1, "{phase}:\n{log}");
        }
    }
}

#[tokio::test]
async fn a_second_node_on_the_same_data_directory_refuses_to_start() {
    let data = tempfile::tempdir().unwrap();
    let (mut first, _) = serve(data.path(), free_port()).await;
    let mut second = switchboard(data.path(), free_port())
        .arg("serve")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while second.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            second.kill().unwrap();
            first.kill().unwrap();
            panic!("the second node started on the same data directory and kept running");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let second = second.wait_with_output().unwrap();
    assert!(!second.status.success(), "the second node started");
    let said = String::from_utf8_lossy(&second.stderr);
    assert!(
        said.contains("in use by another node") && said.contains(&first.id().to_string()),
        "the refusal names the holder: {said}"
    );
    // The first is untouched; once it is gone (even by kill -9) the directory is free again.
    first.kill().unwrap();
    first.wait().unwrap();
    let (mut again, _) = serve(data.path(), free_port()).await;
    sigterm(&again);
    again.wait().unwrap();
}
