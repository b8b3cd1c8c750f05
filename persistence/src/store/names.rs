//! Names for users first seen through an identity provider (`Store::external_user`). The
//! provider's name for a user may break Switchboard's name rules (PROTOCOL §3: 1 to 32 ASCII
//! letters, digits, `_`, `-`, `.`) or be taken already; these are the names tried instead.

use std::hash::{DefaultHasher, Hash, Hasher};

/// Longest user name, in bytes (the sign-up rule).
const MAX_NAME: usize = 32;

/// Names tried, in order, for a new user whom the provider calls `wanted`: the name made to fit
/// the rules, then the same with `-2` to `-9`, then with eight six-digit suffixes drawn from
/// `subject`. The subject is the provider's, so nobody can take those names ahead of a user
/// they do not know yet; a store that finds every one taken answers `Conflict`.
pub(crate) fn candidates(wanted: &str, subject: &str) -> Vec<String> {
    let base = fit(wanted);
    let mut names = vec![cut(&base, MAX_NAME).to_owned()];
    names.extend((2..=9).map(|n| format!("{}-{n}", cut(&base, MAX_NAME - 2))));
    names.extend((0..8u32).map(|i| {
        let mut hasher = DefaultHasher::new();
        (subject, i).hash(&mut hasher);
        let suffix = hasher.finish() % 1_000_000;
        format!("{}-{suffix:06}", cut(&base, MAX_NAME - 7))
    }));
    names
}

/// `wanted` with each character the rules do not allow replaced by `_`; `user` if empty.
fn fit(wanted: &str) -> String {
    let fitted: String = wanted
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if fitted.is_empty() {
        "user".to_owned()
    } else {
        fitted
    }
}

/// The first `max` bytes of an ASCII string.
fn cut(s: &str, max: usize) -> &str {
    &s[..s.len().min(max)]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid(name: &str) -> bool {
        (1..=MAX_NAME).contains(&name.len())
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
    }

    #[test]
    fn every_candidate_keeps_the_name_rules() {
        for wanted in ["alice", "", "émile@example.com", &"x".repeat(200), "a b/c"] {
            let names = candidates(wanted, "sub");
            assert_eq!(names.len(), 17);
            assert!(names.iter().all(|n| valid(n)), "{names:?}");
        }
        assert_eq!(candidates("alice", "s")[..2], ["alice", "alice-2"]);
        assert_eq!(candidates("bob@example.com", "s")[0], "bob_example.com");
        assert_eq!(candidates("", "s")[0], "user");
    }

    #[test]
    fn suffixes_differ_by_subject() {
        assert_ne!(candidates("a", "s1")[9..], candidates("a", "s2")[9..]);
        assert_eq!(candidates("a", "s1"), candidates("a", "s1"));
    }
}
