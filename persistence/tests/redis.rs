//! Membership against the real Redis. The address comes from `SWITCHBOARD_TEST_REDIS`
//! (default `redis://127.0.0.1:6379`); every run uses its own key prefix and deletes its keys.
//! When no Redis answers these tests fail: they never skip.

use switchboard_persistence::cluster::redis::RedisMembership;

fn url() -> String {
    std::env::var("SWITCHBOARD_TEST_REDIS").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

#[tokio::test]
async fn redis_membership_passes_the_conformance_cases() {
    let prefix = format!(
        "sbtest:{}:{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let m = RedisMembership::connect(&url(), &prefix)
        .await
        .expect("Redis must be running for these tests (ops/test.sh starts it)");
    switchboard_persistence::cluster::conformance::run_all(&m).await;
    let client = redis::Client::open(url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let _: () = redis::cmd("DEL")
        .arg(&switchboard_persistence::cluster::redis::RedisMembership::keys(&prefix))
        .query_async(&mut conn)
        .await
        .unwrap();
}

#[tokio::test]
async fn redis_throttle_passes_the_conformance_cases() {
    use std::time::Duration;
    use switchboard_persistence::cluster::throttle::{RedisThrottle, conformance};
    // Keys expire after two windows; the prefix keeps this run's counts apart.
    let prefix = format!(
        "sbtest-throttle:{}:{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let sync = Duration::from_millis(50);
    let url = url();
    let connect = || RedisThrottle::connect(&url, &prefix, conformance::rules(), sync);
    let ((a, sync_a), (b, sync_b)) = (connect().await.unwrap(), connect().await.unwrap());
    tokio::spawn(sync_a.run());
    tokio::spawn(sync_b.run());
    conformance::run_all(&a, Some(&b), sync * 4).await;
}

#[tokio::test]
async fn redis_bus_passes_the_conformance_cases() {
    let prefix = format!("sbtest-bus:{}", std::process::id());
    let bus = switchboard_persistence::cluster::bus::RedisBus::connect(&url(), &prefix)
        .await
        .expect("Redis must be running for these tests (ops/test.sh starts it)");
    switchboard_persistence::cluster::bus::conformance::run_all(&bus).await;
}

#[tokio::test]
async fn redis_board_passes_the_conformance_cases() {
    // Posts expire by themselves (the suite's live 30 s at most); the prefix keeps runs apart.
    let prefix = format!("sbtest-board:{}", std::process::id());
    let board = switchboard_persistence::cluster::board::RedisBoard::connect(&url(), &prefix)
        .await
        .expect("Redis must be running for these tests (ops/test.sh starts it)");
    switchboard_persistence::cluster::board::conformance::run_all(&board).await;
}
