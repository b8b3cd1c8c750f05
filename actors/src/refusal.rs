//! Refusals logged at a bounded rate. A refusal is the node saying no to a client: a failed
//! sign-in, a rate-limited command, a slow consumer cut off, a connection over the cap, ... An
//! operator needs to see each class and its volume, but a hostile or broken client must not be
//! able to flood the log: each class writes at most one line per [`WINDOW`], and that line
//! carries how many refusals of its class were not written since the previous one.
//!
//! Calling [`note`] costs two relaxed atomic operations when the line is suppressed, and its
//! detail is formatted only when the line is written, so it may sit on the hot path.
//!
//! To add a class: add a variant to [`Refusal`] and to [`Refusal::ALL`], and give it a name.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{LazyLock, OnceLock};
use std::time::{Duration, Instant};

use metrics::Counter;

/// At most one line per class in this window.
pub const WINDOW: Duration = Duration::from_secs(10);

/// What was refused. The name is the `class` field of the log line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// A wrong name or password, or an invalid or expired token (HTTP or WebSocket).
    AuthFailed,
    /// No successful `auth` within the auth timeout (close 4001).
    AuthTimeout,
    /// A command over the rate limit (error 4000).
    RateLimited,
    /// A connection cut off for not reading its events (close 4008).
    SlowConsumer,
    /// A WebSocket frame over `max_frame_bytes` (close 1009), or an HTTP body over its limit.
    Oversized,
    /// Malformed frames or requests: wrong frame type (1003), too many bad frames (4009), an
    /// HTTP request the API cannot parse.
    ProtocolError,
    /// A connection over `http.max_connections`, answered 503.
    ConnectionCap,
    /// An HTTP client too slow to send its request or read its response (timeouts).
    SlowHttp,
    /// `accept` failed (e.g. out of file descriptors); the listener backs off.
    AcceptFailed,
    /// A command over its connection's `commands_in_flight` (error 4001).
    CommandsPending,
    /// A store call failed: a command answered 5000, a readiness check, a presence recheck.
    StoreError,
    /// Not a refusal but a symptom: a signed-in client closed its connection within
    /// [`CHURN_WINDOW`] of opening it, as a client in a reconnect loop does.
    Churn,
}

/// A signed-in connection the client closes sooner than this counts as [`Refusal::Churn`].
pub const CHURN_WINDOW: Duration = Duration::from_secs(5);

impl Refusal {
    pub const ALL: [Refusal; 12] = [
        Refusal::AuthFailed,
        Refusal::AuthTimeout,
        Refusal::RateLimited,
        Refusal::SlowConsumer,
        Refusal::Oversized,
        Refusal::ProtocolError,
        Refusal::ConnectionCap,
        Refusal::SlowHttp,
        Refusal::AcceptFailed,
        Refusal::CommandsPending,
        Refusal::StoreError,
        Refusal::Churn,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Refusal::AuthFailed => "auth_failed",
            Refusal::AuthTimeout => "auth_timeout",
            Refusal::RateLimited => "rate_limited",
            Refusal::SlowConsumer => "slow_consumer",
            Refusal::Oversized => "oversized",
            Refusal::ProtocolError => "protocol_error",
            Refusal::ConnectionCap => "connection_cap",
            Refusal::SlowHttp => "slow_http",
            Refusal::AcceptFailed => "accept_failed",
            Refusal::CommandsPending => "commands_pending",
            Refusal::StoreError => "store_error",
            Refusal::Churn => "churn",
        }
    }
}

/// One class's window: when the next line may be written, and what was suppressed since.
struct Window {
    next_ms: AtomicU64,
    suppressed: AtomicU64,
}

impl Window {
    const fn new() -> Self {
        Window {
            next_ms: AtomicU64::new(0),
            suppressed: AtomicU64::new(0),
        }
    }

    /// `Some(suppressed since the last line)` when a line may be written at `now_ms`.
    fn admit(&self, now_ms: u64, window_ms: u64) -> Option<u64> {
        let next = self.next_ms.load(Ordering::Relaxed);
        // The exchange elects one writer when several threads reach the end of the window.
        if now_ms < next
            || self
                .next_ms
                .compare_exchange(
                    next,
                    now_ms + window_ms,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                )
                .is_err()
        {
            self.suppressed.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        Some(self.suppressed.swap(0, Ordering::Relaxed))
    }
}

static WINDOWS: [Window; Refusal::ALL.len()] = [const { Window::new() }; Refusal::ALL.len()];

fn now_ms() -> u64 {
    static BASE: OnceLock<Instant> = OnceLock::new();
    // Offset by one window so that the very first refusal of each class is written.
    BASE.get_or_init(Instant::now).elapsed().as_millis() as u64 + WINDOW.as_millis() as u64
}

/// Records one refusal (counted in `switchboard_refusals_total`); writes a line unless its
/// class already wrote one in this window: WARN, or INFO for a class that ordinary use causes
/// now and then ([`Refusal::is_ordinary`]).
/// `detail` says what happened, without secrets (never a password or a token).
pub fn note(class: Refusal, detail: fmt::Arguments<'_>) {
    static COUNTERS: LazyLock<[Counter; Refusal::ALL.len()]> = LazyLock::new(|| {
        Refusal::ALL.map(|r| metrics::counter!(crate::metrics::REFUSALS, "class" => r.name()))
    });
    COUNTERS[class as usize].increment(1);
    let window = &WINDOWS[class as usize];
    if let Some(suppressed) = window.admit(now_ms(), WINDOW.as_millis() as u64) {
        let what = if class == Refusal::Churn {
            "reconnect churn"
        } else {
            "refused"
        };
        if class.is_ordinary(suppressed) {
            tracing::info!(class = class.name(), suppressed, "{what}: {detail}");
        } else {
            tracing::warn!(class = class.name(), suppressed, "{what}: {detail}");
        }
    }
}

/// More of an ordinary class than this in one window is something to act on (WARN).
pub const ORDINARY_PER_WINDOW: u64 = 50;

impl Refusal {
    /// Whether a line of this class, with `suppressed` more in the window before, is ordinary
    /// use rather than something an operator should act on. A page reload closes a signed-in
    /// connection within seconds (churn), and browsers open connections they never use
    /// (Chromium's preconnect), which time out (slow HTTP): one of these is nothing, a flood
    /// of them is a client in a loop or an attack, and is a warning.
    fn is_ordinary(self, suppressed: u64) -> bool {
        matches!(self, Refusal::Churn | Refusal::SlowHttp) && suppressed < ORDINARY_PER_WINDOW
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_window_with_the_suppressed_count() {
        let w = Window::new();
        assert_eq!(w.admit(10_000, 10_000), Some(0));
        assert_eq!(w.admit(10_001, 10_000), None);
        assert_eq!(w.admit(19_999, 10_000), None);
        assert_eq!(w.admit(20_000, 10_000), Some(2));
        assert_eq!(w.admit(29_999, 10_000), None);
        assert_eq!(w.admit(40_000, 10_000), Some(1));
    }

    #[test]
    fn ordinary_use_is_not_a_warning_until_it_floods() {
        assert!(Refusal::Churn.is_ordinary(0));
        assert!(Refusal::SlowHttp.is_ordinary(ORDINARY_PER_WINDOW - 1));
        assert!(!Refusal::Churn.is_ordinary(ORDINARY_PER_WINDOW));
        assert!(!Refusal::AuthFailed.is_ordinary(0));
        assert!(!Refusal::SlowConsumer.is_ordinary(0));
    }

    #[test]
    fn every_class_has_its_own_window() {
        for (i, class) in Refusal::ALL.iter().enumerate() {
            assert_eq!(*class as usize, i, "ALL is in declaration order");
        }
        // Each class writes its first line: noting one never suppresses another.
        for class in Refusal::ALL {
            let w = &WINDOWS[class as usize];
            assert!(w.admit(u64::MAX / 2, 1).is_some(), "{}", class.name());
        }
    }
}
