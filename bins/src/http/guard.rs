//! `FrameGuard`: the upgraded socket's read side, seen frame by frame before tungstenite sees it.
//!
//! Tungstenite rejects an oversized frame from its header and then stops reading, so the rest
//! of the frame stays unread and closing the socket resets it (RFC 6455 §7.1.1 wants the peer's
//! close frame read first). The guard follows the frame boundaries of everything it passes on,
//! so it can (1) refuse a frame, or a fragmented message, over the size limit before its
//! payload is buffered anywhere, (2) after the server's close frame, read and discard the rest
//! of the oversized frame and whatever follows, up to a bound, until the peer's close frame
//! arrives, and (3) tell whether the peer's close frame went by already.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Where the scan stands in the inbound byte stream.
#[derive(Clone, Copy, Debug)]
enum Scan {
    /// Inside a frame header: `have` of its bytes are in `buf`.
    Header { buf: [u8; 14], have: u8 },
    /// Inside a frame's payload.
    Payload { left: u64 },
}

/// Follows frame boundaries in bytes fed to it, in order.
#[derive(Debug)]
pub struct FrameScanner {
    scan: Scan,
    /// Largest frame, and largest message (its fragments together), accepted.
    max: u64,
    /// Bytes of the data message being received so far.
    message: u64,
    close_seen: bool,
    too_large: bool,
}

const OP_CONTINUATION: u8 = 0x0;
const OP_CLOSE: u8 = 0x8;

impl FrameScanner {
    pub fn new(max: u64) -> Self {
        FrameScanner {
            scan: Scan::Header {
                buf: [0; 14],
                have: 0,
            },
            max,
            message: 0,
            close_seen: false,
            too_large: false,
        }
    }

    /// Scans `bytes`. Returns how many of them precede the header of the first oversized
    /// frame (all of them when there is none): those may go to the WebSocket layer.
    pub fn feed(&mut self, bytes: &[u8]) -> usize {
        let mut pass = bytes.len();
        let mut i = 0;
        while i < bytes.len() {
            match &mut self.scan {
                Scan::Payload { left } => {
                    let take = (*left).min((bytes.len() - i) as u64);
                    *left -= take;
                    i += take as usize;
                    if *left == 0 {
                        self.scan = Scan::Header {
                            buf: [0; 14],
                            have: 0,
                        };
                    }
                }
                Scan::Header { buf, have } => {
                    buf[*have as usize] = bytes[i];
                    *have += 1;
                    i += 1;
                    let Some((opcode, len)) = parse_header(&buf[..*have as usize]) else {
                        continue;
                    };
                    let header_start = (i as u64).saturating_sub(u64::from(*have));
                    if opcode == OP_CLOSE {
                        self.close_seen = true;
                    } else if opcode == OP_CONTINUATION {
                        self.message = self.message.saturating_add(len);
                    } else if opcode < OP_CLOSE {
                        self.message = len;
                    }
                    let oversized =
                        len > self.max || (opcode < OP_CLOSE && self.message > self.max);
                    if oversized && !self.too_large {
                        self.too_large = true;
                        pass = pass.min(header_start as usize);
                    }
                    self.scan = if len == 0 {
                        Scan::Header {
                            buf: [0; 14],
                            have: 0,
                        }
                    } else {
                        Scan::Payload { left: len }
                    };
                }
            }
        }
        if self.too_large { pass } else { bytes.len() }
    }

    /// The peer's close frame has begun to arrive.
    pub fn close_seen(&self) -> bool {
        self.close_seen
    }

    pub fn too_large(&self) -> bool {
        self.too_large
    }
}

/// The opcode and payload length of a complete header, `None` while bytes are missing.
fn parse_header(h: &[u8]) -> Option<(u8, u64)> {
    if h.len() < 2 {
        return None;
    }
    let masked = h[1] & 0x80 != 0;
    let (ext, len) = match h[1] & 0x7f {
        126 => (2, None),
        127 => (8, None),
        n => (0, Some(u64::from(n))),
    };
    let size = 2 + ext + if masked { 4 } else { 0 };
    if h.len() < size {
        return None;
    }
    let len = len.unwrap_or_else(|| {
        h[2..2 + ext]
            .iter()
            .fold(0u64, |acc, &b| (acc << 8) | u64::from(b))
    });
    Some((h[0] & 0x0f, len))
}

/// The upgraded socket with its inbound frames followed by a [`FrameScanner`].
pub struct FrameGuard<S> {
    inner: S,
    scanner: FrameScanner,
    /// Bytes read past an oversized frame's header, not handed on: they belong to that frame.
    refused: bool,
    /// Bytes discarded while draining, and the most that may be.
    discarded: u64,
    discard_limit: u64,
}

impl<S> FrameGuard<S> {
    /// `max`: the largest frame or message accepted; `discard_limit`: the most bytes read
    /// and dropped while waiting for the peer's close frame.
    pub fn new(inner: S, max: u64, discard_limit: u64) -> Self {
        FrameGuard {
            inner,
            scanner: FrameScanner::new(max),
            refused: false,
            discarded: 0,
            discard_limit,
        }
    }

    pub fn too_large(&self) -> bool {
        self.scanner.too_large()
    }
}

impl<S: AsyncRead + Unpin> FrameGuard<S> {
    /// Reads and drops inbound bytes until the peer's close frame has arrived, the peer has
    /// closed, or the discard limit is reached; only then may the socket be closed without
    /// resetting it.
    pub fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let mut scratch = [0u8; 4096];
        while !self.scanner.close_seen() && self.discarded < self.discard_limit {
            let room = (self.discard_limit - self.discarded).min(scratch.len() as u64) as usize;
            let mut buf = ReadBuf::new(&mut scratch[..room]);
            match ready!(Pin::new(&mut self.inner).poll_read(cx, &mut buf)) {
                Ok(()) if !buf.filled().is_empty() => {
                    self.discarded += buf.filled().len() as u64;
                    self.scanner.feed(buf.filled());
                }
                _ => break,
            }
        }
        Poll::Ready(())
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for FrameGuard<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.refused {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "frame over the size limit",
            )));
        }
        let start = buf.filled().len();
        ready!(Pin::new(&mut this.inner).poll_read(cx, buf))?;
        let pass = this.scanner.feed(&buf.filled()[start..]);
        if this.scanner.too_large() {
            // The oversized frame's bytes stay with the scanner (drained at close); the frames
            // before it still go on.
            buf.set_filled(start + pass);
            this.refused = true;
            if pass == 0 {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "frame over the size limit",
                )));
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for FrameGuard<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A masked client frame header for `len` payload bytes.
    fn header(opcode: u8, fin: bool, len: u64) -> Vec<u8> {
        let mut h = vec![opcode | if fin { 0x80 } else { 0 }];
        match len {
            0..=125 => h.push(0x80 | len as u8),
            126..=0xffff => {
                h.push(0x80 | 126);
                h.extend_from_slice(&(len as u16).to_be_bytes());
            }
            _ => {
                h.push(0x80 | 127);
                h.extend_from_slice(&len.to_be_bytes());
            }
        }
        h.extend_from_slice(&[1, 2, 3, 4]);
        h
    }

    #[test]
    fn frames_within_the_limit_pass_in_any_split() {
        let mut bytes = header(0x2, true, 300);
        bytes.extend(vec![0; 300]);
        bytes.extend(header(0x8, true, 2));
        bytes.extend([3, 232]);
        for split in [1, 2, 3, 7, 100, bytes.len()] {
            let mut s = FrameScanner::new(1000);
            let passed: usize = bytes.chunks(split).map(|c| s.feed(c)).sum();
            assert_eq!(passed, bytes.len());
            assert!(s.close_seen() && !s.too_large());
        }
    }

    #[test]
    fn an_oversized_frame_stops_at_its_header_and_its_payload_is_skipped() {
        let mut bytes = header(0x2, true, 10);
        bytes.extend([0; 10]);
        let cut = bytes.len();
        bytes.extend(header(0x2, true, 70_000));
        bytes.extend(vec![0; 70_000]);
        bytes.extend(header(0x8, true, 0));
        let mut s = FrameScanner::new(65_536);
        assert_eq!(s.feed(&bytes), cut);
        assert!(
            s.too_large() && s.close_seen(),
            "the close after it is found"
        );
    }

    #[test]
    fn fragments_count_toward_the_message_limit() {
        let mut s = FrameScanner::new(100);
        let mut bytes = header(0x1, false, 60);
        bytes.extend([0; 60]);
        assert_eq!(s.feed(&bytes), bytes.len());
        assert_eq!(s.feed(&header(0x9, true, 0)), 6, "a ping between fragments");
        assert_eq!(s.feed(&header(0x0, true, 60)), 0, "120 bytes in all");
        assert!(s.too_large());
    }
}
