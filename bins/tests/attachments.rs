//! Upload slots and download redirects over HTTP, for members only, against a node on the local
//! media store and one on S3 (s3s-fs).

mod support;

use serde_json::{Value, json};
use support::TestNode;
use support::media::{download, http, upload_of};
use switchboard_engine::domain::RoomKind;
use switchboard_engine::{AttachmentId, RoomId, UserId};
use switchboard_media::conformance::{S3sFs, send};

struct Room {
    id: RoomId,
    owner: (UserId, String),
}

async fn room(node: &TestNode) -> Room {
    let owner = node.user().await;
    let id = node
        .node
        .store
        .create_room("files", RoomKind::Private, owner.0)
        .await
        .unwrap()
        .id;
    Room { id, owner }
}

async fn ask(node: &TestNode, room: RoomId, token: &str, body: Value) -> (u16, Value) {
    let answer = http()
        .post(format!("{}/api/rooms/{room}/attachments", node.http_url()))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    (answer.status().as_u16(), answer.json().await.unwrap())
}

fn png(size: u64) -> Value {
    json!({"name": "cat.png", "content_type": "image/png", "size": size})
}

/// A member's whole path on one node: slot, upload, redirect, file; others kept out.
async fn members_upload_and_download(node: &TestNode) {
    let room = room(node).await;
    let token = &room.owner.1;
    let (status, slot) = ask(node, room.id, token, png(6)).await;
    assert_eq!(status, 201, "{slot}");
    assert_eq!(slot["attachment"]["size"], 6);
    assert_eq!(slot["attachment"]["content_type"], "image/png");
    let id = slot["attachment"]["id"].as_u64().unwrap();
    let answer = send(&http(), &upload_of(&slot), None, b"abcdef").await;
    assert!(answer.status().is_success(), "upload: {}", answer.status());
    assert_eq!(
        download(node, room.id, id, token, false).await,
        (307, Some(b"abcdef".to_vec())),
        "the uploader fetches their own upload"
    );

    let (_, stranger) = node.user().await;
    assert_eq!(
        download(node, room.id, id, &stranger, false).await,
        (403, None),
        "a non-member cannot fetch an attachment"
    );
    let (status, body) = ask(node, room.id, &stranger, png(6)).await;
    assert_eq!((status, &body["error"]["code"]), (403, &json!(3000)));

    let (member, member_token) = node.user().await;
    node.node
        .store
        .add_member(room.id, member, switchboard_engine::domain::Role::Member)
        .await
        .unwrap();
    assert_eq!(
        download(node, room.id, id, &member_token, false).await,
        (404, None),
        "another member's upload is not theirs until a message references it"
    );
    node.node
        .store
        .attach_upload(AttachmentId(id), room.id)
        .await
        .unwrap();
    assert_eq!(
        download(node, room.id, id, &member_token, false).await,
        (307, Some(b"abcdef".to_vec()))
    );

    let other = node
        .node
        .store
        .create_room("other", RoomKind::Private, room.owner.0)
        .await
        .unwrap()
        .id;
    assert_eq!(
        download(node, other, id, token, false).await,
        (404, None),
        "an attachment is fetched only through its own room"
    );
    assert_eq!(
        download(node, room.id, u64::MAX, token, false).await,
        (404, None),
        "an id no store can hold"
    );
}

#[tokio::test]
async fn members_upload_and_download_through_the_local_store() {
    let node = support::start(|_| {}).await;
    members_upload_and_download(&node).await;
}

#[tokio::test]
async fn members_upload_and_download_through_s3() {
    let fs = S3sFs::start("slots").await;
    let node = support::start(|c| {
        c.media.backend = switchboard_media::Backend::S3;
        c.media.s3 = fs.config.clone();
    })
    .await;
    members_upload_and_download(&node).await;
}

/// A content type with parameters is compared, recorded and signed as its bare type (PROTOCOL
/// §3.3): the slot says `text/plain`, and the upload with the slot's headers is stored and
/// read back (issue 19).
async fn parameters_of_a_content_type_are_ignored(node: &TestNode) {
    let room = room(node).await;
    let token = &room.owner.1;
    for (asked, bare) in [
        ("text/plain; charset=utf-8", "text/plain"),
        ("Image/PNG ;x=y", "image/png"),
    ] {
        let body = json!({"name": "notes", "content_type": asked, "size": 6});
        let (status, slot) = ask(node, room.id, token, body).await;
        assert_eq!(status, 201, "{asked}: {slot}");
        assert_eq!(slot["attachment"]["content_type"], bare, "{asked}");
        let upload = upload_of(&slot);
        assert!(
            upload
                .headers
                .contains(&("content-type".to_owned(), bare.to_owned())),
            "{asked}: {:?}",
            upload.headers
        );
        let answer = send(&http(), &upload, None, b"abcdef").await;
        assert!(answer.status().is_success(), "{asked}: {}", answer.status());
        let id = slot["attachment"]["id"].as_u64().unwrap();
        assert_eq!(
            download(node, room.id, id, token, false).await,
            (307, Some(b"abcdef".to_vec())),
            "{asked}"
        );
    }
}

#[tokio::test]
async fn parameters_of_a_content_type_are_ignored_by_the_local_store() {
    let node = support::start(|_| {}).await;
    parameters_of_a_content_type_are_ignored(&node).await;
}

#[tokio::test]
async fn parameters_of_a_content_type_are_ignored_by_s3() {
    let fs = S3sFs::start("params").await;
    let node = support::start(|c| {
        c.media.backend = switchboard_media::Backend::S3;
        c.media.s3 = fs.config.clone();
    })
    .await;
    parameters_of_a_content_type_are_ignored(&node).await;
}

#[tokio::test]
async fn every_limit_is_checked_before_a_url_is_made() {
    let node = support::start(|c| c.media.limits.uploads_per_day = 2).await;
    let room = room(&node).await;
    let token = &room.owner.1;
    let code = |(status, body): (u16, Value)| (status, body["error"]["code"].as_u64().unwrap());
    assert_eq!(
        code(ask(&node, room.id, token, png(2 * 1024 * 1024 + 1)).await),
        (413, 1003),
        "over the free plan's size"
    );
    let html = json!({"name": "x.html", "content_type": "text/html", "size": 10});
    assert_eq!(code(ask(&node, room.id, token, html).await), (415, 1004));
    let nameless = json!({"name": "", "content_type": "image/png", "size": 10});
    assert_eq!(
        code(ask(&node, room.id, token, nameless).await),
        (400, 1002)
    );
    assert_eq!(
        node.node
            .store
            .uploads_since(room.owner.0, 0)
            .await
            .unwrap(),
        0,
        "a refused slot records nothing"
    );
    for _ in 0..2 {
        assert_eq!(ask(&node, room.id, token, png(10)).await.0, 201);
    }
    assert_eq!(
        code(ask(&node, room.id, token, png(10)).await),
        (429, 4002),
        "uploads per day"
    );
    assert_eq!(
        code(ask(&node, RoomId(999_999), token, png(10)).await),
        (404, 3001)
    );
    let metrics = http()
        .get(format!("{}/metrics", node.http_url()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for (outcome, count) in [
        ("opened", 2),
        ("too_large", 1),
        ("unsupported_type", 1),
        ("invalid", 1),
        ("quota", 1),
    ] {
        let line = format!("switchboard_media_slots_total{{outcome=\"{outcome}\"}} {count}");
        assert!(metrics.contains(&line), "{line} missing");
    }
}
