//! A raw WebSocket client over TCP: writes frames byte by byte, broken ones included, and
//! reads the server's frames, so tests can check what a WebSocket library would refuse to send.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub const TEXT: u8 = 0x1;
pub const BINARY: u8 = 0x2;
pub const CLOSE: u8 = 0x8;
pub const PING: u8 = 0x9;

const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// One frame from the server.
#[derive(Debug)]
pub struct Frame {
    pub fin: bool,
    pub opcode: u8,
    pub payload: Vec<u8>,
}

impl Frame {
    /// The code of a close frame.
    pub fn close_code(&self) -> Option<u16> {
        (self.opcode == CLOSE && self.payload.len() >= 2)
            .then(|| u16::from_be_bytes([self.payload[0], self.payload[1]]))
    }
}

/// The bytes of a frame: `first` is the first header byte (FIN, RSV bits, opcode).
pub fn frame_bytes(first: u8, masked: bool, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![first];
    let mask_bit = if masked { 0x80 } else { 0 };
    match payload.len() {
        n @ 0..=125 => out.push(mask_bit | n as u8),
        n @ 126..=0xffff => {
            out.push(mask_bit | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(mask_bit | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    if masked {
        out.extend_from_slice(&MASK);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ MASK[i % 4]));
    } else {
        out.extend_from_slice(payload);
    }
    out
}

/// A close frame's payload: the code and a reason.
pub fn close_payload(code: u16, reason: &[u8]) -> Vec<u8> {
    let mut p = code.to_be_bytes().to_vec();
    p.extend_from_slice(reason);
    p
}

pub struct RawSocket {
    stream: TcpStream,
    buf: Vec<u8>,
}

/// How a connection ended, seen from the client.
#[derive(Debug, PartialEq, Eq)]
pub enum Ending {
    /// The server closed its side after the handshake (a clean FIN).
    Eof,
    /// The connection was reset.
    Reset,
}

const WAIT: Duration = Duration::from_secs(5);

impl RawSocket {
    /// Opens `/ws` at `addr` with `protocol` (`switchboard.v1` or `switchboard.v1.json`) and
    /// reads the upgrade response.
    pub async fn connect(addr: std::net::SocketAddr, protocol: &str) -> RawSocket {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let request = format!(
            "GET /ws HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
             Sec-WebSocket-Protocol: {protocol}\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut socket = RawSocket {
            stream,
            buf: Vec::new(),
        };
        let end = loop {
            if let Some(i) = socket.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            assert!(socket.fill().await > 0, "no upgrade response");
        };
        let head = String::from_utf8_lossy(&socket.buf[..end]).into_owned();
        assert!(head.starts_with("HTTP/1.1 101"), "{head}");
        assert!(
            head.contains("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
            "accept key: {head}"
        );
        socket.buf.drain(..end);
        socket
    }

    async fn fill(&mut self) -> usize {
        let mut chunk = [0u8; 8192];
        let n = tokio::time::timeout(WAIT, self.stream.read(&mut chunk))
            .await
            .expect("the server answers in time")
            .unwrap_or(0);
        self.buf.extend_from_slice(&chunk[..n]);
        n
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
    }

    /// Writes as much of `bytes` as the server takes; a server that closes meanwhile is fine.
    pub async fn send_lossy(&mut self, bytes: &[u8]) {
        let _ = self.stream.write_all(bytes).await;
    }

    /// The next frame; `None` once the connection ends.
    pub async fn frame(&mut self) -> Option<Frame> {
        loop {
            if let Some((frame, used)) = parse(&self.buf) {
                self.buf.drain(..used);
                return Some(frame);
            }
            if self.fill().await == 0 {
                return None;
            }
        }
    }

    /// Skips frames up to the server's close frame and returns it with the data frames before
    /// it; panics if the connection ends without one.
    pub async fn until_close(&mut self) -> (Frame, Vec<Frame>) {
        let mut before = Vec::new();
        loop {
            match self.frame().await {
                Some(f) if f.opcode == CLOSE => return (f, before),
                Some(f) => before.push(f),
                None => panic!("the connection ended without a close frame after {before:?}"),
            }
        }
    }

    /// After the server's close frame: answers it (when `reply`) and reads until the end.
    pub async fn finish(&mut self, reply: bool) -> Ending {
        if reply {
            let _ = self
                .stream
                .write_all(&frame_bytes(0x80 | CLOSE, true, &close_payload(1000, b"")))
                .await;
        }
        let mut chunk = [0u8; 4096];
        loop {
            match tokio::time::timeout(WAIT, self.stream.read(&mut chunk))
                .await
                .expect("the server closes in time")
            {
                Ok(0) => return Ending::Eof,
                Ok(_) => {}
                Err(_) => return Ending::Reset,
            }
        }
    }
}

/// A complete server frame at the start of `buf`, and its length.
fn parse(buf: &[u8]) -> Option<(Frame, usize)> {
    if buf.len() < 2 {
        return None;
    }
    let (mut at, len) = match buf[1] & 0x7f {
        126 => (
            4,
            u16::from_be_bytes(buf.get(2..4)?.try_into().ok()?) as usize,
        ),
        127 => (
            10,
            u64::from_be_bytes(buf.get(2..10)?.try_into().ok()?) as usize,
        ),
        n => (2, n as usize),
    };
    assert_eq!(buf[1] & 0x80, 0, "server frames are not masked");
    if buf.len() < at + len {
        return None;
    }
    let payload = buf[at..at + len].to_vec();
    at += len;
    Some((
        Frame {
            fin: buf[0] & 0x80 != 0,
            opcode: buf[0] & 0x0f,
            payload,
        },
        at,
    ))
}
