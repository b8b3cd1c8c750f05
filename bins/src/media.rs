//! The node's media store, as `[media]` chooses it: the local store under the data directory
//! (its URLs signed with `media.local_secret` or `<data_dir>/media.key`, pointing at
//! `media.public_url` or the listen address) or an S3 bucket; and the periodic sweep of
//! uploads never attached.

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
        let (store, local): (Arc<dyn MediaStore>, _) = match config.backend {
            Backend::Local => {
                let secret = local_secret(config, data_dir).await?;
                let base = config
                    .public_url
                    .clone()
                    .unwrap_or_else(|| format!("http://{listen}"));
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
            config: Arc::new(config.clone()),
            thumbnailer: config.thumbnailer(),
        })
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
