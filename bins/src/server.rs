//! `Node`: one running Switchboard process. It owns the listener, the hub and the write-behind,
//! and shuts down in order: stop accepting, send clients away (1012), store everything queued.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::Context as _;
use kameo::actor::{ActorRef, Spawn};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use switchboard_actors::Hub;
use switchboard_actors::cluster::{ClusterArgs, ClusterLink, ClusterView, WatchRing};
use switchboard_engine::auth::LocalTokens;
use switchboard_engine::ring::NodeId;
use switchboard_persistence::cluster::Member;
use switchboard_persistence::cluster::bus::RedisBus;
use switchboard_persistence::cluster::redis::RedisMembership;
use switchboard_persistence::store::postgres::PostgresStore;
use switchboard_persistence::store::sqlite::SqliteStore;
use switchboard_persistence::{Store, WriteBehind};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::accounts::{self, Accounts};
use crate::config::Config;
use crate::http::{self, AppState};

/// The process-wide Prometheus recorder (a process has one, however many nodes it runs).
fn prometheus() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            PrometheusBuilder::new()
                .install_recorder()
                .unwrap_or_else(|_| PrometheusBuilder::new().build_recorder().handle())
        })
        .clone()
}

/// Opens the configured store (Postgres when `database.url` is set, else the embedded SQLite
/// file) and the account service.
pub async fn open_store(config: &Config) -> anyhow::Result<(Arc<dyn Store>, Accounts)> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating data dir {}", config.data_dir.display()))?;
    let store: Arc<dyn Store> = match config.database.postgres() {
        Some(pg) => {
            let store = PostgresStore::connect(&pg)
                .await
                .context("connecting to Postgres")?;
            if config.database.migrate_on_start {
                let ran = store.migrate().await.context("migrating Postgres")?;
                tracing::info!(ran, "schema migrations applied");
            }
            Arc::new(store)
        }
        None => Arc::new(
            SqliteStore::open(
                &config.data_dir.join("switchboard.sqlite3"),
                config.sqlite_durable,
            )
            .context("opening the SQLite store")?,
        ),
    };
    let secret = accounts::token_secret(&config.auth, &config.data_dir)?;
    let tokens = Arc::new(LocalTokens::new(&secret, config.auth.token_ttl_secs));
    let accounts = Accounts::new(store.clone(), tokens, &config.auth);
    Ok((store, accounts))
}

pub struct Node {
    pub addr: SocketAddr,
    pub hub: Arc<Hub>,
    /// This node's membership and ring view, when `cluster.redis_url` is set.
    pub cluster: Option<ActorRef<ClusterView>>,
    pub accounts: Arc<Accounts>,
    stop_accepting: Option<oneshot::Sender<()>>,
    serve: JoinHandle<std::io::Result<()>>,
    grace: Duration,
}

impl Node {
    /// Binds the listener and starts serving. Returns once the node is ready.
    pub async fn start(config: Config) -> anyhow::Result<Node> {
        let (store, accounts) = open_store(&config).await?;
        let journal = WriteBehind::spawn(store.clone(), config.write_behind());
        let accounts = Arc::new(accounts);
        let hub = Hub::start(store, journal, accounts.tokens().clone(), config.hub());
        let listener = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("binding {}", config.listen))?;
        let addr = listener.local_addr()?;
        let state = AppState {
            hub: hub.clone(),
            accounts: accounts.clone(),
            metrics: prometheus(),
            limits: config.limits.clone(),
        };
        let cluster = match &config.cluster.redis_url {
            Some(url) => {
                let prefix = &config.cluster.key_prefix;
                let membership = RedisMembership::connect(url, prefix)
                    .await
                    .context("connecting to Redis for cluster membership")?;
                hub.set_conn_base(membership.node_number().await?);
                let bus = RedisBus::connect(url, prefix)
                    .await
                    .context("connecting to Redis for forwarding")?;
                let own = addr.to_string();
                let me = Member {
                    node: NodeId(
                        config
                            .cluster
                            .node_id
                            .clone()
                            .unwrap_or_else(|| own.clone()),
                    ),
                    addr: config.cluster.advertise.clone().unwrap_or(own),
                };
                let node = me.node.clone();
                let view = ClusterView::spawn(ClusterArgs {
                    me,
                    membership: Arc::new(membership),
                    timing: config.cluster.timing(),
                });
                view.wait_for_startup().await;
                let ring = view.ask(WatchRing).await?.0;
                let link = ClusterLink::start(
                    node,
                    Arc::new(bus),
                    ring,
                    config.cluster.forward_limits(),
                    &hub,
                );
                hub.set_cluster(link);
                Some(view)
            }
            None => None,
        };
        let (stop_accepting, stopped) = oneshot::channel::<()>();
        let router = http::router(state);
        let serve = tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
        });
        tracing::info!(%addr, "switchboard ready");
        Ok(Node {
            addr,
            hub,
            cluster,
            accounts,
            stop_accepting: Some(stop_accepting),
            serve,
            grace: Duration::from_secs(config.engine.shutdown_grace_secs),
        })
    }

    /// Graceful shutdown: stop accepting, tell every client to reconnect (close 1012), wait
    /// for connections to close (up to the grace period), then stop the rooms and make every
    /// queued message durable.
    pub async fn shutdown(mut self) {
        // Leave the cluster first, so the others stop counting on this node at once.
        if let Some(view) = self.cluster.take() {
            let _ = view.stop_gracefully().await;
            view.wait_for_shutdown().await;
        }
        if let Some(stop) = self.stop_accepting.take() {
            let _ = stop.send(());
        }
        self.hub.begin_shutdown();
        let deadline = tokio::time::Instant::now() + self.grace;
        while self.hub.live_connections() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.hub.finish_shutdown().await;
        self.serve.abort();
        tracing::info!("switchboard stopped; write-behind flushed");
    }
}
