//! `sent`: send → `sent` latency at low load, the sender joined to its room (as every chat UI
//! is) or not. A joined sender also receives its own `message` echo just before `sent`, which
//! is what exposed Nagle's algorithm against delayed ACKs (~40 ms) when sockets lacked
//! `TCP_NODELAY`.

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use switchboard_client::Client;
use switchboard_engine::protocol::{ServerFrame, Visibility};

use crate::node;
use crate::report::Stamp;

pub async fn latency(
    server: &str,
    count: u64,
    joined: bool,
    durable: bool,
    out: &std::path::Path,
) -> anyhow::Result<()> {
    let node = node::Node::start(server, durable).await?;
    let tokens = node.sign_up_many("sent", 1).await?;
    let mut c = Client::connect(&node.ws_url(), Some(&tokens[0])).await?;
    let room = c.create_room("sent", Visibility::Public).await?;
    if joined {
        c.join(room, None).await?;
    }
    let mut hist = Histogram::<u64>::new(3)?;
    // The first sends warm the room and the store up; they are not counted.
    let warmup = 20;
    let bar = crate::setup::progress(warmup + count, "sends");
    for i in 0..warmup + count {
        let started = Instant::now();
        c.send(room, &format!("s{i}"), "latency").await?;
        if i >= warmup {
            hist.record(started.elapsed().as_micros() as u64)?;
        }
        bar.inc(1);
        if i % 100 == 99 {
            bar.set_message(format!(
                "p99 so far {:.2} ms",
                hist.value_at_quantile(0.99) as f64 / 1e3
            ));
        }
        // Take the echo off the client's queue, so the next send starts from a quiet socket.
        while let Ok(Some(f)) = tokio::time::timeout(Duration::ZERO, c.next_event()).await {
            if !matches!(f, ServerFrame::Message(_)) {
                break;
            }
        }
    }
    bar.finish();
    let ms = |v: u64| v as f64 / 1000.0;
    let (p50, p99, max) = (
        ms(hist.value_at_quantile(0.50)),
        ms(hist.value_at_quantile(0.99)),
        ms(hist.max()),
    );
    println!("sent: {count} sends one at a time, sender joined={joined}, durable={durable}");
    println!("RESULT send_to_sent_p50_ms={p50:.2} send_to_sent_p99_ms={p99:.2} max_ms={max:.2}");
    let figures = serde_json::json!({
        "count": count, "joined": joined, "durable": durable,
        "p50_ms": p50, "p99_ms": p99, "max_ms": max,
    });
    let body = format!(
        "{count} sends one at a time (after {warmup} uncounted), sender joined: {joined}, \
         durable: {durable}.\n\n| send → `sent` | p50 | p99 | max |\n|---|---|---|---|\n| ms | \
         {p50:.2} | {p99:.2} | {max:.2} |"
    );
    let name = if joined { "sent" } else { "sent-unjoined" };
    Stamp::now().write(out, name, &figures, &body)?;
    node.stop().await
}
