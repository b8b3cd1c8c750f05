//! The local media store through a node's own routes, over real HTTP: the media suite, the
//! codes of each refusal, and a body refused before it is read.

mod support;

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use switchboard_media::conformance::{self, send};
use switchboard_media::{MediaError, MediaKey, SignedRequest, Validity};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn local_media_passes_the_media_suite_through_the_nodes_routes() {
    let node = support::start(|_| {}).await;
    let media = node.node.media.store.clone();
    conformance::run_all(&*media, "local").await;
}

/// The JSON error code of a response.
async fn code(answer: reqwest::Response) -> (u16, u64) {
    let status = answer.status().as_u16();
    let body: serde_json::Value = answer.json().await.unwrap();
    (status, body["error"]["code"].as_u64().unwrap())
}

fn key(name: &str) -> MediaKey {
    MediaKey::parse(&format!("rooms/1/{name}")).unwrap()
}

#[tokio::test]
async fn each_refusal_of_a_local_url_says_why() {
    let node = support::start(|_| {}).await;
    let media = &node.node.media.store;
    let http = reqwest::Client::new();
    let minute = Validity::from_now(Duration::from_secs(60));
    let put = media
        .presign_put(&key("a"), "image/png", 3, minute)
        .await
        .unwrap();

    let forged = SignedRequest {
        url: put.url.replace("size=3", "size=4"),
        ..put.clone()
    };
    assert_eq!(
        code(send(&http, &forged, None, b"abcd").await).await,
        (403, 3004),
        "a larger size than signed"
    );
    let past = Validity {
        from: SystemTime::now() - Duration::from_secs(120),
        lasts: Duration::from_secs(60),
    };
    let old = media
        .presign_put(&key("a"), "image/png", 3, past)
        .await
        .unwrap();
    assert_eq!(
        code(send(&http, &old, None, b"abc").await).await,
        (403, 3005)
    );
    assert_eq!(
        code(send(&http, &put, Some("image/gif"), b"abc").await).await,
        (400, 1005),
        "another content type"
    );
    assert_eq!(
        code(send(&http, &put, None, b"abcd").await).await,
        (400, 1005),
        "another length"
    );
    let get = media.presign_get(&key("a"), minute).await.unwrap();
    let as_upload = SignedRequest {
        method: "PUT",
        headers: put.headers.clone(),
        ..get.clone()
    };
    assert_eq!(
        code(send(&http, &as_upload, None, b"abc").await).await,
        (403, 3004),
        "a download URL does not upload"
    );
    let as_download = SignedRequest {
        method: "GET",
        headers: Vec::new(),
        ..put.clone()
    };
    assert_eq!(
        code(send(&http, &as_download, None, b"").await).await,
        (403, 3004),
        "an upload URL does not download"
    );
    assert_eq!(
        code(send(&http, &get, None, b"").await).await,
        (404, 3001),
        "nothing uploaded yet"
    );
    assert!(matches!(
        media.head(&key("a")).await,
        Err(MediaError::NotFound)
    ));
    let outside = format!(
        "{}/media/rooms/1/..%2F..%2Fmedia.key?expires=1&sig=00",
        node.http_url()
    );
    let answer = http.get(outside).send().await.unwrap();
    assert_eq!(answer.status(), 404, "no key outside the store");

    assert!(send(&http, &put, None, b"abc").await.status().is_success());
    let answer = send(&http, &get, None, b"").await;
    assert_eq!(
        answer
            .headers()
            .get("content-disposition")
            .and_then(|v| v.to_str().ok()),
        Some("attachment"),
        "never shown inline from the node's origin"
    );
    assert_eq!(&answer.bytes().await.unwrap()[..], b"abc");
}

/// A request declaring more bytes than signed is answered from its head: the server does not
/// wait for (or keep) a body it will refuse.
#[tokio::test]
async fn an_oversized_upload_is_refused_before_its_body_is_sent() {
    let node = support::start(|_| {}).await;
    let media = &node.node.media.store;
    let put = media
        .presign_put(
            &key("big"),
            "image/png",
            10,
            Validity::from_now(Duration::from_secs(60)),
        )
        .await
        .unwrap();
    let target = put.url.split_once(&node.node.addr.to_string()).unwrap().1;
    let mut socket = tokio::net::TcpStream::connect(node.node.addr)
        .await
        .unwrap();
    let head = format!(
        "PUT {target} HTTP/1.1\r\nhost: x\r\ncontent-type: image/png\r\n\
         content-length: 1000000000\r\n\r\n"
    );
    socket.write_all(head.as_bytes()).await.unwrap();
    let mut answer = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), socket.read(&mut answer))
        .await
        .expect("answered without the body")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("1005"), "{answer}");
    assert!(matches!(
        media.head(&key("big")).await,
        Err(MediaError::NotFound)
    ));
}

#[tokio::test]
async fn a_node_on_s3_serves_no_local_media_routes() {
    let fs = switchboard_media::conformance::S3sFs::start("node-bucket").await;
    let node = support::start(|c| {
        c.media.backend = switchboard_media::Backend::S3;
        c.media.s3 = fs.config.clone();
    })
    .await;
    assert!(node.node.media.local.is_none());
    let media = &node.node.media.store;
    media
        .put(&key("s3"), "text/plain", Bytes::from_static(b"on s3"))
        .await
        .unwrap();
    let get = media
        .presign_get(&key("s3"), Validity::from_now(Duration::from_secs(60)))
        .await
        .unwrap();
    assert!(get.url.starts_with(fs.config.endpoint.as_deref().unwrap()));
    let http = reqwest::Client::new();
    let answer = send(&http, &get, None, b"").await;
    assert_eq!(&answer.bytes().await.unwrap()[..], b"on s3");
    let local = format!("{}/media/rooms/1/s3?expires=1&sig=00", node.http_url());
    assert_eq!(http.get(local).send().await.unwrap().status(), 404);
}

/// The generated media key is kept in the data directory: URLs signed before a restart still
/// work after it.
#[tokio::test]
async fn signed_urls_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let first = switchboard::Node::start(support::config(dir.path()))
        .await
        .unwrap();
    let media = first.media.store.clone();
    media
        .put(&key("kept"), "text/plain", Bytes::from_static(b"kept"))
        .await
        .unwrap();
    let get = media
        .presign_get(&key("kept"), Validity::from_now(Duration::from_secs(60)))
        .await
        .unwrap();
    let old_addr = first.addr.to_string();
    first.shutdown().await;
    let second = switchboard::Node::start(support::config(dir.path()))
        .await
        .unwrap();
    let moved = SignedRequest {
        url: get.url.replace(&old_addr, &second.addr.to_string()),
        ..get
    };
    let answer = send(&reqwest::Client::new(), &moved, None, b"").await;
    assert!(answer.status().is_success(), "{}", answer.status());
    assert_eq!(&answer.bytes().await.unwrap()[..], b"kept");
    second.shutdown().await;
}

/// Without `media.public_url`, a client is sent to the address it used itself: a page opened as
/// `http://localhost:PORT` on a node listening on 127.0.0.1 gets `localhost` URLs (its CSP
/// allows only its own origin), and a WebSocket reply carries a path on the node.
#[tokio::test]
async fn local_media_urls_follow_the_address_the_client_used() {
    use switchboard_engine::protocol::{self as p, ClientFrame, ServerFrame, Visibility};
    let node = support::start(|_| {}).await;
    let (_, token) = node.user().await;
    let client = node.client(&token).await;
    let room = client
        .create_room("files", Visibility::Public)
        .await
        .unwrap();
    let port = node.node.addr.port();
    let http = support::media::http();
    let localhost = format!("localhost:{port}");

    // HTTP: rebased onto the request's Host.
    let slot: serde_json::Value = http
        .post(format!(
            "{}/api/rooms/{}/attachments",
            node.http_url(),
            room.0
        ))
        .bearer_auth(&token)
        .header("host", &localhost)
        .json(&serde_json::json!({"name": "a.txt", "content_type": "text/plain", "size": 5}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let url = slot["upload"]["url"].as_str().unwrap();
    assert!(
        url.starts_with(&format!("http://{localhost}/media/")),
        "{url}"
    );

    // WebSocket: a path on the node, which the Rust client resolves against its node.
    let raw = client
        .request(|rid| {
            ClientFrame::AttachmentSlot(p::AttachmentSlot {
                rid,
                room,
                name: "b.txt".into(),
                content_type: "text/plain".into(),
                size: 5,
            })
        })
        .await
        .unwrap();
    let ServerFrame::AttachmentSlot(raw) = raw else {
        panic!("{raw:?}")
    };
    assert!(raw.upload.url.starts_with("/media/"), "{}", raw.upload.url);
    let resolved = client
        .attachment_slot(room, "c.txt", "text/plain", 5)
        .await
        .unwrap();
    let expected = format!("http://127.0.0.1:{port}/media/");
    assert!(
        resolved.upload.url.starts_with(&expected),
        "{}",
        resolved.upload.url
    );
    let mut put = http.put(&resolved.upload.url).body("hello");
    for (k, v) in &resolved.upload.headers {
        put = put.header(k, v);
    }
    assert_eq!(put.send().await.unwrap().status(), 200);
    node.node.shutdown().await;
}
