//! `[media]` in the node's configuration: which store holds attachments, how long signed URLs
//! last, when unattached uploads go, and the limits (`[media.limits]`).

use std::time::Duration;

use serde::{Deserialize, Serialize};
use switchboard_engine::settings::secs;

use crate::limits::MediaLimits;

/// Where attachments live.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// Files under `<data_dir>/media`, URLs signed and served by the node (the embedded default).
    Local,
    /// An S3 bucket (`[media.s3]`), URLs presigned with SigV4.
    S3,
}

/// `[media]`, deserialised directly.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MediaConfig {
    /// `local` or `s3`.
    pub backend: Backend,
    /// `upload_url_secs`: how long an upload URL works (10 minutes).
    #[serde(rename = "upload_url_secs", with = "secs")]
    pub upload_url: Duration,
    /// `download_url_secs`: how long a download URL works (1 minute); clients ask again.
    #[serde(rename = "download_url_secs", with = "secs")]
    pub download_url: Duration,
    /// `unattached_secs`: an upload never attached to a message is deleted this long after its
    /// slot was made (1 day). Keep it at least a day: `uploads_per_day` counts the uploads still
    /// recorded.
    #[serde(rename = "unattached_secs", with = "secs")]
    pub unattached: Duration,
    /// `sweep_interval_secs`: how often the node looks for such uploads (10 minutes).
    #[serde(rename = "sweep_interval_secs", with = "secs")]
    pub sweep_interval: Duration,
    /// Longest side of a thumbnail, in pixels.
    pub thumbnail_px: u32,
    /// Thumbnails made at once (each holds its source and decoded image, up to 64 MiB);
    /// further ones wait.
    pub thumbnail_concurrency: usize,
    /// Local store: the URL clients reach this node at, for the URLs it signs (e.g.
    /// `https://chat.example.com`). Unset: `http://<listen>`.
    pub public_url: Option<String>,
    /// Local store: the secret its URLs are signed with (at least 16 bytes). Unset: one is
    /// generated into `<data_dir>/media.key` on first start. (The local store keeps files on
    /// one node: a cluster uses S3.)
    pub local_secret: Option<String>,
    /// `upload_timeout_secs`: local store: the time an upload's body may take to arrive (2
    /// minutes); after it the upload fails and nothing is kept.
    #[serde(rename = "upload_timeout_secs", with = "secs")]
    pub upload_timeout: Duration,
    /// `[media.limits]`: sizes per plan, content types, uploads per day.
    pub limits: MediaLimits,
    /// `[media.s3]`: the bucket, when `backend = "s3"`.
    pub s3: S3Config,
}

impl MediaConfig {
    /// The origin signed URLs point at when it is not the node's own (the S3 store's), for
    /// the page's Content-Security-Policy: `None` for the local store.
    pub fn foreign_origin(&self) -> Option<String> {
        if self.backend != Backend::S3 {
            return None;
        }
        let s3 = &self.s3;
        Some(match (&s3.endpoint, s3.path_style) {
            (Some(endpoint), _) => origin_of(endpoint),
            (None, true) => format!("https://s3.{}.amazonaws.com", s3.region),
            (None, false) => format!("https://{}.s3.{}.amazonaws.com", s3.bucket, s3.region),
        })
    }

    /// The thumbnail maker these settings describe.
    pub fn thumbnailer(&self) -> crate::thumbnail::Thumbnailer {
        crate::thumbnail::Thumbnailer::new(
            self.thumbnail_concurrency,
            self.limits.largest(),
            self.thumbnail_px,
        )
    }
}

impl Default for MediaConfig {
    fn default() -> Self {
        MediaConfig {
            backend: Backend::Local,
            upload_url: Duration::from_secs(600),
            download_url: Duration::from_secs(60),
            unattached: Duration::from_secs(24 * 3600),
            sweep_interval: Duration::from_secs(600),
            thumbnail_px: 320,
            thumbnail_concurrency: 2,
            public_url: None,
            local_secret: None,
            upload_timeout: Duration::from_secs(120),
            limits: MediaLimits::default(),
            s3: S3Config::default(),
        }
    }
}

/// `scheme://host[:port]` of a URL (the URL itself when it has no path).
fn origin_of(url: &str) -> String {
    let host_start = url.find("://").map_or(0, |i| i + 3);
    match url[host_start..].find('/') {
        Some(i) => url[..host_start + i].to_owned(),
        None => url.to_owned(),
    }
}

/// `[media.s3]`: an S3 bucket, or a stand-in speaking its API.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct S3Config {
    pub bucket: String,
    pub region: String,
    /// Another endpoint than AWS's, e.g. `http://127.0.0.1:9000` for a local stand-in.
    pub endpoint: Option<String>,
    /// Path-style addressing (`<endpoint>/<bucket>/<key>`) rather than a bucket subdomain.
    pub path_style: bool,
    /// Static credentials; with both unset the standard AWS chain is used (environment,
    /// profile, web identity, ECS task role, EC2 instance profile).
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
}

impl Default for S3Config {
    fn default() -> Self {
        S3Config {
            bucket: String::new(),
            region: "us-east-1".into(),
            endpoint: None,
            path_style: true,
            access_key_id: None,
            secret_access_key: None,
        }
    }
}

#[cfg(test)]
mod origin_tests {
    use super::*;

    #[test]
    fn the_s3_origin_is_the_endpoint_or_aws() {
        let mut c = MediaConfig::default();
        assert_eq!(c.foreign_origin(), None);
        c.backend = Backend::S3;
        c.s3.bucket = "files".into();
        c.s3.region = "eu-west-1".into();
        c.s3.path_style = false;
        assert_eq!(
            c.foreign_origin().as_deref(),
            Some("https://files.s3.eu-west-1.amazonaws.com")
        );
        c.s3.path_style = true;
        assert_eq!(
            c.foreign_origin().as_deref(),
            Some("https://s3.eu-west-1.amazonaws.com")
        );
        c.s3.endpoint = Some("http://127.0.0.1:9000/".into());
        assert_eq!(c.foreign_origin().as_deref(), Some("http://127.0.0.1:9000"));
        c.s3.endpoint = Some("http://127.0.0.1:9000".into());
        assert_eq!(c.foreign_origin().as_deref(), Some("http://127.0.0.1:9000"));
    }
}
