//! A message's attachments as both stores keep them (migration 6): one nullable text column,
//! `messages.attachments`, holding their metadata as a JSON array, NULL when there are none.
//! A column of the message rather than a table of its own: the metadata never changes once a
//! message has it (a delete only empties it) and is read with the message every time, so history and search stay
//! single-table reads, and a message without attachments stores nothing more than before.

use switchboard_engine::domain::Attachment;

use super::StoreError;

/// The column's value for these attachments: NULL for none.
pub(super) fn encode(attachments: &[Attachment]) -> Option<String> {
    if attachments.is_empty() {
        return None;
    }
    // Serialising plain strings and integers to JSON cannot fail.
    serde_json::to_string(attachments).ok()
}

/// The attachments a column value holds; a value that is not what `encode` writes is a
/// backend error (never dropped silently).
pub(super) fn decode(column: Option<&str>) -> Result<Vec<Attachment>, serde_json::Error> {
    match column {
        None => Ok(Vec::new()),
        Some(json) => serde_json::from_str(json),
    }
}

/// `decode`'s failure as the store reports it.
pub(super) fn corrupt(e: serde_json::Error) -> StoreError {
    StoreError::Backend(format!("stored attachments unreadable: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_engine::AttachmentId;

    #[test]
    fn attachments_round_trip_and_none_is_null() {
        assert_eq!(encode(&[]), None);
        assert_eq!(decode(None).unwrap(), Vec::new());
        let a = vec![Attachment {
            id: AttachmentId(i64::MAX as u64),
            name: "cät \"1\".png".into(),
            content_type: "image/png".into(),
            size: 7,
            thumbnail: true,
        }];
        let column = encode(&a);
        assert_eq!(decode(column.as_deref()).unwrap(), a);
        assert!(decode(Some("{not json")).is_err());
    }
}
