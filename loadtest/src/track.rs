//! Delivery accounting on one receiving socket: each sender numbers its messages 1, 2, 3…, so
//! a receiver can tell a duplicate from a late (reordered) one. Missing deliveries are counted
//! by the coordinator, as expected minus unique deliveries.

/// What one arrival was.
#[derive(Debug, PartialEq, Eq)]
pub enum Arrival {
    InOrder,
    Duplicate,
    Reordered,
}

/// Gaps remembered per sender; beyond it the oldest are forgotten (a later fill of one then
/// counts as a duplicate, which a run this broken reports anyway).
const MAX_GAPS: usize = 64;

/// The messages of one sender seen on one socket.
#[derive(Default)]
pub struct SenderTrack {
    last: u64,
    /// Skipped sequence ranges `[from, to)` not seen yet.
    gaps: Vec<(u64, u64)>,
}

impl SenderTrack {
    pub fn arrive(&mut self, seq: u64) -> Arrival {
        if seq > self.last {
            if seq > self.last + 1 {
                if self.gaps.len() == MAX_GAPS {
                    self.gaps.remove(0);
                }
                self.gaps.push((self.last + 1, seq));
            }
            self.last = seq;
            return Arrival::InOrder;
        }
        let Some(i) = self.gaps.iter().position(|&(a, b)| (a..b).contains(&seq)) else {
            return Arrival::Duplicate;
        };
        let (a, b) = self.gaps[i];
        self.gaps.remove(i);
        if a < seq {
            self.gaps.push((a, seq));
        }
        if seq + 1 < b {
            self.gaps.push((seq + 1, b));
        }
        Arrival::Reordered
    }
}

/// The text a sender sends: `sender:seq:micros:` then padding to the message size.
pub fn message_text(sender: u32, seq: u64, micros: u64, bytes: usize) -> String {
    let mut text = format!("{sender}:{seq}:{micros}:");
    while text.len() < bytes {
        text.push('x');
    }
    text
}

/// `(sender, seq, micros)` from a message's text.
pub fn parse_text(text: &str) -> Option<(u32, u64, u64)> {
    let mut parts = text.splitn(4, ':');
    Some((
        parts.next()?.parse().ok()?,
        parts.next()?.parse().ok()?,
        parts.next()?.parse().ok()?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tells_duplicates_from_late_arrivals() {
        let mut t = SenderTrack::default();
        assert_eq!(t.arrive(1), Arrival::InOrder);
        assert_eq!(t.arrive(4), Arrival::InOrder);
        assert_eq!(t.arrive(3), Arrival::Reordered);
        assert_eq!(t.arrive(3), Arrival::Duplicate);
        assert_eq!(t.arrive(2), Arrival::Reordered);
        assert_eq!(t.arrive(4), Arrival::Duplicate);
        assert_eq!(t.arrive(5), Arrival::InOrder);
    }

    #[test]
    fn text_round_trips() {
        let text = message_text(7, 42, 1_700_000_000_000_000, 64);
        assert_eq!(text.len(), 64);
        assert_eq!(parse_text(&text), Some((7, 42, 1_700_000_000_000_000)));
    }
}
