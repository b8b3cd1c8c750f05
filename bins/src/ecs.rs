//! This task's private IP, from the ECS task metadata endpoint (version 4). ECS gives every
//! container its endpoint as `ECS_CONTAINER_METADATA_URI_V4` (Fargate platform 1.4.0 and later;
//! EC2 agents 1.39.0 and later); `GET ${ECS_CONTAINER_METADATA_URI_V4}` answers the container's
//! own metadata, whose `Networks[].IPv4Addresses` holds the address of the task's network
//! interface (`awsvpc`: one per task, shared by its containers).
//!
//! A node on ECS listens on the wildcard address, which names no task: with `cluster.advertise`
//! unset it advertises this IP with its listen port instead (`server::advertised`), so that its
//! id and address in the cluster are its task's own.

use std::net::Ipv4Addr;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Empty, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::Deserialize;
use tokio::time::{Duration, Instant};

/// The variable ECS sets to the container's metadata endpoint.
pub const METADATA_URI_VAR: &str = "ECS_CONTAINER_METADATA_URI_V4";

/// How long start-up waits for the endpoint in all. The agent answers from the same host in
/// milliseconds; a few seconds cover its starting up beside the container.
pub const WAIT: Duration = Duration::from_secs(5);
/// One request's bound, and the pause between tries.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(1);
const RETRY_PAUSE: Duration = Duration::from_millis(200);
/// Largest answer read. A container's metadata is about 2 KiB.
const MAX_BYTES: usize = 64 * 1024;

/// Why the task's IP could not be read; start-up fails with it.
#[derive(Debug, thiserror::Error)]
pub enum EcsError {
    #[error("{METADATA_URI_VAR}={0:?} is not an http:// URL")]
    Url(String),
    #[error("GET {url} failed for {waited:?} (last: {last})")]
    Unanswered {
        url: String,
        waited: Duration,
        last: String,
    },
    #[error("GET {url} answered {status}")]
    Status {
        url: String,
        status: hyper::StatusCode,
    },
    #[error("the container metadata is not JSON of the expected shape: {0}")]
    Json(#[from] serde_json::Error),
    #[error("the container metadata names no IPv4 address (Networks[].IPv4Addresses)")]
    NoAddress,
    #[error("the container metadata's address {0:?} is not an IPv4 address")]
    BadAddress(String),
}

/// The part of the container metadata read here; everything else is ignored.
#[derive(Deserialize)]
struct ContainerMetadata {
    #[serde(rename = "Networks", default)]
    networks: Vec<Network>,
}

#[derive(Deserialize)]
struct Network {
    #[serde(rename = "IPv4Addresses", default)]
    ipv4_addresses: Vec<String>,
}

/// The first IPv4 address of the container's first network that has one.
pub fn parse_container_metadata(body: &[u8]) -> Result<Ipv4Addr, EcsError> {
    let metadata: ContainerMetadata = serde_json::from_slice(body)?;
    let address = metadata
        .networks
        .into_iter()
        .find_map(|n| n.ipv4_addresses.into_iter().next())
        .ok_or(EcsError::NoAddress)?;
    address.parse().map_err(|_| EcsError::BadAddress(address))
}

/// Reads the task's private IP from the container metadata endpoint `uri` (the value of
/// [`METADATA_URI_VAR`]). Transport errors, timeouts and 5xx answers are tried again for up to
/// `wait`; any other answer decides at once.
pub async fn task_ip(uri: &str, wait: Duration) -> Result<Ipv4Addr, EcsError> {
    let url: hyper::Uri = uri.parse().map_err(|_| EcsError::Url(uri.to_owned()))?;
    if url.scheme_str() != Some("http") {
        return Err(EcsError::Url(uri.to_owned()));
    }
    let client: Client<HttpConnector, Empty<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    let started = Instant::now();
    loop {
        let last = match tokio::time::timeout(REQUEST_TIMEOUT, client.get(url.clone())).await {
            Err(_) => format!("no answer within {REQUEST_TIMEOUT:?}"),
            Ok(Err(e)) => format!("request failed: {e}"),
            Ok(Ok(response)) if response.status().is_server_error() => {
                format!("answered {}", response.status())
            }
            Ok(Ok(response)) if !response.status().is_success() => {
                return Err(EcsError::Status {
                    url: uri.to_owned(),
                    status: response.status(),
                });
            }
            Ok(Ok(response)) => {
                let body = tokio::time::timeout(
                    REQUEST_TIMEOUT,
                    Limited::new(response.into_body(), MAX_BYTES).collect(),
                )
                .await;
                match body {
                    Ok(Ok(body)) => return parse_container_metadata(&body.to_bytes()),
                    Ok(Err(e)) => format!("reading the answer: {e} (at most {MAX_BYTES} bytes)"),
                    Err(_) => format!("the answer did not arrive within {REQUEST_TIMEOUT:?}"),
                }
            }
        };
        if started.elapsed() + RETRY_PAUSE >= wait {
            return Err(EcsError::Unanswered {
                url: uri.to_owned(),
                waited: started.elapsed(),
                last,
            });
        }
        tracing::debug!(url = uri, "task metadata: {last}; trying again");
        tokio::time::sleep(RETRY_PAUSE).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Fargate container's metadata, in the shape of the AWS documentation's example.
    const FARGATE: &str = r#"{
        "DockerId": "cd189a933e5849daa93386466019ab50-2495160603",
        "Name": "switchboard",
        "Limits": {"CPU": 2},
        "Type": "NORMAL",
        "ContainerARN": "arn:aws:ecs:us-west-2:111122223333:container/05966557",
        "Networks": [{
            "NetworkMode": "awsvpc",
            "IPv4Addresses": ["10.0.2.106"],
            "AttachmentIndex": 0,
            "MACAddress": "0a:1f:5f:ab:cd:ef",
            "IPv4SubnetCIDRBlock": "10.0.2.0/24",
            "PrivateDNSName": "ip-10-0-2-106.us-west-2.compute.internal",
            "SubnetGatewayIpv4Address": "10.0.2.1/24"
        }]
    }"#;

    #[test]
    fn the_first_ipv4_address_of_the_container_s_network_is_the_task_s() {
        let ip = parse_container_metadata(FARGATE.as_bytes()).unwrap();
        assert_eq!(ip, Ipv4Addr::new(10, 0, 2, 106));
        let later = r#"{"Networks": [{"NetworkMode": "awsvpc", "IPv4Addresses": []},
                                     {"IPv4Addresses": ["10.9.8.7", "10.9.8.8"]}]}"#;
        assert_eq!(
            parse_container_metadata(later.as_bytes()).unwrap(),
            Ipv4Addr::new(10, 9, 8, 7)
        );
    }

    #[test]
    fn metadata_without_an_address_is_a_clear_error() {
        for (body, expected) in [
            (r#"{"Name": "x"}"#, "names no IPv4 address"),
            (
                r#"{"Networks": [{"NetworkMode": "bridge"}]}"#,
                "names no IPv4 address",
            ),
            (
                r#"{"Networks": [{"IPv4Addresses": ["fe80::1"]}]}"#,
                "not an IPv4 address",
            ),
            ("<html>", "not JSON"),
        ] {
            let e = parse_container_metadata(body.as_bytes()).unwrap_err();
            assert!(e.to_string().contains(expected), "{body}: {e}");
        }
    }

    #[tokio::test]
    async fn an_endpoint_that_never_answers_fails_within_the_wait() {
        // A port nothing listens on: every try is refused, then the bound ends it.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let started = Instant::now();
        let e = task_ip(
            &format!("http://127.0.0.1:{port}/v4/abc"),
            Duration::from_millis(700),
        )
        .await
        .unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(2), "{e}");
        assert!(matches!(e, EcsError::Unanswered { .. }), "{e}");
        assert!(e.to_string().contains("/v4/abc"), "{e}");
        let e = task_ip("https://169.254.170.2/v4/abc", WAIT)
            .await
            .unwrap_err();
        assert!(matches!(e, EcsError::Url(_)), "{e}");
    }
}
