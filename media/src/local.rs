//! The embedded media store: files under the data directory, with upload and download URLs
//! signed by the node (see [`signing`]) and served by its own routes (`bins::http::media`).
//!
//! Layout under the root (`<data_dir>/media`): `objects/<key>` holds an object's bytes,
//! `types/<key>` its content type, `partial/` uploads in progress. An upload is written to
//! `partial/` and renamed into place once complete and synced, its type first, so a reader
//! never sees a partial object or an object without a type.

mod signing;

use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use bytes::Bytes;
use futures::{Stream, StreamExt};
use serde::Deserialize;
use switchboard_engine::ErrorCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub use signing::{Grant, LinkError, MIN_SECRET_BYTES, Signer};

use crate::key::MediaKey;
use crate::store::{MediaError, MediaStore, ObjectInfo, SignedRequest, Validity, header_safe};

/// The path of the node's media routes; a key follows it.
pub const ROUTE_PREFIX: &str = "/media/";

/// Bytes read from a file at a time when serving it.
const READ_CHUNK: usize = 64 * 1024;

/// Longest content type read back from `types/`.
const MAX_TYPE_BYTES: u64 = 255;

/// The query of a signed local URL, as the node's routes receive it.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedQuery {
    /// Uploads: the content type the client must send.
    #[serde(rename = "type")]
    pub content_type: Option<String>,
    /// Uploads: the exact `Content-Length` the client must send.
    pub size: Option<u64>,
    /// Seconds since the Unix epoch.
    pub expires: u64,
    pub sig: String,
}

/// Why an upload to a local URL was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error("{0}")]
    Link(#[from] LinkError),
    /// The request is not the one signed: another content type or length, or a body that does
    /// not match its length.
    #[error("{0}")]
    Mismatch(&'static str),
    /// A signed length over what this store takes at all (the largest upload any plan allows).
    #[error("larger than the {0} bytes this store takes")]
    TooLarge(u64),
    /// The client's body failed while arriving (it went away, or took too long).
    #[error("upload body: {0}")]
    Body(String),
    #[error(transparent)]
    Store(#[from] MediaError),
}

impl UploadError {
    /// The code the client is answered with.
    pub fn code(&self) -> ErrorCode {
        match self {
            UploadError::Link(LinkError::BadSignature) => ErrorCode::BadSignature,
            UploadError::Link(LinkError::Expired) => ErrorCode::LinkExpired,
            UploadError::Mismatch(_) | UploadError::Body(_) => ErrorCode::UploadMismatch,
            UploadError::TooLarge(_) => ErrorCode::TooLarge,
            UploadError::Store(MediaError::Invalid(_)) => ErrorCode::InvalidArgument,
            UploadError::Store(_) => ErrorCode::Internal,
        }
    }

    /// The `outcome` label of `switchboard_media_uploads_total`.
    pub fn outcome(&self) -> &'static str {
        match self {
            UploadError::Link(LinkError::BadSignature) => "bad_signature",
            UploadError::Link(LinkError::Expired) => "expired",
            UploadError::TooLarge(_) => "too_large",
            UploadError::Mismatch(_) | UploadError::Body(_) => "mismatch",
            UploadError::Store(_) => "error",
        }
    }
}

pub struct LocalMedia {
    root: PathBuf,
    /// Where clients reach this node, without a trailing `/`, e.g. `http://127.0.0.1:8080`.
    base_url: String,
    signer: Signer,
    /// The largest object stored: no URL is signed, and no upload taken, beyond it.
    max_bytes: u64,
}

fn backend(what: &str, path: &Path, e: std::io::Error) -> MediaError {
    MediaError::Backend(format!("{what} {}: {e}", path.display()))
}

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// `text` for a URL query value: unreserved characters as they are, every other byte as `%XX`.
fn query_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Removes an upload's temporary file unless it was moved into place, also when the upload's
/// future is dropped half-way (the client went away).
struct Partial {
    path: Option<PathBuf>,
}

impl Drop for Partial {
    fn drop(&mut self) {
        // Off the runtime thread. Without a runtime (it is shutting down) the file stays, and
        // goes when the store next opens.
        if let (Some(path), Ok(runtime)) = (self.path.take(), tokio::runtime::Handle::try_current())
        {
            runtime.spawn_blocking(move || std::fs::remove_file(path));
        }
    }
}

impl LocalMedia {
    /// Opens (creating) the store under `root`; removes uploads a previous run left half-done.
    /// `base_url` is where clients reach this node's routes; `secret` signs its URLs (at
    /// least [`MIN_SECRET_BYTES`]); `max_bytes` is the largest object it takes.
    pub async fn open(
        root: PathBuf,
        base_url: &str,
        secret: &[u8],
        max_bytes: u64,
    ) -> Result<LocalMedia, MediaError> {
        let signer = Signer::new(secret).ok_or(MediaError::Invalid("media secret too short"))?;
        let partial = root.join("partial");
        match tokio::fs::remove_dir_all(&partial).await {
            Err(e) if e.kind() != ErrorKind::NotFound => {
                return Err(backend("clearing", &partial, e));
            }
            _ => {}
        }
        for dir in ["objects", "types", "partial"] {
            let dir = root.join(dir);
            tokio::fs::create_dir_all(&dir)
                .await
                .map_err(|e| backend("creating", &dir, e))?;
        }
        Ok(LocalMedia {
            root,
            base_url: base_url.trim_end_matches('/').to_owned(),
            signer,
            max_bytes,
        })
    }

    fn object_path(&self, key: &MediaKey) -> PathBuf {
        self.root.join("objects").join(key.as_str())
    }

    fn type_path(&self, key: &MediaKey) -> PathBuf {
        self.root.join("types").join(key.as_str())
    }

    /// Checks a signed URL for `key` against what the request does (`grant`) and the clock.
    pub fn check(
        &self,
        key: &MediaKey,
        grant: Grant<'_>,
        query: &SignedQuery,
    ) -> Result<(), LinkError> {
        self.signer
            .verify(key, grant, query.expires, &query.sig, now_unix())
    }

    /// Handles a `PUT` to a signed URL: checks the signature and expiry, then that the
    /// request's `Content-Type` and `Content-Length` are exactly the signed ones, before
    /// reading a byte; then stores the body, refusing it the moment it runs past the signed
    /// length. A refused or broken upload leaves nothing behind.
    pub async fn receive<S, E>(
        &self,
        key: &MediaKey,
        query: &SignedQuery,
        content_type: Option<&str>,
        content_length: Option<u64>,
        body: S,
    ) -> Result<(), UploadError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let (Some(signed_type), Some(signed_length)) = (&query.content_type, query.size) else {
            // A download URL used for an upload.
            return Err(LinkError::BadSignature.into());
        };
        let grant = Grant::Put {
            content_type: signed_type,
            length: signed_length,
        };
        self.check(key, grant, query)?;
        if signed_length > self.max_bytes {
            // Signed by this node, but under other limits (lowered since): refused all the same.
            return Err(UploadError::TooLarge(self.max_bytes));
        }
        if content_type != Some(signed_type.as_str()) {
            return Err(UploadError::Mismatch(
                "Content-Type differs from the signed upload",
            ));
        }
        if content_length != Some(signed_length) {
            return Err(UploadError::Mismatch(
                "Content-Length missing or different from the signed upload",
            ));
        }
        self.write(key, signed_type, signed_length, body).await
    }

    /// Writes exactly `length` bytes from `body` as `key`, or nothing.
    async fn write<S, E>(
        &self,
        key: &MediaKey,
        content_type: &str,
        length: u64,
        mut body: S,
    ) -> Result<(), UploadError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let mut name = [0u8; 16];
        rand::Rng::fill(&mut rand::rng(), &mut name);
        let name: String = name.iter().map(|b| format!("{b:02x}")).collect();
        let temp = self.root.join("partial").join(name);
        let mut file = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)
            .await
            .map_err(|e| backend("creating", &temp, e))?;
        let mut partial = Partial {
            path: Some(temp.clone()),
        };
        let mut written = 0u64;
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| UploadError::Body(e.to_string()))?;
            written += chunk.len() as u64;
            if written > length {
                return Err(UploadError::Mismatch("body longer than the signed length"));
            }
            file.write_all(&chunk)
                .await
                .map_err(|e| backend("writing", &temp, e))?;
        }
        if written != length {
            return Err(UploadError::Mismatch("body shorter than the signed length"));
        }
        file.sync_all()
            .await
            .map_err(|e| backend("syncing", &temp, e))?;
        drop(file);
        self.write_small(&self.type_path(key), content_type.as_bytes())
            .await?;
        let object = self.object_path(key);
        self.make_parent(&object).await?;
        tokio::fs::rename(&temp, &object)
            .await
            .map_err(|e| backend("moving into place", &object, e))?;
        partial.path = None;
        Ok(())
    }

    async fn make_parent(&self, path: &Path) -> Result<(), MediaError> {
        if let Some(parent) = path.parent() {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(|e| backend("creating", parent, e))?;
        }
        Ok(())
    }

    /// Writes a small file through a temporary file and a rename, so it is never seen half
    /// written.
    async fn write_small(&self, path: &Path, bytes: &[u8]) -> Result<(), MediaError> {
        self.make_parent(path).await?;
        let mut temp = path.as_os_str().to_owned();
        temp.push(".tmp");
        let temp = PathBuf::from(temp);
        tokio::fs::write(&temp, bytes)
            .await
            .map_err(|e| backend("writing", &temp, e))?;
        tokio::fs::rename(&temp, path)
            .await
            .map_err(|e| backend("moving into place", path, e))
    }

    /// The object's size and type, and its bytes as a stream of chunks, for a `GET` whose
    /// signed URL [`check`](Self::check) accepted.
    pub async fn open_object(
        &self,
        key: &MediaKey,
    ) -> Result<
        (
            ObjectInfo,
            impl Stream<Item = std::io::Result<Bytes>> + Send + use<>,
        ),
        MediaError,
    > {
        let content_type = self.read_type(key).await?;
        let path = self.object_path(key);
        let file = match tokio::fs::File::open(&path).await {
            Ok(file) => file,
            Err(e) if e.kind() == ErrorKind::NotFound => return Err(MediaError::NotFound),
            Err(e) => return Err(backend("opening", &path, e)),
        };
        let size = file
            .metadata()
            .await
            .map_err(|e| backend("reading", &path, e))?
            .len();
        let chunks = futures::stream::try_unfold(file, |mut file| async move {
            let mut buf = vec![0u8; READ_CHUNK];
            let n = file.read(&mut buf).await?;
            buf.truncate(n);
            Ok((n > 0).then(|| (Bytes::from(buf), file)))
        });
        Ok((ObjectInfo { size, content_type }, Box::pin(chunks)))
    }

    async fn read_type(&self, key: &MediaKey) -> Result<String, MediaError> {
        let path = self.type_path(key);
        let file = match tokio::fs::File::open(&path).await {
            Ok(file) => file,
            Err(e) if e.kind() == ErrorKind::NotFound => return Err(MediaError::NotFound),
            Err(e) => return Err(backend("opening", &path, e)),
        };
        let mut text = String::new();
        file.take(MAX_TYPE_BYTES)
            .read_to_string(&mut text)
            .await
            .map_err(|e| backend("reading", &path, e))?;
        Ok(text)
    }

    async fn remove(&self, path: &Path) -> Result<(), MediaError> {
        match tokio::fs::remove_file(path).await {
            Err(e) if e.kind() != ErrorKind::NotFound => Err(backend("removing", path, e)),
            _ => Ok(()),
        }
    }

    fn url(&self, key: &MediaKey, query: String) -> String {
        format!("{}{ROUTE_PREFIX}{key}?{query}", self.base_url)
    }
}

#[async_trait]
impl MediaStore for LocalMedia {
    async fn presign_put(
        &self,
        key: &MediaKey,
        content_type: &str,
        length: u64,
        validity: Validity,
    ) -> Result<SignedRequest, MediaError> {
        header_safe(content_type)?;
        if length > self.max_bytes {
            return Err(MediaError::Invalid("larger than the store takes"));
        }
        let expires = validity.expires_unix_secs();
        let grant = Grant::Put {
            content_type,
            length,
        };
        let sig = self.signer.sign(key, grant, expires);
        let query = format!(
            "type={}&size={length}&expires={expires}&sig={sig}",
            query_escape(content_type)
        );
        Ok(SignedRequest {
            method: "PUT",
            url: self.url(key, query),
            headers: vec![
                ("content-type".into(), content_type.into()),
                ("content-length".into(), length.to_string()),
            ],
            expires,
        })
    }

    async fn presign_get(
        &self,
        key: &MediaKey,
        validity: Validity,
    ) -> Result<SignedRequest, MediaError> {
        let expires = validity.expires_unix_secs();
        let sig = self.signer.sign(key, Grant::Get, expires);
        Ok(SignedRequest {
            method: "GET",
            url: self.url(key, format!("expires={expires}&sig={sig}")),
            headers: Vec::new(),
            expires,
        })
    }

    async fn head(&self, key: &MediaKey) -> Result<ObjectInfo, MediaError> {
        let content_type = self.read_type(key).await?;
        let path = self.object_path(key);
        match tokio::fs::metadata(&path).await {
            Ok(meta) => Ok(ObjectInfo {
                size: meta.len(),
                content_type,
            }),
            Err(e) if e.kind() == ErrorKind::NotFound => Err(MediaError::NotFound),
            Err(e) => Err(backend("reading", &path, e)),
        }
    }

    async fn put(&self, key: &MediaKey, content_type: &str, body: Bytes) -> Result<(), MediaError> {
        header_safe(content_type)?;
        let length = body.len() as u64;
        if length > self.max_bytes {
            return Err(MediaError::Invalid("larger than the store takes"));
        }
        let chunks = futures::stream::iter([Ok::<_, std::convert::Infallible>(body)]);
        match self.write(key, content_type, length, chunks).await {
            Ok(()) => Ok(()),
            Err(UploadError::Store(e)) => Err(e),
            Err(e) => Err(MediaError::Backend(e.to_string())),
        }
    }

    async fn get(&self, key: &MediaKey, max_bytes: u64) -> Result<(ObjectInfo, Bytes), MediaError> {
        let info = self.head(key).await?;
        if info.size > max_bytes {
            return Err(MediaError::TooLarge {
                size: info.size,
                max: max_bytes,
            });
        }
        let path = self.object_path(key);
        let mut bytes = Vec::with_capacity(info.size as usize);
        let file = match tokio::fs::File::open(&path).await {
            Ok(file) => file,
            Err(e) if e.kind() == ErrorKind::NotFound => return Err(MediaError::NotFound),
            Err(e) => return Err(backend("opening", &path, e)),
        };
        // Bounded even if the file grew since `head`.
        file.take(max_bytes)
            .read_to_end(&mut bytes)
            .await
            .map_err(|e| backend("reading", &path, e))?;
        Ok((info, Bytes::from(bytes)))
    }

    async fn delete(&self, key: &MediaKey) -> Result<(), MediaError> {
        // The object first: an object never exists without its type.
        self.remove(&self.object_path(key)).await?;
        self.remove(&self.type_path(key)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_escape_everything_but_unreserved_characters() {
        assert_eq!(query_escape("image/svg+xml"), "image%2Fsvg%2Bxml");
        assert_eq!(query_escape("a b&c=d"), "a%20b%26c%3Dd");
        assert_eq!(query_escape("plain-text_1.0~"), "plain-text_1.0~");
    }

    #[tokio::test]
    async fn an_upload_that_runs_past_its_length_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let media = LocalMedia::open(dir.path().to_owned(), "http://x", &[1; 32], 1024)
            .await
            .unwrap();
        let key = MediaKey::parse("rooms/1/1").unwrap();
        let chunks = futures::stream::iter(
            [b"abc".as_slice(), b"def"].map(|c| Ok::<_, std::io::Error>(Bytes::from_static(c))),
        );
        let refused = media.write(&key, "text/plain", 4, chunks).await;
        assert!(
            matches!(refused, Err(UploadError::Mismatch(_))),
            "{refused:?}"
        );
        assert!(matches!(media.head(&key).await, Err(MediaError::NotFound)));
        // The temporary file goes with the refused upload (removed off the runtime thread).
        for _ in 0..100 {
            let left = std::fs::read_dir(dir.path().join("partial"))
                .unwrap()
                .count();
            if left == 0 {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("a partial upload was left behind");
    }

    #[tokio::test]
    async fn nothing_larger_than_the_store_takes_is_signed_or_taken() {
        let dir = tempfile::tempdir().unwrap();
        let open = |max| LocalMedia::open(dir.path().to_owned(), "http://x", &[1; 32], max);
        let media = open(10).await.unwrap();
        let key = MediaKey::parse("rooms/1/1").unwrap();
        let minute = Validity::from_now(std::time::Duration::from_secs(60));
        assert!(matches!(
            media.presign_put(&key, "text/plain", 11, minute).await,
            Err(MediaError::Invalid(_))
        ));
        assert!(matches!(
            media
                .put(&key, "text/plain", Bytes::from_static(b"0123456789A"))
                .await,
            Err(MediaError::Invalid(_))
        ));
        // A URL signed under a larger limit, used after the limit was lowered.
        let put = media
            .presign_put(&key, "text/plain", 10, minute)
            .await
            .unwrap();
        let query: SignedQuery = {
            let (_, q) = put.url.split_once('?').unwrap();
            let field = |name: &str| {
                q.split('&')
                    .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
                    .unwrap()
                    .to_owned()
            };
            SignedQuery {
                content_type: Some("text/plain".into()),
                size: Some(field("size").parse().unwrap()),
                expires: field("expires").parse().unwrap(),
                sig: field("sig"),
            }
        };
        let lowered = open(5).await.unwrap();
        let body =
            futures::stream::iter([Ok::<_, std::io::Error>(Bytes::from_static(b"0123456789"))]);
        let refused = lowered
            .receive(&key, &query, Some("text/plain"), Some(10), body)
            .await;
        assert!(
            matches!(refused, Err(UploadError::TooLarge(5))),
            "{refused:?}"
        );
        assert_eq!(refused.unwrap_err().code(), ErrorCode::TooLarge);
    }
}
