//! Ids and positions beyond what a store holds (above `i64::MAX`) get coded errors, on the
//! WebSocket and over HTTP, and never an internal error or a WARN line.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use support::start;
use switchboard_engine::domain::PresenceStatus;
use switchboard_engine::protocol::Visibility;
use switchboard_engine::{ErrorCode, Position, RoomId, UserId};
use tracing_subscriber::layer::{Context, SubscriberExt};

/// Counts WARN and ERROR events.
struct Warnings(Arc<AtomicUsize>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Warnings {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        if *event.metadata().level() <= tracing::Level::WARN {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }
}

const HUGE: u64 = 1 << 63;

fn code<T>(r: Result<T, switchboard_client::ClientError>) -> Option<ErrorCode> {
    r.err().and_then(|e| e.code())
}

// A current-thread runtime: the node's tasks run on this thread, under this subscriber.
#[tokio::test]
async fn ids_and_positions_past_i64_get_coded_errors_and_no_warning() {
    let warnings = Arc::new(AtomicUsize::new(0));
    let _log = tracing::subscriber::set_default(
        tracing_subscriber::registry().with(Warnings(warnings.clone())),
    );
    let t = start(|_| {}).await;
    let (_, token) = t.user().await;
    let mut c = t.client(&token).await;
    let room = c.create_room("r", Visibility::Public).await.unwrap();
    c.join(room, None).await.unwrap();

    for id in [HUGE, u64::MAX] {
        let (big_room, big_user) = (RoomId(id), UserId(id));
        assert_eq!(
            code(c.join(big_room, None).await),
            Some(ErrorCode::NotFound)
        );
        assert_eq!(
            code(c.send(big_room, "c", "x").await),
            Some(ErrorCode::NotFound)
        );
        assert_eq!(
            code(c.history(big_room, None, None, 10).await),
            Some(ErrorCode::NotFound)
        );
        assert_eq!(
            code(c.open_direct(big_user).await),
            Some(ErrorCode::NotFound)
        );
        assert_eq!(
            code(c.invite(room, big_user).await),
            Some(ErrorCode::NotFound)
        );
        assert_eq!(
            code(c.presence_query(vec![big_user]).await),
            Some(ErrorCode::NotFound)
        );
        assert_eq!(
            code(c.mark_read(big_room, Position::ZERO).await),
            Some(ErrorCode::NotFound)
        );
        let far = Position::new(id, 1);
        assert_eq!(
            code(c.mark_read(room, far).await),
            Some(ErrorCode::InvalidArgument)
        );
        assert_eq!(
            code(c.mark_read(room, Position::new(1, id)).await),
            Some(ErrorCode::InvalidArgument)
        );
        assert_eq!(
            code(c.history(room, Some(far), None, 10).await),
            Some(ErrorCode::InvalidArgument)
        );
        assert_eq!(
            code(c.join(room, Some(far)).await),
            Some(ErrorCode::InvalidArgument)
        );
    }
    // The connection is fine, and the largest storable values still work.
    let max = i64::MAX as u64;
    c.mark_read(room, Position::new(max, max)).await.unwrap();
    c.set_presence(PresenceStatus::Online).await.unwrap();

    let http = reqwest::Client::new();
    let get = |path: String| {
        let req = http
            .get(format!("{}{path}", t.http_url()))
            .bearer_auth(&token);
        async move { req.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(get(format!("/api/rooms/{HUGE}/history")).await, 404);
    assert_eq!(get(format!("/api/rooms/{}/history", u64::MAX)).await, 404);
    assert_eq!(get(format!("/api/search?q=x&room={HUGE}")).await, 404);
    let path = format!("/api/rooms/{}/history?before={}:1", room.0, u64::MAX);
    assert_eq!(get(path).await, 400);
    let path = format!("/api/rooms/{}/history?before={max}:{max}", room.0);
    assert_eq!(get(path).await, 200);

    assert_eq!(warnings.load(Ordering::Relaxed), 0, "no WARN line");
    t.node.shutdown().await;
}
