//! Before the load: the nodes (started here or given), their users and their rooms.

use std::time::Duration;

use anyhow::Context as _;
use futures::StreamExt as _;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use switchboard_client::Client;
use switchboard_engine::protocol::Visibility;
use switchboard_persistence::store::scratch::{ScratchDatabase, admin_url};

use crate::cognito::Pool;
use crate::node::{self, Node};
use crate::plan::Plan;
use crate::scenario::{Identity, NodeKind, Scenario};

/// The servers of a run and what they need, all stopped and removed when dropped.
pub struct Cluster {
    /// `host:port` of each node, in order.
    pub addrs: Vec<String>,
    /// Started nodes (none for given addresses).
    pub nodes: Vec<Node>,
    redis: Option<(String, String)>,
    _db: Option<ScratchDatabase>,
    /// The stand-in user pool of a Cognito run.
    pub pool: Option<Pool>,
}

impl Cluster {
    pub async fn start(s: &Scenario) -> anyhow::Result<Cluster> {
        if !s.nodes.addresses.is_empty() {
            return Ok(Cluster {
                addrs: s.nodes.addresses.clone(),
                nodes: Vec::new(),
                redis: None,
                _db: None,
                pool: None,
            });
        }
        if s.nodes.kind == NodeKind::Floor {
            let nodes =
                futures::future::try_join_all((0..s.nodes.count).map(|_| Node::start_floor()))
                    .await?;
            return Ok(Cluster {
                addrs: nodes.iter().map(Node::addr).collect(),
                nodes,
                redis: None,
                _db: None,
                pool: None,
            });
        }
        let server = s.nodes.server.to_str().context("server path")?;
        let mut env = s.nodes.env.clone();
        let pool = match s.identity {
            Identity::Local => None,
            Identity::Cognito => Some(Pool::start().await?),
        };
        env.extend(pool.iter().flat_map(Pool::node_env));
        let (mut redis, mut db) = (None, None);
        if s.clustered() {
            let scratch = ScratchDatabase::create(&admin_url(), "bench_load").await?;
            let prefix = format!("sbload:{}", std::process::id());
            for (k, v) in [
                ("SWITCHBOARD_DATABASE__URL", scratch.url.as_str()),
                ("SWITCHBOARD_CLUSTER__REDIS_URL", s.nodes.redis_url.as_str()),
                ("SWITCHBOARD_CLUSTER__KEY_PREFIX", prefix.as_str()),
                ("SWITCHBOARD_AUTH__TOKEN_SECRET", "benchmark-secret"),
            ] {
                env.push((k.into(), v.into()));
            }
            redis = Some((s.nodes.redis_url.clone(), prefix));
            db = Some(scratch);
        }
        let nodes = futures::future::try_join_all((0..s.nodes.count).map(|i| {
            let mut env = env.clone();
            if redis.is_some() {
                env.push(("SWITCHBOARD_CLUSTER__NODE_ID".into(), format!("load-{i}")));
            }
            async move { Node::start_with(server, s.nodes.durable, &env).await }
        }))
        .await?;
        if redis.is_some() {
            // Every node sees every other after one membership poll.
            tokio::time::sleep(Duration::from_millis(1_500)).await;
        }
        Ok(Cluster {
            addrs: nodes.iter().map(Node::addr).collect(),
            nodes,
            redis,
            _db: db,
            pool,
        })
    }

    pub async fn stop(self) -> anyhow::Result<()> {
        for node in self.nodes {
            node.stop().await?;
        }
        if let Some((url, prefix)) = &self.redis {
            let keys = switchboard_persistence::cluster::redis::RedisMembership::keys(prefix);
            let client = redis::Client::open(url.as_str())?;
            let _: () = redis::cmd("DEL")
                .arg(&keys)
                .query_async(&mut client.get_multiplexed_async_connection().await?)
                .await?;
        }
        Ok(())
    }
}

/// Users and rooms for the plan. On the floor there are neither: tokens are absent and room
/// ids are the plan's room indexes.
pub struct Population {
    /// Token and user id of each socket's user.
    pub users: Vec<(String, u64)>,
    pub room_ids: Vec<u64>,
}

pub fn bar(mp: &MultiProgress, len: u64, name: &str) -> ProgressBar {
    mp.add(progress(len, name))
}

/// A progress bar of `len` steps named `name`, in the style every phase of the harness uses.
pub fn progress(len: u64, name: &str) -> ProgressBar {
    let pb = ProgressBar::new(len);
    pb.set_style(
        ProgressStyle::with_template("{prefix:>9} [{bar:30}] {pos}/{len} {per_sec} {msg}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    pb.set_prefix(name.to_owned());
    pb
}

/// `n` users signed up through the nodes' local accounts, spread over the nodes: their tokens
/// and ids.
async fn sign_up(
    cluster: &Cluster,
    prefix: &str,
    n: usize,
    mp: &MultiProgress,
) -> anyhow::Result<Vec<(String, u64)>> {
    let pb = bar(mp, n as u64, "sign-up");
    let http = node::http_client();
    let per = n.div_ceil(cluster.addrs.len());
    let tick = || pb.inc(1);
    let chunks =
        futures::future::try_join_all(cluster.addrs.iter().enumerate().map(|(i, a)| {
            let base = format!("http://{a}");
            let (http, tick) = (&http, &tick);
            async move {
                node::sign_up(http, &base, prefix, i * per..((i + 1) * per).min(n), tick).await
            }
        }))
        .await
        .context("signing users up")?;
    pb.finish();
    Ok(chunks.into_iter().flatten().collect())
}

/// `n` users of the stand-in pool, each made by its first connection (a node makes the user of
/// a `sub` it has not seen), spread over the nodes: their access tokens and ids. The measured
/// connect phase then sees returning users, as a local-accounts run does.
async fn first_sight(
    cluster: &Cluster,
    pool: &Pool,
    prefix: &str,
    n: usize,
    mp: &MultiProgress,
) -> anyhow::Result<Vec<(String, u64)>> {
    let pb = bar(mp, n as u64, "1st sight");
    let users = futures::stream::iter(0..n)
        .map(|i| {
            let url = format!("ws://{}/ws", cluster.addrs[i % cluster.addrs.len()]);
            let pb = &pb;
            async move {
                let token = pool.access_token(&format!("{prefix}{i}"))?;
                let client = Client::connect(&url, Some(&token)).await?;
                let id = client.hello().user.as_ref().context("no user in hello")?.id;
                client.close();
                pb.inc(1);
                anyhow::Ok((token, id.0))
            }
        })
        .buffered(64)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<Vec<_>, _>>()
        .context("first connections of the pool's users")?;
    pb.finish();
    Ok(users)
}

pub async fn populate(
    s: &Scenario,
    plan: &Plan,
    cluster: &Cluster,
    mp: &MultiProgress,
) -> anyhow::Result<Population> {
    if s.nodes.kind == NodeKind::Floor {
        return Ok(Population {
            users: Vec::new(),
            room_ids: (0..plan.rooms.len() as u64).collect(),
        });
    }
    // One more user than sockets: the rooms' creator, so no socket owns every room.
    let n = s.sockets + 1;
    let prefix = format!("load{}x", std::process::id());
    let mut users = match &cluster.pool {
        None => sign_up(cluster, &prefix, n, mp).await?,
        Some(pool) => first_sight(cluster, pool, &prefix, n, mp).await?,
    };
    let creator = users.pop().context("no users")?;

    let pb = bar(mp, plan.rooms.len() as u64, "rooms");
    let url = format!("ws://{}/ws", cluster.addrs[0]);
    let admin = Client::connect(&url, Some(&creator.0)).await?;
    let room_ids: Vec<u64> = futures::stream::iter(0..plan.rooms.len())
        .map(|r| {
            let (admin, pb) = (&admin, &pb);
            async move {
                let id = admin
                    .create_room(&format!("load{r}"), Visibility::Public)
                    .await?;
                pb.inc(1);
                anyhow::Ok(id.0)
            }
        })
        // Within the node's `engine.commands_in_flight` (16 by default): one more is refused busy.
        .buffered(16)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_, _>>()
        .context("creating rooms")?;
    admin.close();
    pb.finish();
    if cluster.nodes.is_empty() {
        // Nodes we did not start keep what the run made: nothing deletes accounts or rooms yet.
        eprintln!(
            "note: {} users named {prefix}N and {} rooms named loadN stay on the given nodes \
             (Switchboard has no account or room deletion yet)",
            n,
            room_ids.len()
        );
    }
    Ok(Population { users, room_ids })
}
