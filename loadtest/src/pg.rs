//! Postgres benchmarks, in process against a scratch database on the local server:
//! write-behind throughput (batched against one INSERT per message), history page latency
//! over a large table, and the room list of a user in many rooms over the same table.

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

/// The room list (`Store::room_list`) of one user in `member_rooms` of `rooms` rooms holding
/// `rows` messages: `queries` first pages of 50 (what a client opens with), then walks of the
/// whole list in pages of 100, one request at a time, and the first page's plan.
pub async fn room_list(
    rows: u64,
    rooms: u64,
    member_rooms: u64,
    queries: u64,
    out: &std::path::Path,
) -> anyhow::Result<()> {
    anyhow::ensure!(
        member_rooms > 0 && rooms.is_multiple_of(member_rooms),
        "--rooms must be a multiple of --member-rooms"
    );
    let mut t = crate::report::Transcript::default();
    let (db, store) = scratch_store("bench_room_list").await?;
    let (client, conn) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls).await?;
    tokio::spawn(conn);
    let started = Instant::now();
    let per_room = rows / rooms;
    let every = rooms / member_rooms;
    let viewer = 1000i64;
    let loading = indicatif::ProgressBar::new_spinner();
    loading.set_message(format!("loading {rows} messages in SQL"));
    loading.enable_steady_tick(Duration::from_millis(200));
    // As `pg-history` loads them, and: the viewer (user 1000) is a member of every
    // `every`-th room, a tenth of those (the first) direct conversations with one other
    // user; a tenth of each of the viewer's rooms' messages are the viewer's; rooms differ in
    // when they were last active; every third room ends in three reactions (entries a room
    // list skips); the viewer's read watermark lies 0 to 399 messages before the end, or is
    // missing in one room in seven. No word index: the room list does not use it.
    client
        .batch_execute(&format!(
            "INSERT INTO users (id, name, password_hash)
               SELECT u, 'user' || u, 'x' FROM generate_series(0, {viewer}) u;
             INSERT INTO rooms (id, name, kind)
               SELECT r, 'room ' || r,
                      CASE WHEN r % {every} = 0 AND r <= {rooms} / 10 THEN 'direct' ELSE 'public' END
               FROM generate_series(1, {rooms}) r;
             INSERT INTO members (room, user_id, role)
               SELECT r, (r * 7 + k) % 1000, 'member'
               FROM generate_series(1, {rooms}) r, generate_series(0, 9) k
               WHERE NOT (r % {every} = 0 AND r <= {rooms} / 10) ON CONFLICT DO NOTHING;
             INSERT INTO members (room, user_id, role)
               SELECT r, (r * 7) % 1000, 'member' FROM generate_series({every}, {rooms} / 10, {every}) r;
             INSERT INTO members (room, user_id, role)
               SELECT r, {viewer}, 'member' FROM generate_series({every}, {rooms}, {every}) r;
             DROP INDEX messages_by_words;
             INSERT INTO messages (room, epoch, seq, sender, cmid, text, ts, kind, ref_epoch, ref_seq)
             SELECT r, 1, s,
                    CASE WHEN r % {every} = 0 AND s % 10 = 0 THEN {viewer} ELSE (r * 7 + s) % 1000 END,
                    'c' || r || '-' || s,
                    CASE WHEN big THEN '👍' ELSE 'message ' || s || ' in room ' || r END,
                    1700000000000 + ((r * 7919) % 10000) * 60000 + s * 1000,
                    CASE WHEN big THEN 3 ELSE 0 END,
                    CASE WHEN big THEN 1 END,
                    CASE WHEN big THEN {per_room} - 3 END
             FROM generate_series(1, {rooms}) r, generate_series(1, {per_room}) s,
                  LATERAL (SELECT r % 3 = 0 AND s > {per_room} - 3 AS big) k;
             INSERT INTO reads (room, user_id, epoch, seq)
               SELECT r, {viewer}, 1, greatest({per_room} - (r * 37) % 400, 0)
               FROM generate_series({every}, {rooms}, {every}) r WHERE r % ({every} * 7) <> 0;
             ANALYZE;"
        ))
        .await
        .context("loading messages")?;
    loading.finish_and_clear();
    t.say(format!(
        "loaded {} messages in {rooms} rooms in {:.1?}; user {viewer} is in {member_rooms} of them",
        rooms * per_room,
        started.elapsed()
    ));
    let me = UserId(viewer as u64);
    // Warm-up, as a node that has served before would be.
    store.room_list(me, None, 51).await?;
    let mut first = Histogram::<u64>::new(3)?;
    let bar = crate::setup::progress(queries, "first page");
    for _ in 0..queries {
        bar.inc(1);
        let t0 = Instant::now();
        let page = store.room_list(me, None, 51).await?;
        first.record(t0.elapsed().as_micros() as u64)?;
        anyhow::ensure!(page.len() == 51, "a short first page");
    }
    bar.finish_and_clear();
    let mut paged = Histogram::<u64>::new(3)?;
    let walks = queries.div_ceil(member_rooms.div_ceil(100)).max(1);
    let bar = crate::setup::progress(walks, "whole list");
    let mut capped = 0;
    for _ in 0..walks {
        bar.inc(1);
        let (mut before, mut seen) = (None, 0);
        loop {
            let t0 = Instant::now();
            let page = store.room_list(me, before, 101).await?;
            paged.record(t0.elapsed().as_micros() as u64)?;
            let shown = page.len().min(100);
            seen += shown;
            capped = page.iter().filter(|s| s.unread_more).count();
            if page.len() <= 100 {
                break;
            }
            before = Some(page[99].cursor());
        }
        anyhow::ensure!(seen as u64 == member_rooms, "walked {seen} rooms");
    }
    bar.finish_and_clear();
    let sample = store.room_list(me, None, 3).await?;
    for s in &sample {
        t.say(format!(
            "room {} {:?} ({:?}): activity {}, last {:?}, unread {}{}",
            s.id,
            s.name,
            s.kind,
            s.activity,
            s.last.as_ref().map(|m| (m.pos, m.sender, m.text.as_str())),
            s.unread,
            if s.unread_more { "+" } else { "" }
        ));
    }
    t.say(format!(
        "capped unread counts on the last page walked: {capped}"
    ));
    let plan = client
        .query(
            &format!(
                "EXPLAIN (ANALYZE, BUFFERS) {}",
                switchboard_persistence::store::postgres::ROOM_LIST_PAGE
            ),
            &[&viewer, &i64::MAX, &i64::MAX, &51i64, &101i64],
        )
        .await
        .context("EXPLAIN")?;
    t.say("EXPLAIN (ANALYZE, BUFFERS) of a first page (limit 51):".into());
    for row in plan {
        t.say(row.get::<_, String>(0));
    }
    let ms = |h: &Histogram<u64>, q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    t.say(format!(
        "RESULT first_page_50_p50_ms={:.2} first_page_50_p99_ms={:.2} page_100_p50_ms={:.2} page_100_p99_ms={:.2} page_100_requests={}",
        ms(&first, 0.5),
        ms(&first, 0.99),
        ms(&paged, 0.5),
        ms(&paged, 0.99),
        paged.len()
    ));
    t.write(out, "pg-room-list")
}

/// The live line under a query bar: the p99 so far over both histograms' queries.
fn p99_so_far(a: &Histogram<u64>, b: &Histogram<u64>) -> String {
    let p99 = a.value_at_quantile(0.99).max(b.value_at_quantile(0.99));
    format!("p99 so far {:.2} ms", p99 as f64 / 1000.0)
}
