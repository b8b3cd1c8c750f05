//! The store conformance suite and migrations against the real Postgres. Each run creates its
//! own database and drops it afterwards. The server's address comes from
//! `SWITCHBOARD_TEST_POSTGRES` (default `postgres://postgres@127.0.0.1:5432/postgres`);
//! when no server answers, these tests fail: they never skip.

use std::sync::Arc;

use switchboard_persistence::Store;
use switchboard_persistence::store::postgres::{MIGRATIONS, PostgresConfig, PostgresStore};
use switchboard_persistence::store::scratch::{ScratchDatabase, admin_url};

async fn scratch() -> (ScratchDatabase, PostgresConfig) {
    let db = ScratchDatabase::create(&admin_url(), "test")
        .await
        .expect("Postgres must be running for these tests (ops/test.sh starts it)");
    let config = PostgresConfig {
        url: Some(db.url.clone()),
        pool_size: 4,
        ..PostgresConfig::default()
    };
    (db, config)
}

#[tokio::test]
async fn postgres_passes_the_conformance_suite() {
    let (_db, config) = scratch().await;
    let store = PostgresStore::connect(&config).await.unwrap();
    assert_eq!(store.migrate().await.unwrap(), MIGRATIONS.len());
    switchboard_persistence::conformance::run_all(Arc::new(store)).await;
}

#[tokio::test]
async fn migrations_run_once_even_when_nodes_start_together() {
    let (_db, config) = scratch().await;
    let a = PostgresStore::connect(&config).await.unwrap();
    let b = PostgresStore::connect(&config).await.unwrap();
    let (ra, rb) = tokio::join!(a.migrate(), b.migrate());
    assert_eq!(
        ra.unwrap() + rb.unwrap(),
        MIGRATIONS.len(),
        "each migration applied by exactly one node"
    );
    assert_eq!(a.migrate().await.unwrap(), 0);
    let user = a.create_user("kept", "h").await.unwrap();
    assert_eq!(b.user(user.id).await.unwrap().unwrap().name, "kept");
}
