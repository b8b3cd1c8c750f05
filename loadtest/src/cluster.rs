//! `cluster`: delivery latency through a two-node cluster. One room owned by node A; half its
//! members on A, half on B; a sender on A sends at a fixed rate. Reports p50/p99 from send to
//! receipt for the members on the owner's node and for those on the other node (one clock),
//! and the Redis commands the forwarding cost (PUBLISH calls from Redis's own counters).

use std::time::{Duration, Instant};

use anyhow::Context as _;
use hdrhistogram::Histogram;
use switchboard_client::Client;
use switchboard_engine::protocol::{ServerFrame, Visibility};
use switchboard_engine::ring::{NodeId, Ring};
use switchboard_persistence::store::scratch::{ScratchDatabase, admin_url};

use crate::node::Node;
use crate::now_micros;

/// `cmdstat_publish` calls so far, from `INFO commandstats`.
async fn publishes(redis: &redis::Client) -> anyhow::Result<u64> {
    let mut conn = redis.get_multiplexed_async_connection().await?;
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(&mut conn)
        .await?;
    Ok(info
        .lines()
        .find_map(|l| l.strip_prefix("cmdstat_publish:calls="))
        .and_then(|v| v.split(',').next()?.parse().ok())
        .unwrap_or(0))
}

pub async fn latency(
    server: &str,
    redis_url: &str,
    members: usize,
    rate: u64,
    secs: u64,
    remote_sender: bool,
    out: &std::path::Path,
) -> anyhow::Result<()> {
    let mut t = crate::report::Transcript::default();
    let db = ScratchDatabase::create(&admin_url(), "bench_cluster").await?;
    let prefix = format!("sbbench:{}", std::process::id());
    let env = |name: &str| -> Vec<(String, String)> {
        [
            ("SWITCHBOARD_DATABASE__URL", db.url.as_str()),
            ("SWITCHBOARD_CLUSTER__REDIS_URL", redis_url),
            ("SWITCHBOARD_CLUSTER__KEY_PREFIX", prefix.as_str()),
            ("SWITCHBOARD_CLUSTER__NODE_ID", name),
            ("SWITCHBOARD_AUTH__TOKEN_SECRET", "benchmark-secret"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    };
    let a = Node::start_with(server, true, &env("bench-a")).await?;
    let b = Node::start_with(server, true, &env("bench-b")).await?;
    // Both nodes see each other after a poll.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let ring = Ring::new([NodeId("bench-a".into()), NodeId("bench-b".into())]);

    let tokens = a.sign_up_many("lat", members + 1).await?;
    // The sender sits on the owner's node, or (`remote_sender`) on the other one, so that its
    // sends are forwarded to the owner first.
    let sender_node = if remote_sender { &b } else { &a };
    let sender = Client::connect(&sender_node.ws_url(), Some(&tokens[members])).await?;
    let room = loop {
        let room = sender.create_room("latency", Visibility::Public).await?;
        if ring.owner(room).is_some_and(|n| n.0 == "bench-a") {
            break room;
        }
    };
    let mut clients = Vec::new();
    for (i, token) in tokens[..members].iter().enumerate() {
        let node = if i % 2 == 0 { &a } else { &b };
        let mut c = Client::connect(&node.ws_url(), Some(token)).await?;
        c.join(room, None).await?;
        clients.push((i % 2 == 0, c));
    }
    {
        let mut s = Client::connect(&sender_node.ws_url(), Some(&tokens[members])).await?;
        s.join(room, None).await?;
    }

    let warmup = Duration::from_secs(1);
    let run = Duration::from_secs(secs);
    let measure_from = now_micros() + warmup.as_micros() as u64;
    let measure_to = measure_from + run.as_micros() as u64;
    let mut receivers = Vec::new();
    for (on_owner, mut c) in clients {
        receivers.push(tokio::spawn(async move {
            let mut hist = Histogram::<u64>::new(3).expect("histogram");
            let deadline = tokio::time::Instant::now() + warmup + run + Duration::from_secs(2);
            while let Ok(Some(frame)) = tokio::time::timeout_at(deadline, c.next_event()).await {
                if let ServerFrame::Message(m) = frame {
                    let sent: u64 = m.text.parse().unwrap_or(0);
                    if (measure_from..measure_to).contains(&sent) {
                        let _ = hist.record(now_micros().saturating_sub(sent));
                    }
                }
            }
            (on_owner, hist)
        }));
    }
    let redis = redis::Client::open(redis_url)?;
    let started = Instant::now();
    let sender = std::sync::Arc::new(sender);
    let mut ticker = tokio::time::interval(Duration::from_micros(1_000_000 / rate.max(1)));
    let mut sends = Vec::new();
    let mut before = None;
    let mut sent = 0u64;
    let bar = crate::setup::progress(rate * (1 + secs), "sends");
    while started.elapsed() < warmup + run {
        ticker.tick().await;
        bar.inc(1);
        if before.is_none() && started.elapsed() >= warmup {
            before = Some(publishes(&redis).await?);
        }
        sent += 1;
        let (s, cmid) = (sender.clone(), format!("l{sent}"));
        sends.push(tokio::spawn(async move {
            let at = now_micros();
            s.send(room, &cmid, &at.to_string())
                .await
                .map(|_| (at, now_micros().saturating_sub(at)))
        }));
    }
    bar.finish();
    let after = publishes(&redis).await?;
    let mut stored = Histogram::<u64>::new(3)?;
    for s in sends {
        let (at, took) = s.await?.context("send")?;
        if (measure_from..measure_to).contains(&at) {
            stored.record(took)?;
        }
    }
    let (mut owner, mut remote) = (Histogram::<u64>::new(3)?, Histogram::<u64>::new(3)?);
    for r in receivers {
        let (on_owner, h) = r.await?;
        if on_owner { &mut owner } else { &mut remote }.add(h)?;
    }
    let measured = owner.len() / (members as u64).div_ceil(2).max(1);
    let ms = |h: &Histogram<u64>, q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    t.say(format!(
        "cluster: 2 nodes, room owned by bench-a, {members} members ({} on each node), \
         sender on {} at {rate} msg/s, {secs} s measured",
        members / 2,
        if remote_sender { "bench-b" } else { "bench-a" }
    ));
    for (name, h) in [
        ("owner node (bench-a)", &owner),
        ("other node (bench-b)", &remote),
    ] {
        t.say(format!(
            "{name:22} deliveries {:>8}  p50 {:.2} ms  p90 {:.2} ms  p99 {:.2} ms  max {:.2} ms",
            h.len(),
            ms(h, 0.5),
            ms(h, 0.9),
            ms(h, 0.99),
            h.max() as f64 / 1000.0
        ));
    }
    t.say(format!(
        "{:22} p50 {:.2} ms  p90 {:.2} ms  p99 {:.2} ms",
        "send to `sent` (stored)",
        ms(&stored, 0.5),
        ms(&stored, 0.9),
        ms(&stored, 0.99)
    ));
    t.say(format!(
        "added by forwarding: p50 {:+.2} ms, p99 {:+.2} ms",
        ms(&remote, 0.5) - ms(&owner, 0.5),
        ms(&remote, 0.99) - ms(&owner, 0.99)
    ));
    let publishes = after.saturating_sub(before.unwrap_or(after));
    t.say(format!(
        "Redis PUBLISH during the measured window: {publishes} for about {measured} messages \
         to 1 other node = {:.3} per message per destination node",
        publishes as f64 / measured.max(1) as f64
    ));
    t.say(format!(
        "RESULT owner_p50_ms={:.2} owner_p99_ms={:.2} other_p50_ms={:.2} other_p99_ms={:.2} publish_per_message={:.3}",
        ms(&owner, 0.5),
        ms(&owner, 0.99),
        ms(&remote, 0.5),
        ms(&remote, 0.99),
        publishes as f64 / measured.max(1) as f64
    ));
    let name = format!(
        "cluster-{rate}{}",
        if remote_sender { "-remote" } else { "" }
    );
    t.write(out, &name)?;
    a.stop().await?;
    b.stop().await?;
    let keys = switchboard_persistence::cluster::redis::RedisMembership::keys(&prefix);
    let _: () = redis::cmd("DEL")
        .arg(&keys)
        .query_async(&mut redis.get_multiplexed_async_connection().await?)
        .await?;
    drop(db);
    Ok(())
}
