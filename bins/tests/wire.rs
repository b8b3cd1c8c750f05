//! The WebSocket wire (RFC 6455) over a raw TCP client: every protocol violation, oversized
//! message and client close ends in a close handshake with the right code, never a bare close
//! or a reset.

mod support;

use support::raw::{BINARY, CLOSE, Ending, PING, RawSocket, TEXT, close_payload, frame_bytes};
use support::start;
use switchboard_engine::Codec;
use switchboard_engine::close;
use switchboard_engine::protocol::ServerFrame;

const MSGPACK: &str = "switchboard.v1";
const JSON: &str = "switchboard.v1.json";
const FIN: u8 = 0x80;

/// A `ping` command, for frames whose payload should be a valid command.
fn ping_command() -> Vec<u8> {
    vec![
        0x82, 0xa4, b't', b'y', b'p', b'e', 0xa4, b'p', b'i', b'n', b'g', 0xa3, b'r', b'i', b'd',
        0x07,
    ]
}

/// Opens a socket, reads `hello`, writes `bytes`, and returns the server's close code, the
/// data frames before it, and how the connection ended once the client `reply`s (or not).
async fn send_and_close(
    protocol: &str,
    bytes: &[u8],
    reply: bool,
) -> (Option<u16>, Vec<ServerFrame>, Ending) {
    let t = start(|_| {}).await;
    let mut socket = RawSocket::connect(t.node.addr, protocol).await;
    let hello = socket.frame().await.expect("hello");
    assert_ne!(hello.opcode, CLOSE);
    socket.send_lossy(bytes).await;
    let (close, before) = socket.until_close().await;
    let codec = Codec::from_subprotocol(Some(protocol));
    let before = before
        .iter()
        .map(|f| codec.decode::<ServerFrame>(&f.payload).unwrap())
        .collect();
    let ending = socket.finish(reply).await;
    t.node.shutdown().await;
    (close.close_code(), before, ending)
}

/// A violation the server must answer with `code` and a clean close.
async fn fails_with(protocol: &str, bytes: &[u8], code: u16) {
    let (got, before, ending) = send_and_close(protocol, bytes, true).await;
    assert_eq!(got, Some(code));
    assert!(before.is_empty(), "no disconnect frame: {before:?}");
    assert_eq!(ending, Ending::Eof);
}

/// A client close frame with `payload`; the server answers with `code`.
async fn close_answered_with(payload: &[u8], code: u16) {
    let bytes = frame_bytes(FIN | CLOSE, true, payload);
    let (got, _, ending) = send_and_close(MSGPACK, &bytes, false).await;
    assert_eq!(got, Some(code), "close payload {payload:?}");
    assert_eq!(ending, Ending::Eof);
}

#[tokio::test]
async fn an_unmasked_client_frame_is_a_protocol_error() {
    fails_with(
        MSGPACK,
        &frame_bytes(FIN | BINARY, false, &ping_command()),
        1002,
    )
    .await;
}

#[tokio::test]
async fn reserved_bits_are_a_protocol_error() {
    for rsv in [0x40, 0x20, 0x10] {
        let bytes = frame_bytes(FIN | rsv | BINARY, true, &ping_command());
        fails_with(MSGPACK, &bytes, 1002).await;
    }
}

#[tokio::test]
async fn reserved_opcodes_are_a_protocol_error() {
    for opcode in [0x3, 0x7, 0xb, 0xf] {
        fails_with(MSGPACK, &frame_bytes(FIN | opcode, true, b"x"), 1002).await;
    }
}

#[tokio::test]
async fn a_fragmented_control_frame_is_a_protocol_error() {
    fails_with(MSGPACK, &frame_bytes(PING, true, b"x"), 1002).await;
}

#[tokio::test]
async fn a_control_frame_over_125_bytes_is_a_protocol_error() {
    fails_with(MSGPACK, &frame_bytes(FIN | PING, true, &[0; 126]), 1002).await;
}

#[tokio::test]
async fn a_continuation_without_a_start_is_a_protocol_error() {
    fails_with(MSGPACK, &frame_bytes(FIN, true, &ping_command()), 1002).await;
}

#[tokio::test]
async fn invalid_utf8_text_closes_with_1007() {
    fails_with(
        JSON,
        &frame_bytes(FIN | TEXT, true, &[b'{', 0xff, 0xfe]),
        1007,
    )
    .await;
}

#[tokio::test]
async fn invalid_close_codes_are_answered_with_1002() {
    for code in [0, 999, 1004, 1005, 1006, 1016, 2999, 5000] {
        close_answered_with(&close_payload(code, b""), 1002).await;
    }
}

#[tokio::test]
async fn a_one_byte_close_payload_is_answered_with_1002() {
    close_answered_with(&[0x03], 1002).await;
}

#[tokio::test]
async fn a_close_reason_in_invalid_utf8_is_answered_with_1007() {
    close_answered_with(&close_payload(1000, &[0xc3, 0x28]), 1007).await;
}

#[tokio::test]
async fn a_normal_close_is_echoed() {
    for code in [1000, 1001, 4321] {
        close_answered_with(&close_payload(code, b"bye"), code).await;
    }
    // An empty close frame is answered with an empty one.
    let bytes = frame_bytes(FIN | CLOSE, true, b"");
    let (got, _, ending) = send_and_close(MSGPACK, &bytes, false).await;
    assert_eq!((got, ending), (None, Ending::Eof));
}

/// An oversized message gets `disconnect` 1009, the 1009 close frame and a clean close.
async fn too_big(bytes: &[u8]) {
    let (got, before, ending) = send_and_close(MSGPACK, bytes, true).await;
    assert_eq!(got, Some(close::MESSAGE_TOO_BIG));
    assert!(
        matches!(before.last(), Some(ServerFrame::Disconnect(d)) if d.code == close::MESSAGE_TOO_BIG),
        "{before:?}"
    );
    assert_eq!(ending, Ending::Eof, "the socket is closed, not reset");
}

#[tokio::test]
async fn a_frame_just_over_the_limit_gets_the_close_handshake() {
    too_big(&frame_bytes(FIN | BINARY, true, &vec![0; 64 * 1024 + 1])).await;
}

#[tokio::test]
async fn a_frame_far_over_the_limit_within_the_discard_bound_gets_the_close_handshake() {
    too_big(&frame_bytes(FIN | BINARY, true, &vec![0; 900 * 1024])).await;
}

#[tokio::test]
async fn fragments_over_the_limit_together_close_with_1009() {
    let mut bytes = frame_bytes(BINARY, true, &vec![0; 40 * 1024]);
    bytes.extend(frame_bytes(FIN, true, &vec![0; 40 * 1024]));
    too_big(&bytes).await;
}

#[tokio::test]
async fn commands_before_a_violation_are_still_answered() {
    let mut bytes = frame_bytes(FIN | BINARY, true, &ping_command());
    bytes.extend(frame_bytes(FIN | 0x40 | BINARY, true, &ping_command()));
    let (got, before, ending) = send_and_close(MSGPACK, &bytes, true).await;
    assert_eq!((got, ending), (Some(1002), Ending::Eof));
    // Unauthenticated: the ping is answered, with 2000.
    assert!(
        matches!(before.as_slice(), [ServerFrame::Error(e)] if e.rid == Some(7)),
        "{before:?}"
    );
}
