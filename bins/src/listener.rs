//! The accept loop. Every accepted socket gets `TCP_NODELAY` (a small frame must not wait for
//! the peer's delayed ACK), counts against `http.max_connections` for its whole life, upgraded
//! WebSockets included, and is served by hyper's HTTP/1.1 with a header-read timeout and an
//! idle timeout until it upgrades. Over the cap a connection is answered 503 and closed.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use switchboard_actors::refusal::{self, Refusal};
use switchboard_engine::ErrorCode;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio::time::{Instant, Sleep};

use crate::config::HttpConfig;
use crate::http::error_response;

/// Connections over the cap being answered 503 at once. When all are busy the loop stops
/// accepting until one finishes, and further clients wait in the kernel's accept queue: the
/// node never holds more than `max_connections + REFUSING` sockets.
const REFUSING: usize = 64;

/// Pause after a failed `accept` (typically out of file descriptors), so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Serves `router` on `listener` until `stop` resolves, then drops every HTTP connection still
/// open (upgraded WebSockets live on in their own actors). The listener is shared so that the
/// node's supervisor can serve it again after a panic.
pub async fn serve(
    listener: Arc<TcpListener>,
    router: Router,
    config: HttpConfig,
    stop: impl Future<Output = ()>,
) {
    let slots = Arc::new(Semaphore::new(config.max_connections));
    let refusing = Arc::new(Semaphore::new(REFUSING));
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(Duration::from_millis(config.header_read_timeout_ms));
    let idle = Duration::from_millis(config.idle_timeout_ms);
    // Owned, not detached: dropping the set when the loop ends aborts what is left.
    let mut conns = JoinSet::new();
    tokio::pin!(stop);
    loop {
        let (tcp, peer) = tokio::select! {
            () = &mut stop => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => continue,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    refusal::note(Refusal::AcceptFailed, format_args!("accept: {e}"));
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
        };
        // Only fails on a socket that is already gone; it then fails its first read.
        let _ = tcp.set_nodelay(true);
        match slots.clone().try_acquire_owned() {
            Ok(slot) => {
                let socket = Socket::new(tcp, slot, idle);
                conns.spawn(serve_connection(http.clone(), socket, router.clone(), peer));
            }
            Err(_) => {
                refusal::note(
                    Refusal::ConnectionCap,
                    format_args!("{peer}: {} connections open", config.max_connections),
                );
                let permit = tokio::select! {
                    () = &mut stop => break,
                    permit = refusing.clone().acquire_owned() => permit,
                };
                let Ok(permit) = permit else { break };
                let socket = Socket::new(tcp, permit, idle);
                conns.spawn(refuse_connection(http.clone(), socket));
            }
        }
    }
}

async fn serve_connection(http: http1::Builder, socket: Socket, router: Router, peer: SocketAddr) {
    let served = socket.served();
    // `ConnectInfo` lets routes see the client's address (e.g. per-address throttling).
    let service = tower::ServiceExt::map_request(router, move |mut req: Request<Incoming>| {
        req.extensions_mut().insert(ConnectInfo(peer));
        req
    });
    let result = http
        .serve_connection(TokioIo::new(socket), TowerToHyperService::new(service))
        .with_upgrades()
        .await;
    // Done with HTTP: the socket now belongs to its WebSocket, if it upgraded.
    served.store(true, Ordering::Relaxed);
    if let Err(e) = result {
        log_connection_error(peer, &e);
    }
}

/// Answers one request with 503 (code 4001) and closes, within the same timeouts.
async fn refuse_connection(mut http: http1::Builder, socket: Socket) {
    http.keep_alive(false);
    let service = hyper::service::service_fn(|_: Request<Incoming>| async {
        Ok::<_, Infallible>(error_response(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Busy,
            "too many connections; retry later",
        ))
    });
    let _ = http.serve_connection(TokioIo::new(socket), service).await;
}

fn log_connection_error(peer: SocketAddr, e: &hyper::Error) {
    use std::error::Error as _;
    let timed_out = e.is_timeout()
        || e.source()
            .and_then(|s| s.downcast_ref::<io::Error>())
            .is_some_and(|io| io.kind() == io::ErrorKind::TimedOut);
    if timed_out {
        refusal::note(Refusal::SlowHttp, format_args!("{peer}: {e}"));
    } else if e.is_parse() {
        refusal::note(Refusal::ProtocolError, format_args!("{peer}: {e}"));
    } else {
        // Resets and early closes are the client's business.
        tracing::debug!(%peer, error = %e, "HTTP connection ended");
    }
}

/// An accepted socket: holds its connection slot for as long as it lives, and until its HTTP
/// service is done (it closed, or upgraded) fails any read or write after `idle` without
/// progress.
pub(crate) struct Socket {
    tcp: TcpStream,
    _slot: OwnedSemaphorePermit,
    /// Dropped once HTTP is done, so upgraded sockets carry no timer.
    idle: Option<Idle>,
}

struct Idle {
    timeout: Duration,
    timer: Pin<Box<Sleep>>,
    served: Arc<AtomicBool>,
}

impl Socket {
    fn new(tcp: TcpStream, slot: OwnedSemaphorePermit, timeout: Duration) -> Self {
        Socket {
            tcp,
            _slot: slot,
            idle: Some(Idle {
                timeout,
                timer: Box::pin(tokio::time::sleep(timeout)),
                served: Arc::default(),
            }),
        }
    }

    /// The socket and its connection slot, once it has upgraded to a WebSocket.
    pub(crate) fn into_parts(self) -> (TcpStream, OwnedSemaphorePermit) {
        (self.tcp, self._slot)
    }

    fn served(&self) -> Arc<AtomicBool> {
        self.idle
            .as_ref()
            .map(|i| i.served.clone())
            .unwrap_or_default()
    }

    /// After a read or write: restarts the idle timer on progress; on `Pending`, fails once
    /// the timer has run out.
    fn watch<T>(&mut self, cx: &mut Context<'_>, poll: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        let Some(idle) = &mut self.idle else {
            return poll;
        };
        if idle.served.load(Ordering::Relaxed) {
            self.idle = None;
            return poll;
        }
        match poll {
            Poll::Ready(ready) => {
                idle.timer.as_mut().reset(Instant::now() + idle.timeout);
                Poll::Ready(ready)
            }
            Poll::Pending if idle.timer.as_mut().poll(cx).is_ready() => Poll::Ready(Err(
                io::Error::new(io::ErrorKind::TimedOut, "idle HTTP connection"),
            )),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl AsyncRead for Socket {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let poll = Pin::new(&mut self.tcp).poll_read(cx, buf);
        self.watch(cx, poll)
    }
}

impl AsyncWrite for Socket {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.tcp).poll_write(cx, buf);
        self.watch(cx, poll)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.tcp).poll_write_vectored(cx, bufs);
        self.watch(cx, poll)
    }

    fn is_write_vectored(&self) -> bool {
        self.tcp.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_shutdown(cx)
    }
}
