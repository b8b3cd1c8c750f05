//! `/metrics` and `/api/dashboard` of a node over real sockets: every metric of the catalogue
//! is listed with `# HELP` and `# TYPE` from start-up, latencies are histograms with buckets,
//! traffic moves the counters and the dashboard's numbers, and an admin token guards the
//! dashboard's data.

mod support;

use std::time::Duration;

use support::{TestNode, start};
use switchboard_engine::metrics::{ALL, Kind, LATENCY_BUCKETS};
use switchboard_engine::protocol::Visibility;

async fn scrape(t: &TestNode) -> String {
    reqwest::get(format!("{}/metrics", t.http_url()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// The value of one exact series line (`name{labels}`), or None when absent.
fn series(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test]
async fn a_fresh_node_lists_every_metric_with_help_type_and_buckets() {
    let t = start(|_| {}).await;
    let text = scrape(&t).await;
    for def in ALL {
        let kind = match def.kind {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        };
        assert!(
            text.contains(&format!("# HELP {} {}\n", def.name, def.help)),
            "no HELP for {}",
            def.name
        );
        assert!(
            text.contains(&format!("# TYPE {} {kind}\n", def.name)),
            "no TYPE {kind} for {}",
            def.name
        );
        let prefix = format!(
            "{}{}",
            def.name,
            if kind == "histogram" { "_bucket" } else { "" }
        );
        assert!(
            text.lines().any(|l| l.starts_with(&prefix)),
            "no series of {}",
            def.name
        );
        if let (Kind::Histogram, Some((label, values))) = (def.kind, def.label) {
            for v in values {
                assert!(text.contains(&format!("{}_count{{{label}=\"{v}\"}}", def.name)));
            }
        }
    }
    assert!(
        !text.contains("quantile="),
        "a summary is exported:\n{text}"
    );
    for le in LATENCY_BUCKETS
        .iter()
        .map(|b| b.to_string())
        .chain(["+Inf".into()])
    {
        let bucket = format!("switchboard_send_to_deliver_seconds_bucket{{le=\"{le}\"}}");
        assert!(series(&text, &bucket).is_some(), "no {bucket}");
    }
    let build = text
        .lines()
        .find(|l| l.starts_with("switchboard_build_info{"))
        .expect("build info");
    assert!(build.contains("version=\"") && build.contains("commit=\"") && build.ends_with(" 1"));
    assert!(series(&text, "process_resident_memory_bytes").is_some());
    t.node.shutdown().await;
}

#[tokio::test]
async fn traffic_moves_the_counters_histograms_and_dashboard() {
    let t = start(|c| c.dashboard.interval_ms = 100).await;
    let before = scrape(&t).await;
    let count = |text: &str, s: &str| series(text, s).unwrap_or(0.0);
    let (_, mut a) = t.member().await;
    let (_, mut b) = t.member().await;
    let room = a.create_room("metered", Visibility::Public).await.unwrap();
    a.join(room, None).await.unwrap();
    b.join(room, None).await.unwrap();
    let sends = 20;
    for i in 0..sends {
        a.send(room, &format!("m{i}"), "hello").await.unwrap();
    }
    let after = scrape(&t).await;
    let grew = |s: &str| count(&after, s) - count(&before, s);
    assert!(grew("switchboard_messages_total") >= f64::from(sends));
    assert!(grew("switchboard_deliveries_total") >= f64::from(2 * sends));
    assert!(grew("switchboard_joins_total") >= 2.0);
    assert!(grew("switchboard_connects_total") >= 2.0);
    assert!(grew("switchboard_commands_total{command=\"send\"}") >= f64::from(sends));
    assert!(grew("switchboard_send_to_deliver_seconds_count") >= f64::from(sends));
    assert!(grew("switchboard_send_to_stored_seconds_count") >= f64::from(sends));
    assert!(grew("switchboard_write_behind_batch_size_count") >= 1.0);
    assert!(count(&after, "switchboard_connections") >= 2.0);
    let wrong = reqwest::Client::new()
        .post(format!("{}/api/signin", t.http_url()))
        .json(&serde_json::json!({"name": "nobody-here", "password": "wrong password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let after = scrape(&t).await;
    let failed = "switchboard_sign_in_failures_total{reason=\"wrong_credentials\"}";
    assert!(count(&after, failed) >= 1.0, "sign-in failure not counted");

    // The dashboard's numbers come from the same metrics, within an interval or two.
    tokio::time::sleep(Duration::from_millis(350)).await;
    let data: serde_json::Value = reqwest::get(format!("{}/api/dashboard", t.http_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let me = &data["nodes"][0];
    assert_eq!(data["nodes"].as_array().unwrap().len(), 1, "{data}");
    assert_eq!(me["node"], data["me"]);
    assert!(
        me["messages_total"].as_f64().unwrap() >= f64::from(sends),
        "{data}"
    );
    assert!(me["connections"].as_f64().unwrap() >= 2.0, "{data}");
    assert!(me["rss_bytes"].as_f64().unwrap() > 0.0, "{data}");
    t.node.shutdown().await;
}

#[tokio::test]
async fn the_admin_token_guards_the_dashboard_data() {
    let t = start(|c| c.dashboard.admin_token = Some("let-me-see".into())).await;
    let url = format!("{}/api/dashboard", t.http_url());
    let http = reqwest::Client::new();
    let get = |token: Option<&'static str>| {
        let mut r = http.get(&url);
        if let Some(token) = token {
            r = r.bearer_auth(token);
        }
        r.send()
    };
    let none = get(None).await.unwrap();
    assert_eq!(none.status(), 401);
    let body: serde_json::Value = none.json().await.unwrap();
    assert_eq!(body["error"]["code"], 2000);
    assert_eq!(get(Some("let-me-sea")).await.unwrap().status(), 401);
    assert_eq!(get(Some("let-me-see")).await.unwrap().status(), 200);
    // The page itself holds no data; it asks for the token.
    let page = reqwest::get(format!("{}/dashboard", t.http_url()))
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    t.node.shutdown().await;
}
