//! The node's media store, as `[media]` chooses it: the local store under the data directory
//! (its URLs signed with `media.local_secret` or `<data_dir>/media.key`, pointing at
//! `media.public_url`, or else at whatever address the client used: see [`Media::for_client`])
//! or an S3 bucket; and the periodic sweep of uploads never attached.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use switchboard_engine::metrics as names;
use switchboard_media::local::LocalMedia;
use switchboard_media::s3::S3Media;
use switchboard_media::sweep::sweep_unattached;
use switchboard_media::thumbnail::Thumbnailer;
use switchboard_media::{Backend, MediaConfig, MediaStore};
use switchboard_persistence::Store;

/// The media store a node serves, and its local store when it is one (the node's routes
/// serve that store's signed URLs).
#[derive(Clone)]
pub struct Media {
    pub store: Arc<dyn MediaStore>,
    pub local: Option<Arc<LocalMedia>>,
    /// The local store's own base (`http://{listen}`) when no `media.public_url` is set: the
    /// URLs given to clients are rebased off it ([`Media::for_client`]).
    listen_base: Option<String>,
    pub config: Arc<MediaConfig>,
    /// Makes the thumbnails of attached images, `media.thumbnail_concurrency` at once.
    pub thumbnailer: Thumbnailer,
}

impl Media {
    /// Opens the configured store. `listen` is the bound address, the default base of the
    /// local store's URLs.
    pub async fn open(
        config: &MediaConfig,
        data_dir: &Path,
        listen: SocketAddr,
    ) -> anyhow::Result<Media> {
        let mut listen_base = None;
        let (store, local): (Arc<dyn MediaStore>, _) = match config.backend {
            Backend::Local => {
                let secret = local_secret(config, data_dir).await?;
                let base = match &config.public_url {
                    Some(url) => {
                        warn_if_machine_only(url, listen);
                        url.clone()
                    }
                    None => {
                        let base = format!("http://{listen}");
                        listen_base = Some(base.clone());
                        base
                    }
                };
                let largest = config.limits.largest();
                let local = LocalMedia::open(data_dir.join("media"), &base, &secret, largest)
                    .await
                    .context("opening the local media store")?;
                let local = Arc::new(local);
                (local.clone(), Some(local))
            }
            Backend::S3 => {
                let s3 = S3Media::connect(&config.s3)
                    .await
                    .context("configuring the S3 media store")?;
                (Arc::new(s3), None)
            }
        };
        Ok(Media {
            store,
            local,
            listen_base,
            config: Arc::new(config.clone()),
            thumbnailer: config.thumbnailer(),
        })
    }

    /// A URL of the local store as a client should get it. With `media.public_url` set, or an
    /// S3 store, unchanged. Otherwise the node's own base (its listen address, which a browser
    /// that opened the page as `http://localhost:PORT` must not be sent to: its CSP allows only
    /// the page's own origin) is replaced by `http://{host}`, the `Host` the client's request
    /// named (HTTP routes), or dropped, leaving a path on the node the client is connected to
    /// (WebSocket replies: clients resolve it against the node's URL, PROTOCOL §3.3).
    pub fn for_client(&self, url: String, host: Option<&str>) -> String {
        rebase(self.listen_base.as_deref(), url, host)
    }

    /// Sweeps unattached uploads every `sweep_interval` until the future is dropped; a failed
    /// run is logged and the next one tries again.
    pub async fn sweep_forever(self, store: Arc<dyn Store>) {
        let mut every =
            tokio::time::interval(self.config.sweep_interval.max(Duration::from_secs(1)));
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64);
            match sweep_unattached(&*store, &*self.store, self.config.unattached, now).await {
                Ok(0) => {}
                Ok(removed) => {
                    metrics::counter!(names::MEDIA_SWEPT).increment(removed as u64);
                    tracing::info!(removed, "media: unattached uploads removed");
                }
                Err(e) => tracing::warn!(error = %e, "media: sweep failed; retrying next interval"),
            }
        }
    }
}

/// `media.local_secret`, else the key in `<data_dir>/media.key`, made on first start (32
/// random bytes, readable only by the node's user).
async fn local_secret(config: &MediaConfig, data_dir: &Path) -> anyhow::Result<Vec<u8>> {
    if let Some(secret) = &config.local_secret {
        anyhow::ensure!(
            secret.len() >= switchboard_media::local::MIN_SECRET_BYTES,
            "media.local_secret must be at least {} bytes",
            switchboard_media::local::MIN_SECRET_BYTES
        );
        return Ok(secret.as_bytes().to_vec());
    }
    let path = data_dir.join("media.key");
    let read = {
        let path = path.clone();
        tokio::task::spawn_blocking(move || crate::keyfile::read_or_make(&path)).await?
    };
    read.with_context(|| format!("reading or writing {}", path.display()))
}

/// `url` with `listen_base` replaced by `http://{host}`, or by nothing (see
/// [`Media::for_client`]); any other URL unchanged.
fn rebase(listen_base: Option<&str>, url: String, host: Option<&str>) -> String {
    let Some(path) = listen_base.and_then(|base| url.strip_prefix(base)) else {
        return url;
    };
    match host.filter(|h| h.parse::<axum::http::uri::Authority>().is_ok()) {
        Some(host) => format!("http://{host}{path}"),
        None => path.to_owned(),
    }
}

/// Warns when `media.public_url` names this machine only (a loopback host) while the node
/// listens for other machines too: their clients would be sent to themselves.
fn warn_if_machine_only(public_url: &str, listen: SocketAddr) {
    let host = public_url
        .split("://")
        .nth(1)
        .and_then(|rest| rest.split(['/', '?']).next())
        .and_then(|authority| authority.parse::<axum::http::uri::Authority>().ok());
    let Some(host) = host else {
        tracing::warn!(
            public_url,
            "media.public_url is not an http(s) URL with a host"
        );
        return;
    };
    let loopback = matches!(host.host(), "localhost" | "[::1]")
        || host
            .host()
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if loopback && !listen.ip().is_loopback() {
        tracing::warn!(
            public_url,
            %listen,
            "media.public_url names this machine only, but the node listens for others: \
             their uploads and downloads would go to their own machine"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: Option<&str> = Some("http://127.0.0.1:8080");

    #[test]
    fn urls_are_rebased_onto_the_host_the_client_used() {
        let url = || "http://127.0.0.1:8080/media/rooms/1/2?sig=x".to_owned();
        assert_eq!(
            rebase(BASE, url(), Some("localhost:8080")),
            "http://localhost:8080/media/rooms/1/2?sig=x"
        );
        // No Host (a WebSocket reply), or one that is not an authority: a path on the node.
        assert_eq!(rebase(BASE, url(), None), "/media/rooms/1/2?sig=x");
        assert_eq!(rebase(BASE, url(), Some("a b/")), "/media/rooms/1/2?sig=x");
        // With media.public_url (no listen base), or another store's URL: unchanged.
        assert_eq!(rebase(None, url(), Some("localhost:8080")), url());
        let s3 = "http://s3.local/bucket/key".to_owned();
        assert_eq!(rebase(BASE, s3.clone(), Some("x:1")), s3);
    }
}
