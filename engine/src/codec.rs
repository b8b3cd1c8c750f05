//! `Codec`: the one place that decides how frames become bytes.
//!
//! MessagePack (binary WebSocket messages, maps with named fields) is the default. JSON (text
//! messages) is offered for debugging through the `switchboard.v1.json` subprotocol.

use bytes::Bytes;
use serde::{Deserialize, Serialize, de::DeserializeOwned};

/// Subprotocol for the default MessagePack encoding.
pub const SUBPROTOCOL_MSGPACK: &str = "switchboard.v1";
/// Subprotocol for the JSON debugging encoding.
pub const SUBPROTOCOL_JSON: &str = "switchboard.v1.json";

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Codec {
    #[default]
    MsgPack,
    Json,
}

#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("malformed frame: {0}")]
    Decode(String),
    #[error("cannot encode frame: {0}")]
    Encode(String),
}

impl Codec {
    /// The codec a negotiated subprotocol names; MessagePack when none was negotiated.
    pub fn from_subprotocol(protocol: Option<&str>) -> Codec {
        match protocol {
            Some(SUBPROTOCOL_JSON) => Codec::Json,
            _ => Codec::MsgPack,
        }
    }

    /// Whether frames travel as text (JSON) rather than binary (MessagePack) messages.
    pub fn is_text(self) -> bool {
        self == Codec::Json
    }

    pub fn encode<T: Serialize>(self, frame: &T) -> Result<Bytes, CodecError> {
        let bytes = match self {
            Codec::MsgPack => {
                rmp_serde::to_vec_named(frame).map_err(|e| CodecError::Encode(e.to_string()))?
            }
            Codec::Json => {
                serde_json::to_vec(frame).map_err(|e| CodecError::Encode(e.to_string()))?
            }
        };
        Ok(Bytes::from(bytes))
    }

    pub fn decode<T: DeserializeOwned>(self, data: &[u8]) -> Result<T, CodecError> {
        match self {
            Codec::MsgPack => {
                rmp_serde::from_slice(data).map_err(|e| CodecError::Decode(e.to_string()))
            }
            Codec::Json => {
                serde_json::from_slice(data).map_err(|e| CodecError::Decode(e.to_string()))
            }
        }
    }

    /// Best effort: the `rid` of a frame that failed to decode, so its error can name it.
    pub fn salvage_rid(self, data: &[u8]) -> Option<u64> {
        #[derive(Deserialize)]
        struct RidOnly {
            rid: Option<u64>,
        }
        self.decode::<RidOnly>(data).ok().and_then(|r| r.rid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{ClientFrame, Ping, Send, ServerFrame};
    use crate::{Position, RoomId};
    use proptest::prelude::*;

    #[test]
    fn ping_has_a_stable_msgpack_form() {
        let bytes = Codec::MsgPack
            .encode(&ClientFrame::Ping(Ping { rid: 7 }))
            .unwrap();
        // {"type": "ping", "rid": 7}: fixmap(2), fixstr "type", fixstr "ping", fixstr "rid", 7.
        assert_eq!(
            bytes.as_ref(),
            b"\x82\xa4type\xa4ping\xa3rid\x07".as_slice()
        );
    }

    /// The `profiles` command and its reply as PROTOCOL §12 shows them.
    #[test]
    fn profiles_has_a_stable_msgpack_form() {
        let ask = ClientFrame::Profiles(crate::protocol::Profiles {
            rid: 3,
            users: vec![crate::UserId(2)],
        });
        let bytes = Codec::MsgPack.encode(&ask).unwrap();
        assert_eq!(
            bytes.as_ref(),
            b"\x83\xa4type\xa8profiles\xa3rid\x03\xa5users\x91\x02".as_slice()
        );
        let reply = ServerFrame::Profiles(crate::protocol::ProfilesReply {
            rid: 3,
            users: vec![crate::domain::Profile {
                id: crate::UserId(2),
                name: "bob".into(),
                display_name: "Bob".into(),
                status: String::new(),
            }],
        });
        let bytes = Codec::MsgPack.encode(&reply).unwrap();
        assert_eq!(
            bytes.as_ref(),
            b"\x83\xa4type\xa8profiles\xa3rid\x03\xa5users\x91\x84\xa2id\x02\xa4name\xa3bob\xacdisplay_name\xa3Bob\xa6status\xa0"
                .as_slice()
        );
        assert_eq!(bytes.len(), 66);
        assert_eq!(Codec::MsgPack.decode::<ServerFrame>(&bytes).unwrap(), reply);
    }

    /// The room list: `rooms`, its reply, a next page's cursor and `mute`, as PROTOCOL §12
    /// shows them.
    #[test]
    fn room_list_has_a_stable_msgpack_form() {
        use crate::domain::{ChatMessage, Profile, RoomCursor, RoomKind, RoomSummary};
        use crate::protocol::{Mute, RoomList, Rooms};
        let ask = ClientFrame::Rooms(Rooms {
            rid: 4,
            before: None,
            limit: 20,
        });
        let bytes = Codec::MsgPack.encode(&ask).unwrap();
        assert_eq!(
            bytes.as_ref(),
            b"\x83\xa4type\xa5rooms\xa3rid\x04\xa5limit\x14".as_slice()
        );
        let ts = 1_735_689_600_000;
        let reply = ServerFrame::Rooms(RoomList {
            rid: 4,
            rooms: vec![RoomSummary {
                id: RoomId(7),
                name: "Bob".into(),
                kind: RoomKind::Direct,
                peer: Some(Profile {
                    id: crate::UserId(2),
                    name: "bob".into(),
                    display_name: "Bob".into(),
                    status: String::new(),
                }),
                activity: ts,
                last: Some(ChatMessage {
                    room: RoomId(7),
                    pos: Position::new(3, 17),
                    sender: crate::UserId(2),
                    cmid: "c1".into(),
                    text: "hi".into(),
                    ts,
                    ..Default::default()
                }),
                unread: 3,
                unread_more: false,
                mentions: 0,
                muted: false,
            }],
            more: true,
        });
        let bytes = Codec::MsgPack.encode(&reply).unwrap();
        assert_eq!(
            bytes.as_ref(),
            b"\x84\xa4type\xa5rooms\xa3rid\x04\xa5rooms\x91\x89\xa2id\x07\xa4name\xa3Bob\xa4kind\xa6direct\xa4peer\x84\xa2id\x02\xa4name\xa3bob\xacdisplay_name\xa3Bob\xa6status\xa0\xa8activity\xcf\x00\x00\x01\x94\x1f)|\x00\xa4last\x86\xa4room\x07\xa3pos\x82\xa5epoch\x03\xa3seq\x11\xa6sender\x02\xa4cmid\xa2c1\xa4text\xa2hi\xa2ts\xcf\x00\x00\x01\x94\x1f)|\x00\xa6unread\x03\xabunread_more\xc2\xa5muted\xc2\xa4more\xc3"
                .as_slice()
        );
        assert_eq!(bytes.len(), 211);
        assert_eq!(Codec::MsgPack.decode::<ServerFrame>(&bytes).unwrap(), reply);
        let ServerFrame::Rooms(list) = &reply else {
            unreachable!()
        };
        let next = ClientFrame::Rooms(Rooms {
            rid: 5,
            before: Some(list.rooms[0].cursor()),
            limit: 20,
        });
        let bytes = Codec::MsgPack.encode(&next).unwrap();
        assert_eq!(
            bytes.as_ref(),
            b"\x84\xa4type\xa5rooms\xa3rid\x05\xa6before\x82\xa8activity\xcf\x00\x00\x01\x94\x1f)|\x00\xa4room\x07\xa5limit\x14"
                .as_slice()
        );
        let cursor = RoomCursor {
            activity: ts,
            room: RoomId(7),
        };
        assert_eq!(list.rooms[0].cursor(), cursor);
        let mute = ClientFrame::Mute(Mute {
            rid: 6,
            room: RoomId(7),
            muted: true,
        });
        let bytes = Codec::MsgPack.encode(&mute).unwrap();
        assert_eq!(
            bytes.as_ref(),
            b"\x84\xa4type\xa4mute\xa3rid\x06\xa4room\x07\xa5muted\xc3".as_slice()
        );
        assert_eq!(
            mute.room(),
            Some(RoomId(7)),
            "ordered with the room's commands"
        );
    }

    /// A `react` command and the `reaction` event it makes, as PROTOCOL §12 shows them.
    #[test]
    fn reactions_have_a_stable_msgpack_form() {
        let target = Position::new(3, 17);
        let react = ClientFrame::React(crate::protocol::React {
            rid: 5,
            room: RoomId(42),
            cmid: "r1".into(),
            target,
            emoji: "👍".into(),
            remove: false,
        });
        let bytes = Codec::MsgPack.encode(&react).unwrap();
        assert_eq!(
            bytes.as_ref(),
            b"\x86\xa4type\xa5react\xa3rid\x05\xa4room\x2a\xa4cmid\xa2r1\xa6target\x82\xa5epoch\x03\xa3seq\x11\xa5emoji\xa4\xf0\x9f\x91\x8d"
                .as_slice()
        );
        let event = crate::protocol::event_frame(crate::domain::ChatMessage {
            room: RoomId(42),
            pos: Position::new(3, 18),
            sender: crate::UserId(9),
            cmid: "r1".into(),
            ts: 1_735_689_600_000,
            change: Some(Box::new(crate::domain::Change::React {
                target,
                emoji: "👍".into(),
                removed: false,
            })),
            ..Default::default()
        });
        let bytes = Codec::MsgPack.encode(&event).unwrap();
        assert_eq!(
            bytes.as_ref(),
            b"\x88\xa4type\xa8reaction\xa4room\x2a\xa3pos\x82\xa5epoch\x03\xa3seq\x12\xa6sender\x09\xa4cmid\xa2r1\xa2ts\xcf\x00\x00\x01\x94\x1f\x29\x7c\x00\xa6target\x82\xa5epoch\x03\xa3seq\x11\xa5emoji\xa4\xf0\x9f\x91\x8d"
                .as_slice()
        );
        assert_eq!(Codec::MsgPack.decode::<ServerFrame>(&bytes).unwrap(), event);
    }

    /// `mark_delivered`, the `delivery_receipt` it makes and a `receipts` reply, as
    /// PROTOCOL §12 shows them.
    #[test]
    fn delivery_marks_have_a_stable_msgpack_form() {
        let pos = Position::new(3, 17);
        let mark = ClientFrame::MarkDelivered(crate::protocol::MarkDelivered {
            rid: 8,
            room: RoomId(42),
            pos,
        });
        let bytes = Codec::MsgPack.encode(&mark).unwrap();
        assert_eq!(
            bytes.as_ref(),
            b"\x84\xa4type\xaemark_delivered\xa3rid\x08\xa4room\x2a\xa3pos\x82\xa5epoch\x03\xa3seq\x11"
                .as_slice()
        );
        let event = ServerFrame::DeliveryReceipt(crate::protocol::ReadReceipt {
            room: RoomId(42),
            user: crate::UserId(9),
            pos,
        });
        let bytes = Codec::MsgPack.encode(&event).unwrap();
        assert_eq!(
            bytes.as_ref(),
            b"\x84\xa4type\xb0delivery_receipt\xa4room\x2a\xa4user\x09\xa3pos\x82\xa5epoch\x03\xa3seq\x11"
                .as_slice()
        );
        assert_eq!(Codec::MsgPack.decode::<ServerFrame>(&bytes).unwrap(), event);
        let reply = ServerFrame::Receipts(crate::protocol::ReceiptList {
            rid: 9,
            room: RoomId(42),
            members: vec![crate::domain::MemberReceipt {
                user: crate::UserId(9),
                read: None,
                delivered: Some(pos),
            }],
            more: false,
        });
        let bytes = Codec::MsgPack.encode(&reply).unwrap();
        assert_eq!(
            bytes.as_ref(),
            b"\x85\xa4type\xa8receipts\xa3rid\x09\xa4room\x2a\xa7members\x91\x82\xa4user\x09\xa9delivered\x82\xa5epoch\x03\xa3seq\x11\xa4more\xc2"
                .as_slice()
        );
        assert_eq!(Codec::MsgPack.decode::<ServerFrame>(&bytes).unwrap(), reply);
    }

    /// A `pin` command and the `pinned` event it makes, as PROTOCOL §12 shows them.
    #[test]
    fn pins_have_a_stable_msgpack_form() {
        let target = Position::new(3, 17);
        let pin = ClientFrame::Pin(crate::protocol::Pin {
            rid: 6,
            room: RoomId(42),
            cmid: "p1".into(),
            target,
            unpin: false,
        });
        let bytes = Codec::MsgPack.encode(&pin).unwrap();
        assert_eq!(
            bytes.as_ref(),
            b"\x85\xa4type\xa3pin\xa3rid\x06\xa4room\x2a\xa4cmid\xa2p1\xa6target\x82\xa5epoch\x03\xa3seq\x11"
                .as_slice()
        );
        let event = crate::protocol::event_frame(crate::domain::ChatMessage {
            room: RoomId(42),
            pos: Position::new(3, 19),
            sender: crate::UserId(9),
            cmid: "p1".into(),
            ts: 1_735_689_600_000,
            change: Some(Box::new(crate::domain::Change::Pin {
                target,
                removed: false,
            })),
            ..Default::default()
        });
        let bytes = Codec::MsgPack.encode(&event).unwrap();
        assert_eq!(
            bytes.as_ref(),
            b"\x87\xa4type\xa6pinned\xa4room\x2a\xa3pos\x82\xa5epoch\x03\xa3seq\x13\xa6sender\x09\xa4cmid\xa2p1\xa2ts\xcf\x00\x00\x01\x94\x1f\x29\x7c\x00\xa6target\x82\xa5epoch\x03\xa3seq\x11"
                .as_slice()
        );
        assert_eq!(Codec::MsgPack.decode::<ServerFrame>(&bytes).unwrap(), event);
    }

    #[test]
    fn garbage_is_a_decode_error_not_a_panic() {
        for data in [
            &b""[..],
            b"\xc1",
            b"\x82\xa4type\xa4nope\xa3rid\x07",
            b"\x93\x01\x02\x03",
        ] {
            assert!(Codec::MsgPack.decode::<ClientFrame>(data).is_err());
        }
        assert!(
            Codec::Json
                .decode::<ClientFrame>(b"{\"type\":\"send\"}")
                .is_err()
        );
    }

    #[test]
    fn attachments_are_omitted_when_empty_and_round_trip_when_not() {
        let plain = br#"{"type":"send","rid":1,"room":2,"cmid":"c","text":"hi"}"#;
        let ClientFrame::Send(send) = Codec::Json.decode::<ClientFrame>(plain).unwrap() else {
            panic!("a send");
        };
        assert!(send.attachments.is_empty(), "absent means none");
        let mut message = crate::domain::ChatMessage {
            room: RoomId(1),
            pos: Position::new(1, 1),
            sender: crate::UserId(2),
            cmid: "c".into(),
            text: String::new(),
            ts: 3,
            ..Default::default()
        };
        let json = Codec::Json
            .encode(&ServerFrame::Message(message.clone()))
            .unwrap();
        assert!(!String::from_utf8_lossy(&json).contains("attachments"));
        message.attachments.push(crate::domain::Attachment {
            id: crate::AttachmentId(9),
            name: "a.png".into(),
            content_type: "image/png".into(),
            size: 4,
            thumbnail: true,
        });
        let frame = ServerFrame::Message(message);
        for codec in [Codec::MsgPack, Codec::Json] {
            let bytes = codec.encode(&frame).unwrap();
            assert_eq!(codec.decode::<ServerFrame>(&bytes).unwrap(), frame);
        }
    }

    #[test]
    fn rid_is_salvaged_from_an_unknown_command() {
        let data = br#"{"type":"teleport","rid":42}"#;
        assert!(Codec::Json.decode::<ClientFrame>(data).is_err());
        assert_eq!(Codec::Json.salvage_rid(data), Some(42));
    }

    proptest! {
        #[test]
        fn send_round_trips_in_both_codecs(rid: u64, room: u64, cmid in "[a-z0-9]{1,64}", text in ".{0,200}", first: bool) {
            let frame = ClientFrame::Send(Send { rid, room: RoomId(room), cmid, text, attachments: Vec::new(), first, reply_to: None });
            for codec in [Codec::MsgPack, Codec::Json] {
                let bytes = codec.encode(&frame).unwrap();
                prop_assert_eq!(codec.decode::<ClientFrame>(&bytes).unwrap(), frame.clone());
            }
        }

        #[test]
        fn message_events_round_trip(epoch: u64, seq: u64, text in ".{0,100}") {
            let frame = ServerFrame::Message(crate::domain::ChatMessage {
                room: RoomId(1), pos: Position::new(epoch, seq), sender: crate::UserId(2),
                cmid: "c".into(), text, ts: 3, ..Default::default()
            });
            let bytes = Codec::MsgPack.encode(&frame).unwrap();
            prop_assert_eq!(Codec::MsgPack.decode::<ServerFrame>(&bytes).unwrap(), frame);
        }

        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = Codec::MsgPack.decode::<ClientFrame>(&data);
            let _ = Codec::Json.decode::<ClientFrame>(&data);
        }
    }
}
