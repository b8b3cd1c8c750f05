//! Attachments through a node's HTTP routes: the signed upload of a slot's JSON, and a
//! download followed by hand.

use serde_json::Value;
use switchboard_engine::RoomId;
use switchboard_media::SignedRequest;

use super::TestNode;

/// A client that does not follow redirects, so a test sees the API's own answer.
pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The upload request of a slot answered over HTTP.
pub fn upload_of(slot: &Value) -> SignedRequest {
    let headers = slot["upload"]["headers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| (h[0].as_str().unwrap().into(), h[1].as_str().unwrap().into()))
        .collect();
    SignedRequest {
        method: "PUT",
        url: slot["upload"]["url"].as_str().unwrap().to_owned(),
        headers,
        expires: slot["upload"]["expires"].as_u64().unwrap(),
    }
}

/// Follows a download redirect by hand: the API's status, and the file it leads to.
pub async fn download(
    node: &TestNode,
    room: RoomId,
    id: u64,
    token: &str,
    thumbnail: bool,
) -> (u16, Option<Vec<u8>>) {
    let answer = http()
        .get(format!(
            "{}/api/rooms/{room}/attachments/{id}?thumbnail={thumbnail}",
            node.http_url()
        ))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = answer.status().as_u16();
    let Some(location) = answer.headers().get("location") else {
        return (status, None);
    };
    let file = http().get(location.to_str().unwrap()).send().await.unwrap();
    assert!(file.status().is_success(), "download: {}", file.status());
    (status, Some(file.bytes().await.unwrap().to_vec()))
}
