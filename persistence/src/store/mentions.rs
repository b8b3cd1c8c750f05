//! A message's mentions as both stores keep them: the ids in one text column, `,2,5,` (NULL
//! for none), so "does it mention user 5" is one substring test (`,5,`) in either dialect.

use switchboard_engine::UserId;

/// The migration, the same in both stores (an entry of each `MIGRATIONS`).
pub(super) const MIGRATION: &str = "ALTER TABLE messages ADD COLUMN mentions TEXT;";

/// The column's value: `None` for no mention.
pub(super) fn encode(mentions: &[UserId]) -> Option<String> {
    if mentions.is_empty() {
        return None;
    }
    let mut s = String::from(",");
    for u in mentions {
        s.push_str(&u.0.to_string());
        s.push(',');
    }
    Some(s)
}

/// The ids back; a malformed entry is skipped (the column is only ever written by `encode`).
pub(super) fn decode(column: Option<&str>) -> Vec<UserId> {
    column
        .unwrap_or_default()
        .split(',')
        .filter_map(|id| id.parse().ok().map(UserId))
        .collect()
}

/// What a mention of `user` looks like in the column.
pub(super) fn needle(user: UserId) -> String {
    format!(",{},", user.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_match_only_whole_ids() {
        let ids = [UserId(2), UserId(25)];
        let column = encode(&ids).unwrap();
        assert_eq!(column, ",2,25,");
        assert_eq!(decode(Some(&column)), ids);
        assert!(column.contains(&needle(UserId(2))));
        assert!(!column.contains(&needle(UserId(5))), "5 is not 25");
        assert_eq!(encode(&[]), None);
        assert!(decode(None).is_empty());
    }
}
