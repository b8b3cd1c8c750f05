//! Postgres benchmarks, in process against a scratch database on the local server:
//! write-behind throughput (batched against one INSERT per message) and history page latency
//! over a large table.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use hdrhistogram::Histogram;
use switchboard_engine::domain::{ChatMessage, RoomKind};
use switchboard_engine::{Position, RoomId, UserId};
use switchboard_persistence::store::postgres::{PostgresConfig, PostgresStore};
use switchboard_persistence::store::scratch::{ScratchDatabase, admin_url};
use switchboard_persistence::{HistoryQuery, Store, WriteBehind, WriteBehindConfig};

async fn scratch_store(tag: &str) -> anyhow::Result<(ScratchDatabase, Arc<PostgresStore>)> {
    let db = ScratchDatabase::create(&admin_url(), tag).await?;
    let store = PostgresStore::connect(&PostgresConfig {
        url: Some(db.url.clone()),
        pool_size: 8,
        ..PostgresConfig::default()
    })
    .await?;
    store.migrate().await?;
    Ok((db, Arc::new(store)))
}

/// Pushes `n` messages over `rooms` rooms through a write-behind with `max_batch`, as fast as
/// its queue admits them; returns messages per second until the last is durable.
async fn write_rate(
    store: Arc<PostgresStore>,
    rooms: &[RoomId],
    sender: UserId,
    n: u64,
    max_batch: usize,
    lanes: usize,
    tag: &str,
) -> anyhow::Result<f64> {
    let wb = WriteBehind::spawn(
        store,
        WriteBehindConfig {
            max_batch,
            lanes,
            ..WriteBehindConfig::default()
        },
    );
    let started = Instant::now();
    let bar = crate::setup::progress(n, tag);
    for i in 0..n {
        if i % 256 == 0 {
            bar.set_position(i);
        }
        let room = rooms[(i % rooms.len() as u64) as usize];
        let seq = i / rooms.len() as u64 + 1;
        let msg = ChatMessage {
            room,
            pos: Position::new(1, seq),
            sender,
            cmid: format!("{tag}-{i}"),
            text: format!("benchmark message number {i} with a little text in it"),
            ts: 1_700_000_000_000 + i,
            ..ChatMessage::default()
        };
        let permit = loop {
            match wb.reserve(msg.text.len() + msg.cmid.len()) {
                Ok(p) => break p,
                Err(_) => tokio::time::sleep(Duration::from_micros(200)).await,
            }
        };
        wb.submit(permit, msg, Box::new(|_, _| {}));
    }
    bar.set_message("waiting for the last batch to be stored");
    wb.shutdown().await;
    bar.finish_and_clear();
    Ok(n as f64 / started.elapsed().as_secs_f64())
}

/// A scratch database with one sender and `rooms` rooms to write to.
async fn write_target(
    rooms: usize,
) -> anyhow::Result<(ScratchDatabase, Arc<PostgresStore>, UserId, Vec<RoomId>)> {
    let (db, store) = scratch_store("bench_write").await?;
    let sender = store.create_user("bench", "x").await?.id;
    let mut ids = Vec::new();
    for r in 0..rooms {
        let room = store
            .create_room(&format!("r{r}"), RoomKind::Public, sender)
            .await?;
        ids.push(room.id);
    }
    Ok((db, store, sender, ids))
}

pub async fn write(
    batched: u64,
    single: u64,
    rooms: usize,
    max_batch: usize,
    out: &std::path::Path,
) -> anyhow::Result<()> {
    let mut t = crate::report::Transcript::default();
    let (_db, store, sender, ids) = write_target(rooms).await?;
    let lanes = WriteBehindConfig::default().lanes;
    let serial = write_rate(store.clone(), &ids, sender, single, 1, 1, "serial").await?;
    t.say(format!(
        "one INSERT per message, one at a time: {single} messages, {serial:.0} messages/s"
    ));
    let parallel = write_rate(store.clone(), &ids, sender, single, 1, lanes, "lanes").await?;
    t.say(format!(
        "one INSERT per message, {lanes} lanes: {single} messages, {parallel:.0} messages/s"
    ));
    // A fresh database for the batched run, so both start from the same table size.
    let (_db2, store2, sender, ids) = write_target(rooms).await?;
    let batched_rate = write_rate(store2, &ids, sender, batched, max_batch, lanes, "batch").await?;
    t.say(format!(
        "write-behind, batches of up to {max_batch}, {lanes} lanes: {batched} messages, {batched_rate:.0} messages/s"
    ));
    t.say(format!(
        "RESULT batched_per_sec={batched_rate:.0} single_serial_per_sec={serial:.0} single_lanes_per_sec={parallel:.0} ratio_serial={:.1} ratio_lanes={:.1}",
        batched_rate / serial,
        batched_rate / parallel
    ));
    t.write(out, "pg-write")
}

pub async fn history(
    rows: u64,
    rooms: u64,
    queries: u64,
    out: &std::path::Path,
) -> anyhow::Result<()> {
    let mut t = crate::report::Transcript::default();
    let (db, store) = scratch_store("bench_history").await?;
    let (client, conn) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls).await?;
    tokio::spawn(conn);
    let started = Instant::now();
    let per_room = rows / rooms;
    let loading = indicatif::ProgressBar::new_spinner();
    loading.set_message(format!("loading {rows} messages in SQL"));
    loading.enable_steady_tick(Duration::from_millis(200));
    // Generated in SQL: a realistic table without 10,000,000 round trips. Members first, so
    // searches are scoped; the word index is built once after the load, as a bulk import would.
    client
        .batch_execute(&format!(
            "INSERT INTO users (id, name, password_hash)
               SELECT u, 'user' || u, 'x' FROM generate_series(0, 999) u;
             INSERT INTO rooms (id, name, kind) SELECT r, 'room ' || r, 'public'
               FROM generate_series(1, {rooms}) r;
             INSERT INTO members (room, user_id, role)
               SELECT r, (r * 7 + k) % 1000, 'member'
               FROM generate_series(1, {rooms}) r, generate_series(0, 9) k ON CONFLICT DO NOTHING;
             DROP INDEX messages_by_words;
             INSERT INTO messages (room, epoch, seq, sender, cmid, text, ts)
             SELECT r, 1, s, (r * 7 + s) % 1000, 'c' || r || '-' || s,
                    'message ' || s || ' in room ' || r || ' about ' ||
                    (ARRAY['lunch','release','deploy','holiday','budget','design','bug','review'])[1 + (r + s) % 8],
                    1700000000000 + s
             FROM generate_series(1, {rooms}) r, generate_series(1, {per_room}) s;
             CREATE INDEX messages_by_words ON messages USING GIN (to_tsvector('simple', text));
             ANALYZE;"
        ))
        .await
        .context("loading messages")?;
    loading.finish_and_clear();
    t.say(format!(
        "loaded {} messages in {rooms} rooms in {:.1?}",
        rooms * per_room,
        started.elapsed()
    ));
    let mut newest = Histogram::<u64>::new(3)?;
    let mut before = Histogram::<u64>::new(3)?;
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let bar = crate::setup::progress(queries, "history");
    for i in 0..queries {
        bar.inc(1);
        let room = RoomId(next() % rooms + 1);
        let q = if i % 2 == 0 {
            HistoryQuery {
                limit: 50,
                ..Default::default()
            }
        } else {
            HistoryQuery {
                before: Some(Position::new(1, next() % per_room + 1)),
                limit: 50,
                ..Default::default()
            }
        };
        let t0 = Instant::now();
        let page = store.history(room, q).await?;
        let micros = t0.elapsed().as_micros() as u64;
        anyhow::ensure!(!page.is_empty() || q.before.is_some(), "empty page");
        if i % 2 == 0 { &mut newest } else { &mut before }.record(micros)?;
        if i % 100 == 99 {
            bar.set_message(p99_so_far(&newest, &before));
        }
    }
    bar.finish_and_clear();
    let words = [
        "lunch", "release", "deploy", "holiday", "budget", "design", "bug", "review",
    ];
    let mut search = Histogram::<u64>::new(3)?;
    let bar = crate::setup::progress(queries, "search");
    let mut first = String::new();
    for i in 0..queries {
        bar.inc(1);
        let user = UserId(next() % 1000);
        let query = format!("{} {}", words[(next() % 8) as usize], next() % 500 + 1);
        let t0 = Instant::now();
        let found = store.search(user, &query, None, 20).await?;
        search.record(t0.elapsed().as_micros() as u64)?;
        if i % 100 == 99 {
            bar.set_message(p99_so_far(&search, &search));
        }
        if i == 0 {
            first = format!("search {query:?} as {user}: {} results", found.len());
        }
    }
    bar.finish_and_clear();
    t.say(first);
    let ms = |h: &Histogram<u64>, q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    t.say(format!(
        "RESULT history_newest_p50_ms={:.2} history_newest_p99_ms={:.2} history_before_p50_ms={:.2} history_before_p99_ms={:.2} search_p50_ms={:.2} search_p99_ms={:.2}",
        ms(&newest, 0.5),
        ms(&newest, 0.99),
        ms(&before, 0.5),
        ms(&before, 0.99),
        ms(&search, 0.5),
        ms(&search, 0.99)
    ));
    t.write(out, "pg-history")
}

/// The live line under a query bar: the p99 so far over both histograms' queries.
fn p99_so_far(a: &Histogram<u64>, b: &Histogram<u64>) -> String {
    let p99 = a.value_at_quantile(0.99).max(b.value_at_quantile(0.99));
    format!("p99 so far {:.2} ms", p99 as f64 / 1000.0)
}
