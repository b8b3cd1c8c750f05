//! `Node`: one running Switchboard process. It owns the listener, the hub and the write-behind,
//! and shuts down in order: send clients away (1012) while still answering new ones 503, stop
//! accepting, store everything queued.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use kameo::actor::ActorRef;
use switchboard_actors::Hub;
use switchboard_actors::cluster::{ClusterArgs, ClusterLink, ClusterView, WatchRing};
use switchboard_actors::supervised::{Policy, Supervised, Supervisor, Task};
use switchboard_engine::auth::{LocalTokens, TokenVerifier};
use switchboard_engine::ring::NodeId;
use switchboard_persistence::cluster::Member;
use switchboard_persistence::cluster::board::{Board, LocalBoard, RedisBoard};
use switchboard_persistence::cluster::bus::RedisBus;
use switchboard_persistence::cluster::redis::RedisMembership;
use switchboard_persistence::cluster::throttle::{LocalThrottle, RedisThrottle, Throttle};
use switchboard_persistence::store::postgres::PostgresStore;
use switchboard_persistence::store::sqlite::SqliteStore;
use switchboard_persistence::{Store, WriteBehind};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::accounts::{self, Accounts};
use crate::attachments::NodeAttachments;
use crate::cognito::{CognitoAccounts, CognitoTokens, RevocationChecks};
use crate::config::{Config, Provider};
use crate::dashboard::{Reporter, ReporterArgs};
use crate::data_lock::DataDirLock;
use crate::ecs;
use crate::http::{self, AppState};
use crate::listener;
use crate::media::Media;
use crate::telemetry;

/// Opens the configured store (Postgres when `database.url` is set, else the embedded SQLite
/// file) and the account service.
pub async fn open_store(config: &Config) -> anyhow::Result<(Arc<dyn Store>, Accounts)> {
    create_private_dir(&config.data_dir)
        .with_context(|| format!("creating data dir {}", config.data_dir.display()))?;
    let store: Arc<dyn Store> = match config.database.url {
        Some(_) => {
            let store = PostgresStore::connect(&config.database)
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

/// The tokens the node accepts: its own (local accounts), or a Cognito user pool's, whose keys
/// are fetched before the node serves, with the pool's account operations. A node whose first
/// fetch fails starts anyway (logged): it refuses Cognito tokens (2001) until a later fetch, on
/// a token, succeeds.
async fn identity(
    config: &Config,
    accounts: &Accounts,
) -> anyhow::Result<(Arc<dyn TokenVerifier>, Option<Arc<CognitoAccounts>>)> {
    match config.auth.provider {
        Provider::Local => Ok((accounts.tokens().clone(), None)),
        Provider::Cognito => {
            config.cognito.check()?;
            let cognito =
                CognitoTokens::new(&config.cognito).context("building the Cognito key client")?;
            if cognito.refresh().await == 0 {
                tracing::warn!("no Cognito keys yet: tokens are refused until a fetch succeeds");
            }
            let pool = CognitoAccounts::connect(&config.cognito).await;
            Ok((Arc::new(cognito), Some(Arc::new(pool))))
        }
    }
}

/// The address this node gives the others (and, unless `cluster.node_id` is set, its id):
/// `cluster.advertise`; else, on ECS (`ECS_CONTAINER_METADATA_URI_V4` set), the task's private
/// IP with the port the node listens on; else the address it listens on. A cluster node whose
/// id would be a wildcard address (`0.0.0.0`) refuses to start: every node listening there
/// would take the same id.
async fn advertised(config: &Config, bound: SocketAddr) -> anyhow::Result<String> {
    if let Some(advertise) = &config.cluster.advertise {
        return Ok(advertise.clone());
    }
    if let Ok(uri) = std::env::var(ecs::METADATA_URI_VAR) {
        let ip = ecs::task_ip(&uri, ecs::WAIT)
            .await
            .context("reading this task's IP from the ECS task metadata endpoint")?;
        let addr = SocketAddr::from((ip, bound.port()));
        tracing::info!(%addr, "advertising the ECS task's private IP");
        return Ok(addr.to_string());
    }
    if config.cluster.redis_url.is_some()
        && config.cluster.node_id.is_none()
        && bound.ip().is_unspecified()
    {
        anyhow::bail!(
            "listening on {bound} in a cluster: set cluster.advertise (or cluster.node_id) to \
             an address the other nodes know this node by"
        );
    }
    Ok(bound.to_string())
}

/// Creates `dir` (and missing parents) readable only by its owner: it holds the database and
/// the token key. An existing directory keeps its mode.
fn create_private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

pub struct Node {
    pub addr: SocketAddr,
    pub hub: Arc<Hub>,
    /// The node's store and write-behind (tests read them).
    pub store: Arc<dyn Store>,
    pub journal: WriteBehind,
    /// This node's membership and ring view, when `cluster.redis_url` is set.
    pub cluster: Option<ActorRef<ClusterView>>,
    pub accounts: Arc<Accounts>,
    /// Where attachments live (tests use its store directly).
    pub media: Media,
    /// The node's long-lived tasks, and whether one's death failed the node.
    pub tasks: Supervisor,
    stop_accepting: watch::Sender<bool>,
    serve: Supervised,
    /// The dashboard reporter; stopped at shutdown.
    reporter: Supervised,
    grace: Duration,
    /// This node's claim on its data directory, released when the node is dropped.
    _data_lock: DataDirLock,
}

impl Node {
    /// Binds the listener and starts serving. Returns once the node is ready.
    pub async fn start(config: Config) -> anyhow::Result<Node> {
        // Before the hub: actors keep handles to the hot-path metrics from their first use.
        let metrics = telemetry::prometheus();
        let tasks = Supervisor::new();
        create_private_dir(&config.data_dir)
            .with_context(|| format!("creating data dir {}", config.data_dir.display()))?;
        let data_lock = DataDirLock::acquire(&config.data_dir)?;
        let (store, accounts) = open_store(&config).await?;
        let journal = WriteBehind::spawn(store.clone(), config.write_behind.clone());
        // FailNode: a lane that died takes every later send of its rooms with it; the node
        // must stop saying it is ready. (At shutdown the lanes stop quietly.)
        let watched = journal.clone();
        tasks.spawn(Task::WriteBehind, Policy::FailNode, move || {
            let journal = watched.clone();
            Some(async move { journal.stopped().await })
        });
        let accounts = Arc::new(accounts);
        let rules = config.throttle_rules();
        let throttle: Arc<dyn Throttle> = match &config.cluster.redis_url {
            Some(url) => {
                let prefix = &config.cluster.key_prefix;
                let sync = config.cluster.throttle_sync;
                let (throttle, sync) = RedisThrottle::connect(url, prefix, rules, sync)
                    .await
                    .context("connecting to Redis for rate limits")?;
                // Restart: the counts live in the throttle's table; a run that failed loses
                // at most the counts it was pushing.
                tasks.spawn(Task::ThrottleSync, Policy::RESTART, move || {
                    sync.is_live().then(|| sync.clone().run())
                });
                Arc::new(throttle)
            }
            None => Arc::new(LocalThrottle::new(rules)),
        };
        let (tokens, cognito) = identity(&config, &accounts).await?;
        let hub = Hub::start(
            store.clone(),
            journal.clone(),
            tokens,
            throttle.clone(),
            config.hub(),
        );
        if config.auth.provider == Provider::Cognito && !config.cognito.revoke_within.is_zero() {
            let checks = Arc::new(
                RevocationChecks::connect(&config.cognito, hub.clone(), store.clone()).await,
            );
            // Restart: a round keeps nothing a restart misses (the next run reads the store's
            // revocations of the last day again); failing the node for it would cut off
            // everyone to stop cutting off a few.
            tasks.spawn(Task::RevocationCheck, Policy::RESTART, move || {
                Some(checks.clone().run())
            });
        }
        let listener = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("binding {}", config.listen))?;
        let addr = listener.local_addr()?;
        let advertise = advertised(&config, addr).await?;
        let me = NodeId(
            config
                .cluster
                .node_id
                .clone()
                .unwrap_or_else(|| advertise.clone()),
        );
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
                let me = Member {
                    node: me.clone(),
                    addr: advertise.clone(),
                };
                let node = me.node.clone();
                let args = ClusterArgs {
                    me,
                    membership: Arc::new(membership),
                    config: config.cluster.clone(),
                };
                let view = ClusterView::start(args, &tasks);
                view.wait_for_startup().await;
                let ring = view.ask(WatchRing).await?.0;
                let link = ClusterLink::start(
                    node,
                    Arc::new(bus),
                    ring,
                    config.cluster.forward_limits(),
                    hub.router(),
                    &tasks,
                );
                hub.set_cluster(link);
                Some(view)
            }
            None => None,
        };
        let (board, ring): (Arc<dyn Board>, _) = match (&config.cluster.redis_url, &cluster) {
            (Some(url), Some(view)) => {
                let board = RedisBoard::connect(url, &config.cluster.key_prefix)
                    .await
                    .context("connecting to Redis for the dashboard")?;
                (Arc::new(board), Some(view.ask(WatchRing).await?.0))
            }
            _ => (Arc::new(LocalBoard::default()), None),
        };
        let reporter_args = ReporterArgs {
            me,
            addr: advertise,
            hub: hub.clone(),
            metrics: metrics.clone(),
            board,
            ring,
            interval: Duration::from_millis(config.dashboard.interval_ms.max(100)),
        };
        let (reporter, dashboard) = Reporter::spawn(reporter_args, &tasks);
        let media = Media::open(&config.media, &config.data_dir, addr).await?;
        // Before the listener starts: no client can ask for a slot or send an attachment
        // before the node's media is in place.
        hub.set_attachments(Arc::new(NodeAttachments::new(media.clone(), store.clone())));
        // Restart: a sweep keeps nothing between runs; a failed one is redone next interval.
        let (sweeper, swept) = (media.clone(), store.clone());
        tasks.spawn(Task::MediaSweep, Policy::RESTART, move || {
            Some(sweeper.clone().sweep_forever(swept.clone()))
        });
        let state = AppState {
            hub: hub.clone(),
            store: store.clone(),
            throttle,
            accounts: accounts.clone(),
            metrics,
            dashboard,
            admin_token: config.dashboard.admin_token.clone().map(Arc::from),
            cognito,
            limits: config.limits.clone(),
            body_read_timeout: Duration::from_millis(config.http.body_read_timeout_ms),
            max_body_bytes: config.http.max_body_bytes,
            tasks: tasks.clone(),
            media: media.clone(),
        };
        let (stop_accepting, stopped) = watch::channel(false);
        let router = http::router(state);
        let listener = Arc::new(listener);
        let http_config = config.http.clone();
        // Restart: the accept loop keeps nothing but the HTTP connections it serves (those of
        // a run that panicked are dropped; upgraded WebSockets live in their own actors).
        // Failing the node at once would not do: without an accept loop `/readyz` goes unanswered.
        let serve = tasks.spawn(Task::Listener, Policy::RESTART, move || {
            let mut stopped = stopped.clone();
            if *stopped.borrow_and_update() {
                return None;
            }
            let stop = async move {
                let _ = stopped.wait_for(|stop| *stop).await;
            };
            Some(listener::serve(
                listener.clone(),
                router.clone(),
                http_config.clone(),
                stop,
            ))
        });
        tracing::info!(%addr, "switchboard ready");
        Ok(Node {
            addr,
            hub,
            store,
            journal,
            cluster,
            accounts,
            media,
            tasks,
            stop_accepting,
            serve,
            reporter,
            grace: config.engine.shutdown_grace,
            _data_lock: data_lock,
        })
    }

    /// Graceful shutdown: tell every client to reconnect (close 1012) and wait for the
    /// connections to close (up to the grace period), then close the listener, stop the rooms
    /// and make every queued message durable. While connections drain the listener stays open,
    /// so load balancers and clients get answers (`/readyz` 503, `/ws` 503 with 5001) rather
    /// than refused connections.
    pub async fn shutdown(mut self) {
        let started = tokio::time::Instant::now();
        // From here on a task that ends was stopped: the ring follower ends with the view.
        self.tasks.begin_shutdown();
        self.reporter.stop();
        // Leave the cluster first, so the others stop counting on this node at once.
        if let Some(view) = self.cluster.take() {
            tracing::info!("shutdown: leaving the cluster");
            let _ = view.stop_gracefully().await;
            view.wait_for_shutdown().await;
        }
        self.hub.begin_shutdown();
        tracing::info!(
            connections = self.hub.live_connections(),
            grace = ?self.grace,
            "shutdown: clients told to reconnect (1012); draining"
        );
        let deadline = started + self.grace;
        while self.hub.live_connections() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let left = self.hub.live_connections();
        if left > 0 {
            tracing::warn!(left, "shutdown: grace period over; closing the rest");
        } else {
            tracing::info!(took = ?started.elapsed(), "shutdown: connections drained");
        }
        self.stop_accepting.send_replace(true);
        self.serve.ended().await;
        tracing::info!("shutdown: listener closed; stopping rooms and flushing the write-behind");
        self.hub.finish_shutdown().await;
        self.tasks.finish_shutdown();
        tracing::info!(took = ?started.elapsed(), "switchboard stopped; write-behind flushed");
    }
}
