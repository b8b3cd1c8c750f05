//! Messages that reference attachments, over real sockets: a slot asked for over WebSocket,
//! the file uploaded through its URL, a message referencing it, another member receiving the
//! metadata and fetching the file and its thumbnail, history and search; the references a
//! room refuses, each with its code. Against a node on the local media store and one on S3
//! (s3s-fs).

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::media::{download, http};
use support::{TestNode, WAIT, expect, expect_none};
use switchboard_client::Client;
use switchboard_engine::domain::{Attachment, ChatMessage, Role, RoomKind};
use switchboard_engine::protocol::{ServerFrame, UploadSlot};
use switchboard_engine::{AttachmentId, ErrorCode, RoomId, UserId};
use switchboard_media::conformance::{S3sFs, send};
use switchboard_media::{MediaKey, SignedRequest};

/// An 8 × 6 RGB PNG.
const PNG: &[u8] = b"\x89\x50\x4e\x47\x0d\x0a\x1a\x0a\x00\x00\x00\x0d\x49\x48\x44\x52\x00\x00\x00\x08\x00\x00\x00\x06\x08\x02\x00\x00\x00\x71\x67\x48\xac\x00\x00\x00\x63\x49\x44\x41\x54\x78\x9c\x0d\xc9\x21\x01\x00\x41\x08\x45\x41\x92\xa0\x09\xb1\x21\xd0\x9b\xe4\xcb\x97\x02\x4d\x88\x0d\x81\x26\xd1\xdd\xd8\x31\x33\xdc\x38\xc6\x35\x64\x94\xf1\x8c\x35\xcc\x02\x0f\x4e\x70\x03\x05\x15\xbc\x60\xe3\x8f\xc4\x93\x93\xdc\x44\x49\x25\x2f\xd9\xfc\x43\xb8\x38\xe2\x0a\x89\x12\x4f\xac\xfe\x68\xbc\x39\xcd\x6d\xd4\x54\xf3\x9a\xed\x3f\x06\x1f\xce\x70\x07\x0d\x35\xbc\x61\x87\x0f\xcc\x7f\x3e\x71\x41\xe4\xf1\x16\x00\x00\x00\x00\x49\x45\x4e\x44\xae\x42\x60\x82";

const NOTES: &[u8] = b"minutes of the meeting";

/// A private room with its owner (connected) and a second member (connected, joined).
struct Room {
    id: RoomId,
    owner: (UserId, String, Client),
    member: (UserId, String, Client),
}

async fn room(node: &TestNode) -> Room {
    let (owner, owner_token) = node.user().await;
    let (member, member_token) = node.user().await;
    let store = &node.node.store;
    let id = store
        .create_room("files", RoomKind::Private, owner)
        .await
        .unwrap()
        .id;
    store.add_member(id, member, Role::Member).await.unwrap();
    let owner_client = node.client(&owner_token).await;
    let mut member_client = node.client(&member_token).await;
    member_client.join(id, None).await.unwrap();
    Room {
        id,
        owner: (owner, owner_token, owner_client),
        member: (member, member_token, member_client),
    }
}

/// The slot's upload request, as the media test helpers take it.
fn upload_of(slot: &UploadSlot) -> SignedRequest {
    assert_eq!(slot.upload.method, "PUT");
    SignedRequest {
        method: "PUT",
        url: slot.upload.url.clone(),
        headers: slot.upload.headers.clone(),
        expires: slot.upload.expires,
    }
}

/// Asks for a slot over WebSocket and uploads `body` through it; the attachment's id.
async fn uploaded(
    client: &Client,
    room: RoomId,
    name: &str,
    kind: &str,
    body: &'static [u8],
) -> AttachmentId {
    let slot = client
        .attachment_slot(room, name, kind, body.len() as u64)
        .await
        .unwrap();
    let answer = send(&http(), &upload_of(&slot), None, body).await;
    assert!(answer.status().is_success(), "upload: {}", answer.status());
    slot.attachment.id
}

/// The whole path on one node: slot over WebSocket (the same fields as over HTTP), upload,
/// send, another member receives the metadata and fetches file and thumbnail; history and
/// search return the metadata; a resend is a duplicate.
async fn a_member_sends_files_and_another_fetches_them(node: &TestNode) {
    let Room {
        id: room,
        owner: (owner, owner_token, owner_client),
        member: (_, member_token, mut member_client),
    } = room(node).await;

    let over_ws = owner_client
        .attachment_slot(room, "cat.png", "image/png", PNG.len() as u64)
        .await
        .unwrap();
    let over_http: Value = http()
        .post(format!("{}/api/rooms/{room}/attachments", node.http_url()))
        .bearer_auth(&owner_token)
        .json(&json!({"name": "cat.png", "content_type": "image/png", "size": PNG.len()}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let keys = |v: &Value| {
        let mut keys: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        keys
    };
    for part in ["attachment", "upload"] {
        let ws = serde_json::to_value(&over_ws).unwrap();
        assert_eq!(
            keys(&ws[part]),
            keys(&over_http[part]),
            "{part}: the same fields"
        );
    }
    assert_eq!(
        (over_ws.attachment.room, over_ws.attachment.size),
        (room, PNG.len() as u64)
    );
    let answer = send(&http(), &upload_of(&over_ws), None, PNG).await;
    assert!(answer.status().is_success(), "upload: {}", answer.status());
    let image = over_ws.attachment.id;
    let notes = uploaded(&owner_client, room, "notes.txt", "text/plain", NOTES).await;

    let sent = owner_client
        .send_with(room, "files-1", "the cat and the notes", vec![image, notes])
        .await
        .unwrap();
    assert!(!sent.duplicate);
    let expected = vec![
        Attachment {
            id: image,
            name: "cat.png".into(),
            content_type: "image/png".into(),
            size: PNG.len() as u64,
            thumbnail: true,
        },
        Attachment {
            id: notes,
            name: "notes.txt".into(),
            content_type: "text/plain".into(),
            size: NOTES.len() as u64,
            thumbnail: false,
        },
    ];
    let received: ChatMessage = expect(&mut member_client, WAIT, |f| match f {
        ServerFrame::Message(m) if m.cmid == "files-1" => Some(m),
        _ => None,
    })
    .await;
    assert_eq!((received.sender, received.pos), (owner, sent.pos));
    assert_eq!(
        received.attachments, expected,
        "the metadata travels with the message"
    );

    assert_eq!(
        download(node, room, image.0, &member_token, false).await,
        (307, Some(PNG.to_vec())),
        "another member fetches the file once a message references it"
    );
    let (status, thumb) = download(node, room, image.0, &member_token, true).await;
    assert_eq!(status, 307);
    assert!(
        thumb.unwrap().starts_with(b"\x89PNG"),
        "the thumbnail is a PNG beside the original"
    );
    assert_eq!(
        download(node, room, notes.0, &member_token, false).await,
        (307, Some(NOTES.to_vec()))
    );
    let (_, stranger) = node.user().await;
    assert_eq!(
        download(node, room, image.0, &stranger, false).await,
        (403, None),
        "never a non-member"
    );

    let page = member_client.history(room, None, None, 10).await.unwrap();
    let stored = page.messages.iter().find(|m| m.cmid == "files-1").unwrap();
    assert_eq!(stored.attachments, expected, "history returns the metadata");
    let found = member_client
        .search("cat notes", Some(room), 10)
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].attachments, expected, "and so does search");

    let again = owner_client
        .send_with(room, "files-1", "the cat and the notes", vec![image, notes])
        .await
        .unwrap();
    assert_eq!(
        (again.pos, again.duplicate),
        (sent.pos, true),
        "a resend is a duplicate"
    );
    expect_none(&mut member_client, Duration::from_millis(300), |f| {
        matches!(f, ServerFrame::Message(_))
    })
    .await;

    // A message of files alone has no text; one without attachments carries none.
    let only_file = uploaded(&owner_client, room, "more.txt", "text/plain", NOTES).await;
    owner_client
        .send_with(room, "files-2", "", vec![only_file])
        .await
        .unwrap();
    owner_client.send(room, "plain", "no files").await.unwrap();
    let page = member_client.history(room, None, None, 10).await.unwrap();
    let texts: Vec<(&str, usize)> = page
        .messages
        .iter()
        .map(|m| (m.text.as_str(), m.attachments.len()))
        .collect();
    assert_eq!(
        texts,
        vec![("the cat and the notes", 2), ("", 1), ("no files", 0)]
    );
}

#[tokio::test]
async fn files_travel_with_messages_on_the_local_store() {
    let node = support::start(|_| {}).await;
    a_member_sends_files_and_another_fetches_them(&node).await;
}

#[tokio::test]
async fn files_travel_with_messages_on_s3() {
    let fs = S3sFs::start("attached").await;
    let node = support::start(|c| {
        c.media.backend = switchboard_media::Backend::S3;
        c.media.s3 = fs.config.clone();
    })
    .await;
    a_member_sends_files_and_another_fetches_them(&node).await;
}

/// The code of a refused slot.
async fn slot_code(client: &Client, room: RoomId, kind: &str, size: u64) -> ErrorCode {
    let e = client
        .attachment_slot(room, "x", kind, size)
        .await
        .unwrap_err();
    e.code().unwrap_or_else(|| panic!("{e}"))
}

/// The code of a refused send.
async fn refused(client: &Client, room: RoomId, cmid: &str, ids: Vec<AttachmentId>) -> ErrorCode {
    match client.send_with(room, cmid, "see attached", ids).await {
        Ok(sent) => panic!("{cmid}: accepted at {:?}", sent.pos),
        Err(e) => e.code().unwrap_or_else(|| panic!("{cmid}: {e}")),
    }
}

#[tokio::test]
async fn a_message_never_references_a_foreign_or_missing_file() {
    let node = support::start(|_| {}).await;
    let Room {
        id: room,
        owner: (owner, _, owner_client),
        member: (_, _, mut member_client),
    } = room(&node).await;
    let store = &node.node.store;
    // Slots over WebSocket: members only, every limit checked, as over HTTP.
    let (_, stranger) = node.user().await;
    let stranger = node.client(&stranger).await;
    assert_eq!(
        slot_code(&stranger, room, "text/plain", 3).await,
        ErrorCode::Forbidden
    );
    assert_eq!(
        slot_code(&owner_client, RoomId(999_999), "text/plain", 3).await,
        ErrorCode::NotFound
    );
    assert_eq!(
        slot_code(&owner_client, room, "text/html", 3).await,
        ErrorCode::UnsupportedType
    );
    assert_eq!(
        slot_code(&owner_client, room, "text/plain", 3 << 20).await,
        ErrorCode::TooLarge
    );
    let elsewhere = store
        .create_room("elsewhere", RoomKind::Private, owner)
        .await
        .unwrap()
        .id;
    let theirs = uploaded(&owner_client, elsewhere, "a.txt", "text/plain", NOTES).await;
    assert_eq!(
        refused(&owner_client, room, "other-room", vec![theirs]).await,
        ErrorCode::NotFound,
        "another room's upload"
    );
    let members = uploaded(&member_client, room, "b.txt", "text/plain", NOTES).await;
    assert_eq!(
        refused(&owner_client, room, "other-user", vec![members]).await,
        ErrorCode::Forbidden,
        "another member's upload"
    );
    assert_eq!(
        refused(&owner_client, room, "unknown", vec![AttachmentId(12345)]).await,
        ErrorCode::NotFound
    );

    let pending = owner_client
        .attachment_slot(room, "late.txt", "text/plain", NOTES.len() as u64)
        .await
        .unwrap();
    let late = pending.attachment.id;
    assert_eq!(
        refused(&owner_client, room, "late", vec![late]).await,
        ErrorCode::NotUploaded,
        "a slot whose file is not uploaded yet"
    );

    // Files that are not what their slots declared (put there behind the signed URLs' back).
    let media = &node.node.media.store;
    let key = |id: AttachmentId| MediaKey::attachment(room, id);
    let wrong_type = owner_client
        .attachment_slot(room, "c.png", "image/png", PNG.len() as u64)
        .await
        .unwrap()
        .attachment
        .id;
    media
        .put(&key(wrong_type), "image/gif", PNG.into())
        .await
        .unwrap();
    assert_eq!(
        refused(&owner_client, room, "wrong-type", vec![wrong_type]).await,
        ErrorCode::UploadMismatch
    );
    let wrong_size = owner_client
        .attachment_slot(room, "d.txt", "text/plain", 3)
        .await
        .unwrap()
        .attachment
        .id;
    media
        .put(&key(wrong_size), "text/plain", NOTES.into())
        .await
        .unwrap();
    assert_eq!(
        refused(&owner_client, room, "wrong-size", vec![wrong_size]).await,
        ErrorCode::UploadMismatch
    );

    let fine = uploaded(&owner_client, room, "e.txt", "text/plain", NOTES).await;
    assert_eq!(
        refused(&owner_client, room, "twice", vec![fine, fine]).await,
        ErrorCode::InvalidArgument
    );
    assert_eq!(
        refused(&owner_client, room, "mixed", vec![fine, late]).await,
        ErrorCode::NotUploaded,
        "one bad attachment refuses the message"
    );
    assert!(
        !store.upload(fine).await.unwrap().unwrap().attached,
        "and attaches none of the others"
    );
    let many: Vec<AttachmentId> = (1..=11).map(AttachmentId).collect();
    assert_eq!(
        refused(&owner_client, room, "many", many).await,
        ErrorCode::InvalidArgument
    );
    expect_none(&mut member_client, Duration::from_millis(300), |f| {
        matches!(f, ServerFrame::Message(_))
    })
    .await;
    assert!(
        member_client
            .history(room, None, None, 10)
            .await
            .unwrap()
            .messages
            .is_empty(),
        "nothing refused was stored"
    );

    // Uploaded now: the same cmid goes through (it was never stored).
    let answer = send(&http(), &upload_of(&pending), None, NOTES).await;
    assert!(answer.status().is_success());
    let sent = owner_client
        .send_with(room, "late", "see attached", vec![late])
        .await
        .unwrap();
    assert!(!sent.duplicate);
    assert!(store.upload(late).await.unwrap().unwrap().attached);
}

#[tokio::test]
async fn a_connections_sends_keep_their_order_around_a_checked_one() {
    let node = support::start(|_| {}).await;
    let Room {
        id: room,
        owner: (_, _, owner_client),
        ..
    } = room(&node).await;
    let file = uploaded(&owner_client, room, "f.png", "image/png", PNG).await;
    // Both frames leave before either is answered: the first waits on its check.
    let (first, second) = tokio::join!(
        owner_client.send_with(room, "first", "with a file", vec![file]),
        owner_client.send(room, "second", "right after"),
    );
    let (first, second) = (first.unwrap(), second.unwrap());
    assert!(
        first.pos < second.pos,
        "{:?} then {:?}: sent in that order",
        first.pos,
        second.pos
    );
}
