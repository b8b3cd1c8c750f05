//! `@name` mentions in a message's text (PROTOCOL §6.8): the names a sender wrote, found the
//! same way by every node and client. A name is what account names are made of (letters,
//! digits, `_`, `-`, `.`), after an `@` at the start of the text or after a character that
//! cannot be part of a name (so `ann@example.com` mentions nobody); a final `.` is the
//! sentence's, not the name's.

/// The most users one message mentions: names past this many are left as plain text.
pub const MAX_MENTIONS: usize = 20;

/// The longest name a mention can carry (account names are 1 to 32 characters).
const MAX_NAME: usize = 32;

fn name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')
}

/// The distinct names mentioned in `text`, lowercased (names compare ignoring case), in order
/// of first mention, at most [`MAX_MENTIONS`].
pub fn mentioned_names(text: &str) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    let mut after_name_char = false;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c != '@' || after_name_char {
            after_name_char = name_char(c);
            continue;
        }
        let start = i + 1;
        let mut end = start;
        while let Some(&(j, d)) = chars.peek() {
            if !name_char(d) {
                break;
            }
            end = j + d.len_utf8();
            chars.next();
        }
        after_name_char = end > start;
        let name = text[start..end].trim_end_matches('.');
        if name.is_empty() || name.len() > MAX_NAME {
            continue;
        }
        let name = name.to_ascii_lowercase();
        if !names.contains(&name) {
            names.push(name);
            if names.len() == MAX_MENTIONS {
                break;
            }
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn names_after_an_at_sign_that_starts_a_word() {
        assert_eq!(mentioned_names("@ann hi"), ["ann"]);
        assert_eq!(mentioned_names("hi @Bob_2, and @ann."), ["bob_2", "ann"]);
        assert_eq!(mentioned_names("(@cy) @cy @CY"), ["cy"]);
        assert_eq!(
            mentioned_names("mail ann@example.com"),
            Vec::<String>::new()
        );
        assert_eq!(mentioned_names("@ @. @"), Vec::<String>::new());
        assert_eq!(mentioned_names("@@ann"), ["ann"]);
        assert_eq!(
            mentioned_names("é@ann"),
            ["ann"],
            "é is not a name character"
        );
        assert_eq!(mentioned_names("@j.r.r."), ["j.r.r"]);
        let long = format!("@{}", "a".repeat(33));
        assert!(mentioned_names(&long).is_empty());
    }

    #[test]
    fn at_most_twenty_names() {
        let text: String = (0..30).map(|i| format!("@u{i} ")).collect();
        let names = mentioned_names(&text);
        assert_eq!(names.len(), MAX_MENTIONS);
        assert_eq!(names[19], "u19");
    }

    proptest! {
        /// Any text: no panic, at most the bound, every name well formed and distinct.
        #[test]
        fn any_text_gives_well_formed_names(text in ".{0,200}") {
            let names = mentioned_names(&text);
            prop_assert!(names.len() <= MAX_MENTIONS);
            for (i, n) in names.iter().enumerate() {
                prop_assert!(!n.is_empty() && n.len() <= MAX_NAME);
                prop_assert!(n.chars().all(name_char) && !n.ends_with('.'));
                prop_assert!(!names[..i].contains(n));
            }
        }
    }
}
