//! `switchboard`: run a node, or administer its embedded store.

// A CLI answers on stdout; logs go to stderr.
#![allow(clippy::print_stdout)]

use std::io::IsTerminal as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use bytes::Bytes;
use clap::{Parser, Subcommand};
use http_body_util::Empty;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use switchboard::Config;
use switchboard::config::LogFormat;
use switchboard::server::{self, Node};
use switchboard_engine::domain::Plan;
use switchboard_persistence::store::postgres::PostgresStore;

#[derive(Parser)]
#[command(name = "switchboard", version, about = "Realtime chat engine")]
struct Cli {
    /// TOML configuration file (defaults → file → SWITCHBOARD_* environment).
    #[arg(long, short, global = true, env = "SWITCHBOARD_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a node until SIGTERM or Ctrl-C.
    Serve,
    /// Print the effective configuration as TOML (secrets redacted).
    Config,
    /// Ask the node this configuration describes for `/healthz` (on loopback when it listens
    /// on a wildcard address); exit 0 when it answers 200 within 2 s, 1 otherwise. The
    /// container image's health check: its runtime image has no curl.
    Healthcheck,
    /// Apply pending Postgres schema migrations (`database.url` must be set).
    Migrate,
    /// Create a local account and print its id and a token.
    CreateUser {
        name: String,
        #[arg(long, env = "SWITCHBOARD_PASSWORD")]
        password: String,
    },
    /// Print a fresh token for an existing local account.
    Token { name: String },
    /// Put a user (a local account or a Cognito user, by Switchboard user name) on a plan:
    /// what they may upload (`media.limits`). Takes effect with their next upload slot.
    SetPlan {
        name: String,
        #[arg(value_parser = ["free", "premium"])]
        plan: String,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // Before any token is signed or checked: the process keeps the first provider it uses.
    switchboard_engine::auth::crypto::install();
    let config = Config::load(cli.config.as_deref()).context("loading configuration")?;
    init_logs(&config);
    match cli.command {
        Command::Serve => serve(config).await,
        Command::Config => {
            print!("{}", toml::to_string_pretty(&config.redacted())?);
            Ok(())
        }
        Command::Healthcheck => healthcheck(config.listen).await,
        Command::Migrate => {
            if config.database.url.is_none() {
                anyhow::bail!("database.url is not set: the embedded SQLite store migrates itself");
            }
            let store = PostgresStore::connect(&config.database).await?;
            let ran = store.migrate().await?;
            println!("{ran} migration(s) applied");
            Ok(())
        }
        Command::CreateUser { name, password } => {
            let (_, accounts) = server::open_store(&config).await?;
            let session = accounts
                .sign_up(&name, &password)
                .await
                .map_err(|e| anyhow::anyhow!("cannot create user: {}", e.message))?;
            println!("{} {}", session.user.id, session.token);
            Ok(())
        }
        Command::Token { name } => {
            let (_, accounts) = server::open_store(&config).await?;
            let session = accounts
                .issue_for(&name)
                .await
                .map_err(|c| anyhow::anyhow!("cannot issue token: {}", c.describe()))?;
            println!("{}", session.token);
            Ok(())
        }
        Command::SetPlan { name, plan } => {
            let plan = Plan::parse(&plan).context("plan is free or premium")?;
            let (_, accounts) = server::open_store(&config).await?;
            let user = accounts
                .set_plan(&name, plan)
                .await
                .map_err(|c| anyhow::anyhow!("cannot set the plan: {}", c.describe()))?;
            println!("{} {} {}", user.id, user.name, plan.as_str());
            Ok(())
        }
    }
}

/// Logs go to stderr: plain text (colour only on a terminal, never in a file), or one JSON
/// object per line with `log_format = "json"`.
fn init_logs(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log).unwrap_or_else(|e| {
        eprintln!(
            "log filter {:?} is invalid ({e}); using \"info\"",
            config.log
        );
        tracing_subscriber::EnvFilter::new("info")
    });
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match config.log_format {
        LogFormat::Json => logs.json().init(),
        LogFormat::Text => logs.with_ansi(std::io::stderr().is_terminal()).init(),
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        "starting: {}",
        config.summary()
    );
    let node = Node::start(config).await?;
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
        _ = tokio::signal::ctrl_c() => tracing::info!("interrupt: shutting down"),
    }
    node.shutdown().await;
    Ok(())
}

/// `GET /healthz` on the node listening at `listen`.
async fn healthcheck(listen: SocketAddr) -> anyhow::Result<()> {
    let ip = match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    let url = format!("http://{}/healthz", SocketAddr::new(ip, listen.port()));
    let client: Client<HttpConnector, Empty<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    let response = tokio::time::timeout(Duration::from_secs(2), client.get(url.parse()?))
        .await
        .with_context(|| format!("GET {url}: no answer within 2 s"))?
        .with_context(|| format!("GET {url}"))?;
    anyhow::ensure!(
        response.status().is_success(),
        "GET {url} answered {}",
        response.status()
    );
    Ok(())
}
