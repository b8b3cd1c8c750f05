//! How client commands are declared: [`client_frames!`] takes one declaration per command (its
//! `type` name, its struct and fields) and makes the structs, [`super::ClientFrame`] and every
//! table over it: the request id, the names and ordinals (metric labels), the range checks and
//! the room a command addresses. Adding a command is one declaration here and its handler.

use crate::{AttachmentId, ErrorCode, Position, RoomId, UserId};

/// What a field admits before it reaches a store: ids and positions a store can hold (at most
/// `i64::MAX`). An id that cannot exist is 3001 `not_found`, such a position 1002
/// `invalid_argument`. Every field of a command implements it; most admit anything.
pub trait InRange {
    fn check(&self) -> Result<(), ErrorCode> {
        Ok(())
    }
}

macro_rules! id_in_range {
    ($($id:ty),*) => {$(
        impl InRange for $id {
            fn check(&self) -> Result<(), ErrorCode> {
                self.can_exist().then_some(()).ok_or(ErrorCode::NotFound)
            }
        }
    )*};
}
id_in_range!(RoomId, UserId, AttachmentId);

impl InRange for Position {
    fn check(&self) -> Result<(), ErrorCode> {
        self.in_range()
            .then_some(())
            .ok_or(ErrorCode::InvalidArgument)
    }
}

impl<T: InRange> InRange for Option<T> {
    fn check(&self) -> Result<(), ErrorCode> {
        self.as_ref().map_or(Ok(()), T::check)
    }
}

impl<T: InRange> InRange for Vec<T> {
    fn check(&self) -> Result<(), ErrorCode> {
        self.iter().try_for_each(T::check)
    }
}

/// A cursor a store could have made: both halves at most `i64::MAX`, else 1002.
impl InRange for crate::domain::RoomCursor {
    fn check(&self) -> Result<(), ErrorCode> {
        (self.activity <= crate::ids::MAX_STORED && self.room.can_exist())
            .then_some(())
            .ok_or(ErrorCode::InvalidArgument)
    }
}

impl InRange for String {}
impl InRange for bool {}
impl InRange for u32 {}
impl InRange for u64 {}
impl InRange for super::Visibility {}
impl InRange for crate::domain::PresenceStatus {}

/// The room a command's field named `room` addresses.
pub trait Addresses {
    fn room(&self) -> Option<RoomId>;
}

impl Addresses for RoomId {
    fn room(&self) -> Option<RoomId> {
        Some(*self)
    }
}

impl Addresses for Option<RoomId> {
    fn room(&self) -> Option<RoomId> {
        *self
    }
}

/// The room of a command from its field named `room`; other fields say nothing.
macro_rules! room_field {
    (room, $c:expr) => {
        Addresses::room(&$c.room)
    };
    ($other:ident, $c:expr) => {
        None
    };
}

/// Declares the client commands. Each entry:
///
/// ```text
/// /// Its doc comment.
/// "wire_name" => StructName { field: Type, #[serde(...)] other: Type },
/// ```
///
/// makes `pub struct StructName { pub rid: u64, pub field: Type, ... }`, a `ClientFrame`
/// variant tagged `"wire_name"`, and from the fields alone: `rid()`, `NAMES` and `ordinal()`
/// in declaration order, `check_range()` over every field ([`InRange`], in field order) and
/// `room()` (the field named `room`, a `RoomId` or `Option<RoomId>`; `None` without one).
macro_rules! client_frames {
    ($(
        $(#[$doc:meta])*
        $name:literal => $variant:ident {
            $( $(#[$fattr:meta])* $field:ident : $fty:ty ),* $(,)?
        }
    ),* $(,)?) => {
        /// A command from a client. `type` names the variant.
        #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
        #[serde(tag = "type")]
        pub enum ClientFrame {
            $( #[serde(rename = $name)] $variant($variant), )*
        }

        $(
            $(#[$doc])*
            #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
            pub struct $variant {
                pub rid: u64,
                $( $(#[$fattr])* pub $field: $fty, )*
            }
        )*

        /// The commands in declaration order: `ClientFrame::ordinal`.
        enum Ordinal { $($variant),* }

        impl ClientFrame {
            /// Every command's `type`, in [`ClientFrame::ordinal`] order (metric labels).
            pub const NAMES: [&'static str; [$($name),*].len()] = [$($name),*];

            /// This command's index in [`ClientFrame::NAMES`].
            pub fn ordinal(&self) -> usize {
                match self {
                    $( ClientFrame::$variant(_) => Ordinal::$variant as usize, )*
                }
            }

            /// This command's `type`.
            pub fn name(&self) -> &'static str {
                Self::NAMES[self.ordinal()]
            }

            /// The request id this command carries.
            pub fn rid(&self) -> u64 {
                match self {
                    $( ClientFrame::$variant(c) => c.rid, )*
                }
            }

            /// The room this command addresses (its field named `room`), if any: a
            /// connection runs its commands for one room one at a time, in arrival order.
            pub fn room(&self) -> Option<RoomId> {
                match self {
                    $( ClientFrame::$variant(_c) => {
                        let room: Option<RoomId> = None;
                        $( let room = room.or(room_field!($field, _c)); )*
                        room
                    } )*
                }
            }

            /// Refuses ids and positions no store can hold (above `i64::MAX`), before they
            /// reach one (see [`InRange`]), checking the fields in order.
            pub fn check_range(&self) -> Result<(), ErrorCode> {
                match self {
                    $( ClientFrame::$variant(_c) => {
                        $( InRange::check(&_c.$field)?; )*
                        Ok(())
                    } )*
                }
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::super::ClientFrame;
    use crate::{Codec, ErrorCode, Position, RoomId};

    fn frame(json: &str) -> ClientFrame {
        Codec::Json.decode(json.as_bytes()).unwrap()
    }

    #[test]
    fn each_frame_s_tables_follow_from_its_declaration() {
        let join = frame(r#"{"type":"join","rid":3,"room":9,"resume":{"epoch":1,"seq":2}}"#);
        assert_eq!(
            (join.rid(), join.room(), join.name()),
            (3, Some(RoomId(9)), "join")
        );
        let search = frame(r#"{"type":"search","rid":4,"query":"q","limit":5}"#);
        assert_eq!((search.room(), search.name()), (None, "search"));
        let search = frame(r#"{"type":"search","rid":4,"query":"q","room":8,"limit":5}"#);
        assert_eq!(search.room(), Some(RoomId(8)));
        let kick = frame(r#"{"type":"kick","rid":1,"room":2,"user":3}"#);
        assert_eq!(
            kick.room(),
            Some(RoomId(2)),
            "kick keeps its place among the room's commands"
        );
        assert_eq!(frame(r#"{"type":"ping","rid":6}"#).room(), None);
        // Names are the wire names, unique, and `ordinal` indexes them.
        for (i, name) in ClientFrame::NAMES.iter().enumerate() {
            assert_eq!(ClientFrame::NAMES.iter().position(|n| n == name), Some(i));
        }
        let encoded = String::from_utf8(Codec::Json.encode(&kick).unwrap().to_vec()).unwrap();
        assert!(
            encoded.contains(&format!(r#""type":"{}""#, kick.name())),
            "{encoded}"
        );
    }

    #[test]
    fn every_id_and_position_field_is_range_checked() {
        let huge = 1u64 << 63;
        let cases = [
            (
                format!(r#"{{"type":"join","rid":1,"room":{huge}}}"#),
                ErrorCode::NotFound,
            ),
            (
                format!(
                    r#"{{"type":"join","rid":1,"room":1,"resume":{{"epoch":{huge},"seq":1}}}}"#
                ),
                ErrorCode::InvalidArgument,
            ),
            (
                format!(r#"{{"type":"invite","rid":1,"room":1,"user":{huge}}}"#),
                ErrorCode::NotFound,
            ),
            (
                format!(
                    r#"{{"type":"send","rid":1,"room":1,"cmid":"c","text":"t","attachments":[1,{huge}]}}"#
                ),
                ErrorCode::NotFound,
            ),
            (
                format!(r#"{{"type":"search","rid":1,"query":"q","room":{huge},"limit":1}}"#),
                ErrorCode::NotFound,
            ),
            (
                format!(r#"{{"type":"presence_query","rid":1,"users":[2,{huge}]}}"#),
                ErrorCode::NotFound,
            ),
            (
                format!(
                    r#"{{"type":"mark_read","rid":1,"room":1,"pos":{{"epoch":1,"seq":{huge}}}}}"#
                ),
                ErrorCode::InvalidArgument,
            ),
        ];
        for (json, code) in cases {
            assert_eq!(frame(&json).check_range(), Err(code), "{json}");
        }
        let fine = frame(r#"{"type":"mark_read","rid":1,"room":1,"pos":{"epoch":1,"seq":2}}"#);
        assert_eq!(fine.check_range(), Ok(()));
        assert!(Position::new(1, 2).in_range());
    }
}
