//! One suite of media store cases, run against every `MediaStore` over real HTTP: S3 through
//! the s3s-fs stand-in (`media/tests/s3.rs`), the local store through a node's own routes
//! (`bins/tests/media.rs`). Each case panics with a message naming what broke.
//!
//! Also [`S3sFs`], an s3s-fs process on a free port with its own directory, for tests.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, SystemTime};

use bytes::Bytes;

use crate::config::S3Config;
use crate::key::MediaKey;
use crate::store::{MediaError, MediaStore, SignedRequest, Validity};

/// Runs every case; `tag` keeps keys of different runs apart.
pub async fn run_all(media: &dyn MediaStore, tag: &str) {
    let http = reqwest::Client::new();
    let key = |name: &str| MediaKey::parse(&format!("rooms/{tag}/{name}")).unwrap();
    upload_through_a_presigned_url(media, &http, &key("upload")).await;
    tampered_urls_are_refused(media, &http, &key("tampered"), &key("elsewhere")).await;
    expired_urls_are_refused(media, &http, &key("expired")).await;
    other_types_and_lengths_are_refused(media, &http, &key("mismatch")).await;
    downloads_work_until_they_expire(media, &http, &key("download")).await;
    small_objects_round_trip(media, &key("small")).await;
}

/// Sends `request` with `body`: its signed headers, except `content-length`, which the HTTP
/// client takes from the body (so a wrong-length body sends its true length).
pub async fn send(
    http: &reqwest::Client,
    request: &SignedRequest,
    content_type: Option<&str>,
    body: &'static [u8],
) -> reqwest::Response {
    let method = reqwest::Method::from_bytes(request.method.as_bytes()).unwrap();
    let mut builder = http.request(method, &request.url);
    for (name, value) in &request.headers {
        match name.as_str() {
            "content-length" => {}
            "content-type" => builder = builder.header(name, content_type.unwrap_or(value)),
            _ => builder = builder.header(name, value),
        }
    }
    if request.method == "PUT" {
        builder = builder.body(body);
    }
    builder.send().await.expect("the store answers")
}

fn minutes(n: u64) -> Validity {
    Validity::from_now(Duration::from_secs(n * 60))
}

/// A validity that ended a minute ago.
fn expired() -> Validity {
    Validity {
        from: SystemTime::now() - Duration::from_secs(600),
        lasts: Duration::from_secs(540),
    }
}

async fn absent(media: &dyn MediaStore, key: &MediaKey, why: &str) {
    assert!(
        matches!(media.head(key).await, Err(MediaError::NotFound)),
        "{why}: {key} must not exist"
    );
}

const PNG_BYTES: &[u8] = b"\x89PNG not really, but bytes";

async fn upload_through_a_presigned_url(
    media: &dyn MediaStore,
    http: &reqwest::Client,
    key: &MediaKey,
) {
    absent(media, key, "before the upload").await;
    let put = media
        .presign_put(key, "image/png", PNG_BYTES.len() as u64, minutes(5))
        .await
        .unwrap();
    assert_eq!(put.method, "PUT");
    let signed: Vec<&str> = put.headers.iter().map(|(n, _)| n.as_str()).collect();
    assert!(
        signed.contains(&"content-type") && signed.contains(&"content-length"),
        "the client is told to send the signed type and length: {signed:?}"
    );
    let answer = send(http, &put, None, PNG_BYTES).await;
    assert!(
        answer.status().is_success(),
        "upload through the URL: {} {}",
        answer.status(),
        answer.text().await.unwrap_or_default()
    );
    let info = media.head(key).await.unwrap();
    assert_eq!(
        (info.size, info.content_type.as_str()),
        (PNG_BYTES.len() as u64, "image/png"),
        "head reports the size and type"
    );
    let (_, bytes) = media.get(key, 1024).await.unwrap();
    assert_eq!(&bytes[..], PNG_BYTES);
}

/// `url` with its signature changed in one hex digit: the signature is the last run of 64 hex
/// digits in the URL, in both stores.
fn tamper(url: &str) -> String {
    let bytes = url.as_bytes();
    let end = (64..=bytes.len())
        .rev()
        .find(|&end| bytes[end - 64..end].iter().all(u8::is_ascii_hexdigit))
        .expect("a signature in the URL");
    let mut tampered = url.to_owned();
    let flipped = if bytes[end - 1] == b'0' { "1" } else { "0" };
    tampered.replace_range(end - 1..end, flipped);
    tampered
}

async fn tampered_urls_are_refused(
    media: &dyn MediaStore,
    http: &reqwest::Client,
    key: &MediaKey,
    elsewhere: &MediaKey,
) {
    let put = media
        .presign_put(key, "image/png", 3, minutes(5))
        .await
        .unwrap();
    let forged = SignedRequest {
        url: tamper(&put.url),
        ..put.clone()
    };
    let answer = send(http, &forged, None, b"abc").await;
    assert!(
        answer.status().is_client_error(),
        "a tampered signature: {}",
        answer.status()
    );
    let moved = SignedRequest {
        url: put.url.replace(key.as_str(), elsewhere.as_str()),
        ..put.clone()
    };
    assert_ne!(moved.url, put.url);
    let answer = send(http, &moved, None, b"abc").await;
    assert!(
        answer.status().is_client_error(),
        "a URL moved to another key: {}",
        answer.status()
    );
    absent(media, key, "after a tampered upload").await;
    absent(media, elsewhere, "after a moved upload").await;
}

async fn expired_urls_are_refused(media: &dyn MediaStore, http: &reqwest::Client, key: &MediaKey) {
    let put = media
        .presign_put(key, "image/png", 3, expired())
        .await
        .unwrap();
    let answer = send(http, &put, None, b"abc").await;
    assert!(
        answer.status().is_client_error(),
        "an expired upload URL: {}",
        answer.status()
    );
    absent(media, key, "after an expired upload").await;
}

async fn other_types_and_lengths_are_refused(
    media: &dyn MediaStore,
    http: &reqwest::Client,
    key: &MediaKey,
) {
    let put = media
        .presign_put(key, "image/png", 10, minutes(5))
        .await
        .unwrap();
    for (content_type, body, what) in [
        (
            Some("text/html"),
            b"0123456789".as_slice(),
            "another content type",
        ),
        (None, b"0123456789A".as_slice(), "a longer body"),
        (None, b"012345678".as_slice(), "a shorter body"),
    ] {
        let answer = send(http, &put, content_type, body).await;
        assert!(
            answer.status().is_client_error(),
            "{what}: {}",
            answer.status()
        );
        absent(media, key, what).await;
    }
}

async fn downloads_work_until_they_expire(
    media: &dyn MediaStore,
    http: &reqwest::Client,
    key: &MediaKey,
) {
    media
        .put(key, "text/plain", Bytes::from_static(b"hello"))
        .await
        .unwrap();
    let get = media.presign_get(key, minutes(1)).await.unwrap();
    assert_eq!(get.method, "GET");
    let answer = send(http, &get, None, b"").await;
    assert!(
        answer.status().is_success(),
        "download: {}",
        answer.status()
    );
    let content_type = answer
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    assert_eq!(content_type.as_deref(), Some("text/plain"));
    assert_eq!(&answer.bytes().await.unwrap()[..], b"hello");

    let old = media.presign_get(key, expired()).await.unwrap();
    let answer = send(http, &old, None, b"").await;
    assert!(
        answer.status().is_client_error(),
        "an expired download URL: {}",
        answer.status()
    );
    let forged = SignedRequest {
        url: tamper(&get.url),
        ..get
    };
    let answer = send(http, &forged, None, b"").await;
    assert!(
        answer.status().is_client_error(),
        "a tampered download URL: {}",
        answer.status()
    );
}

async fn small_objects_round_trip(media: &dyn MediaStore, key: &MediaKey) {
    let thumb = key.thumbnail();
    media
        .put(&thumb, "image/png", Bytes::from_static(PNG_BYTES))
        .await
        .unwrap();
    let (info, bytes) = media.get(&thumb, 1024).await.unwrap();
    assert_eq!((info.size, &bytes[..]), (PNG_BYTES.len() as u64, PNG_BYTES));
    assert!(
        matches!(media.get(&thumb, 4).await, Err(MediaError::TooLarge { .. })),
        "get reads at most what the caller allows"
    );
    media.delete(&thumb).await.unwrap();
    absent(media, &thumb, "after delete").await;
    media.delete(&thumb).await.unwrap();
    assert!(matches!(
        media.get(&thumb, 1024).await,
        Err(MediaError::NotFound)
    ));
}

/// An s3s-fs process serving a temporary directory on a free port, with one bucket; stopped
/// when dropped. The binary comes from `PATH` or `~/.cargo/bin` (`ensure_s3s_fs` in
/// `ops/services.sh` installs it); without it this panics, saying how to install it.
pub struct S3sFs {
    child: std::process::Child,
    _dir: tempfile::TempDir,
    pub config: S3Config,
}

fn s3s_fs_binary() -> PathBuf {
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")));
    let in_cargo = home.map(|h| h.join("bin").join("s3s-fs"));
    match in_cargo {
        Some(path) if path.exists() => path,
        _ => PathBuf::from("s3s-fs"),
    }
}

impl S3sFs {
    pub async fn start(bucket: &str) -> S3sFs {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join(bucket)).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = std::process::Command::new(s3s_fs_binary())
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--access-key", "AKTEST", "--secret-key", "SKTEST"])
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect(
                "s3s-fs must be installed for this test: \
                 source ops/services.sh; ensure_s3s_fs (ops/test.sh does)",
            );
        let fs = S3sFs {
            child,
            _dir: dir,
            config: S3Config {
                bucket: bucket.to_owned(),
                region: "us-east-1".into(),
                endpoint: Some(format!("http://127.0.0.1:{port}")),
                path_style: true,
                access_key_id: Some("AKTEST".into()),
                secret_access_key: Some("SKTEST".into()),
            },
        };
        for _ in 0..200 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return fs;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("s3s-fs did not listen on port {port} within 5 s");
    }
}

impl Drop for S3sFs {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
