//! Protocol limits and the per-connection command rate limiter.

use std::time::Instant;

use serde::{Deserialize, Serialize};

/// Limits every connection is held to. Defaults suit a public chat service.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Largest WebSocket message accepted from a client; larger closes with 1009.
    pub max_frame_bytes: u32,
    /// After closing with 1009, most bytes of the oversized message (and what follows it)
    /// read and dropped while waiting for the client's close frame. A message that ends
    /// within this gets the full close handshake; past it the server stops reading and the
    /// socket may be reset. Bounds the work one oversized message costs.
    pub oversize_discard_bytes: u32,
    /// Largest message text in bytes (UTF-8).
    pub max_text_bytes: u32,
    /// Largest client message id in bytes.
    pub max_cmid_bytes: u32,
    /// Largest room name in bytes.
    pub max_room_name_bytes: u32,
    /// Most messages in one history page.
    pub max_history_page: u32,
    /// Longest search query in bytes.
    pub max_search_query_bytes: u32,
    /// Most users in one presence query, and most users one connection watches in all.
    pub max_presence_users: u32,
    /// Sustained commands per second per connection.
    pub commands_per_sec: u32,
    /// Commands a connection may send in a burst above the sustained rate.
    pub command_burst: u32,
    /// Frames per second one user may send over all its connections, on every node of a
    /// cluster (a sliding one-second window); beyond it frames are dropped with error 4000.
    pub user_commands_per_sec: u32,
    /// Conversations (`open_direct`) a user may open plus users it may add to rooms
    /// (`invite`), per minute, cluster-wide; beyond it error 4000.
    pub introductions_per_min: u32,
    /// Searches for users by name (`find_users`, `GET /api/users/search`) a user may make per
    /// minute, cluster-wide; beyond it error 4000. With at most 20 profiles a search, this
    /// bounds how fast one account can list the user table.
    pub user_searches_per_min: u32,
    /// How long after sending a message its sender may still edit it, in seconds (0: never).
    /// Deleting has no window.
    pub edit_window_secs: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_frame_bytes: 64 * 1024,
            oversize_discard_bytes: 1024 * 1024,
            max_text_bytes: 16 * 1024,
            max_cmid_bytes: 64,
            max_room_name_bytes: 128,
            max_history_page: 200,
            max_search_query_bytes: 256,
            max_presence_users: 200,
            commands_per_sec: 200,
            command_burst: 400,
            user_commands_per_sec: 400,
            introductions_per_min: 30,
            user_searches_per_min: 30,
            edit_window_secs: 48 * 3600,
        }
    }
}

/// A token bucket: `burst` tokens, refilled at `rate` per second.
#[derive(Clone, Debug)]
pub struct RateLimiter {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl RateLimiter {
    pub fn new(rate: u32, burst: u32, now: Instant) -> Self {
        RateLimiter {
            rate: f64::from(rate),
            burst: f64::from(burst.max(1)),
            tokens: f64::from(burst.max(1)),
            last: now,
        }
    }

    /// Takes one token if there is one.
    pub fn try_acquire(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn burst_then_sustained_rate() {
        let t0 = Instant::now();
        let mut rl = RateLimiter::new(10, 5, t0);
        assert_eq!((0..10).filter(|_| rl.try_acquire(t0)).count(), 5);
        // 0.5 s later, 5 more tokens.
        let t1 = t0 + Duration::from_millis(500);
        assert_eq!((0..10).filter(|_| rl.try_acquire(t1)).count(), 5);
        // Idle time never banks more than the burst.
        let t2 = t1 + Duration::from_secs(60);
        assert_eq!((0..100).filter(|_| rl.try_acquire(t2)).count(), 5);
    }
}
