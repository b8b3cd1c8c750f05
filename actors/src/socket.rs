//! `Socket`: a connection's TCP socket, written in whole frames by more than one task.
//!
//! The connection's own task reads it and writes through tungstenite (answers, control frames,
//! the close). A room fanning an event out may write the event's WebSocket frame straight to
//! the socket instead of waking the connection's task, when nothing is queued before it (see
//! `Outbound::event`): for a fan-out that is one `send` per recipient and no task switch.
//!
//! Frames never interleave. Every write is taken whole: what the kernel does not take at once
//! is kept in `unsent`, and while anything is unsent a write from outside the connection's
//! task is refused (the event is queued instead) and the connection's own writes wait until
//! `unsent` has drained. So `unsent` holds at most the tail of one write.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, ready};

use bytes::{Buf, Bytes};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

pub struct Socket {
    tcp: TcpStream,
    /// Bytes of a write the kernel has not taken yet; written before anything else.
    unsent: Mutex<Unsent>,
}

#[derive(Default)]
struct Unsent {
    buf: Vec<u8>,
    at: usize,
}

impl Unsent {
    fn is_empty(&self) -> bool {
        self.at == self.buf.len()
    }
}

/// What became of a write from outside the connection's task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direct {
    /// The kernel took the whole frame.
    Written,
    /// The kernel took part of it; the rest is unsent, and the connection's task must be
    /// woken to drain it (a flush).
    Partial,
    /// Nothing was written: something is unsent, the socket is full, or it failed. Queue the
    /// frame for the connection's task, which sees the failure itself.
    Refused,
}

impl Socket {
    pub fn new(tcp: TcpStream) -> Arc<Socket> {
        Arc::new(Socket {
            tcp,
            unsent: Mutex::default(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Unsent> {
        self.unsent.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Writes `frame` whole, from outside the connection's task, if nothing is unsent and the
    /// kernel takes at least part of it now. Never waits.
    pub fn try_write_frame(&self, frame: &[u8]) -> Direct {
        let mut unsent = self.lock();
        if !unsent.is_empty() {
            return Direct::Refused;
        }
        match self.tcp.try_write(frame) {
            Ok(n) if n == frame.len() => Direct::Written,
            Ok(n) if n > 0 => {
                unsent.buf = frame[n..].to_vec();
                unsent.at = 0;
                Direct::Partial
            }
            _ => Direct::Refused,
        }
    }

    /// Drains `unsent`; `Pending` (with the waker stored) while the kernel takes no more.
    fn poll_drain(&self, unsent: &mut Unsent, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !unsent.is_empty() {
            match self.tcp.try_write(&unsent.buf[unsent.at..]) {
                Ok(n) => unsent.at += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    ready!(self.tcp.poll_write_ready(cx))?;
                }
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
        // An emptied buffer gives its memory back: an idle connection holds none.
        *unsent = Unsent::default();
        Poll::Ready(Ok(()))
    }

    /// Writes `buf` whole once `unsent` has drained: `Ready(buf.len())` once the kernel took
    /// some of it (the rest is unsent), `Pending` while it takes nothing.
    fn poll_write_whole(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let mut unsent = self.lock();
        ready!(self.poll_drain(&mut unsent, cx))?;
        loop {
            match self.tcp.try_write(buf) {
                Ok(n) => {
                    if n < buf.len() {
                        unsent.buf = buf[n..].to_vec();
                    }
                    return Poll::Ready(Ok(buf.len()));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    ready!(self.tcp.poll_write_ready(cx))?;
                }
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

/// The connection's side of a [`Socket`], for the WebSocket layer: reads first return the bytes
/// the HTTP layer read past the upgrade request, then the socket's.
pub struct SocketIo {
    socket: Arc<Socket>,
    read_first: Bytes,
}

impl SocketIo {
    pub fn new(socket: Arc<Socket>, read_first: Bytes) -> SocketIo {
        // Such bytes are a slice of the HTTP layer's read buffer, which they keep alive: an
        // empty slice is not kept.
        let read_first = if read_first.is_empty() {
            Bytes::new()
        } else {
            read_first
        };
        SocketIo { socket, read_first }
    }
}

impl AsyncRead for SocketIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if !self.read_first.is_empty() {
            let n = self.read_first.len().min(buf.remaining());
            buf.put_slice(&self.read_first[..n]);
            self.read_first.advance(n);
            if self.read_first.is_empty() {
                self.read_first = Bytes::new();
            }
            return Poll::Ready(Ok(()));
        }
        let tcp = &self.socket.tcp;
        loop {
            ready!(tcp.poll_read_ready(cx))?;
            match tcp.try_read(buf.initialize_unfilled()) {
                Ok(n) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

impl AsyncWrite for SocketIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.socket.poll_write_whole(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut unsent = self.socket.lock();
        self.socket.poll_drain(&mut unsent, cx)
    }

    /// Drains what is unsent; the socket itself closes when the last handle drops.
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_flush(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    async fn pair() -> (Arc<Socket>, TcpStream) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap());
        let (client, (server, _)) =
            tokio::join!(client, async { listener.accept().await.unwrap() });
        (Socket::new(server), client.unwrap())
    }

    /// Frames of `len` bytes, each filled with its own number, so any interleaving shows.
    fn frame(i: u8, len: usize) -> Vec<u8> {
        vec![i; len]
    }

    #[tokio::test]
    async fn writes_from_both_sides_arrive_whole_and_in_order_through_a_full_socket() {
        let (socket, mut client) = pair().await;
        let mut io = SocketIo::new(socket.clone(), Bytes::new());
        const LEN: usize = 64 * 1024;
        // Nobody reads yet: direct writes fill the socket until one is cut, then are refused.
        let mut sent = Vec::new();
        let mut i = 0u8;
        loop {
            match socket.try_write_frame(&frame(i, LEN)) {
                Direct::Written => sent.push(i),
                Direct::Partial => {
                    sent.push(i);
                    break;
                }
                Direct::Refused => panic!("refused before the socket filled"),
            }
            i += 1;
        }
        assert_eq!(socket.try_write_frame(&frame(99, 10)), Direct::Refused);
        // The connection's own write waits behind the unsent tail, then goes whole.
        let reader = tokio::spawn(async move {
            let mut all = Vec::new();
            client.read_to_end(&mut all).await.unwrap();
            all
        });
        io.write_all(&frame(200, LEN)).await.unwrap();
        sent.push(200);
        io.flush().await.unwrap();
        assert_eq!(socket.try_write_frame(&frame(201, 10)), Direct::Written);
        drop(io);
        drop(socket);
        let all = reader.await.unwrap();
        let mut at = 0;
        for i in sent {
            assert_eq!(
                all[at..at + LEN],
                frame(i, LEN)[..],
                "frame {i} whole and in order"
            );
            at += LEN;
        }
        assert_eq!(all[at..], frame(201, 10)[..]);
    }

    #[tokio::test]
    async fn reads_start_with_the_bytes_read_before_the_upgrade() {
        let (socket, mut client) = pair().await;
        let mut io = SocketIo::new(socket, Bytes::from_static(b"early "));
        client.write_all(b"late").await.unwrap();
        drop(client);
        let mut all = String::new();
        io.read_to_string(&mut all).await.unwrap();
        assert_eq!(all, "early late");
    }
}
