//! `Throttle`: counts events per subject (a user, a sign-in name, a source address, a name
//! from one address) over a
//! sliding window and says when a subject is over its limit. Implementations side by side:
//! [`local::LocalThrottle`] (one node) and [`redis::RedisThrottle`] (cluster-wide: counts
//! locally, pushes them to Redis in the background every `sync` interval, and refuses once the
//! cluster-wide count as last synced plus this node's newer events is over the limit). No
//! event waits on Redis: `hit` is a map lookup under a short lock.

pub mod local;
pub mod redis;

pub use local::LocalThrottle;
pub use redis::RedisThrottle;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// What is counted; each class has its own limit and its own bounded table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Class {
    /// Frames a user's connections send, on every node, malformed ones included.
    Commands = 0,
    /// Conversations a user opens with others and users a user adds to rooms.
    Introductions = 1,
    /// Sign-in attempts for one account name, from every address.
    SignInName = 2,
    /// Sign-in attempts from one source address, for every name.
    SignInAddr = 3,
    /// Sign-in attempts for one account name from one source address.
    SignInNameAddr = 4,
    /// Searches a user makes for other users by name (`find_users`).
    UserSearches = 5,
}

const CLASSES: usize = 6;

impl Class {
    const ALL: [Class; CLASSES] = [
        Class::Commands,
        Class::Introductions,
        Class::SignInName,
        Class::SignInAddr,
        Class::SignInNameAddr,
        Class::UserSearches,
    ];

    fn label(self) -> &'static str {
        match self {
            Class::Commands => "cmd",
            Class::Introductions => "intro",
            Class::SignInName => "name",
            Class::SignInAddr => "addr",
            Class::SignInNameAddr => "pair",
            Class::UserSearches => "find",
        }
    }
}

/// Whose events.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Subject {
    User(u64),
    /// An account name, lower-cased (names are unique ignoring case).
    Name(String),
    Addr(IpAddr),
    /// An account name (as in [`Subject::Name`]) tried from one source address.
    NameAt(String, IpAddr),
}

impl Subject {
    /// An account name as a subject: lower-cased, and cut to 64 characters so an oversized
    /// name costs no more memory (no real name is that long).
    pub fn name(name: &str) -> Self {
        Subject::Name(Self::key_of(name))
    }

    /// An account name tried from `addr`, the name as for [`Subject::name`].
    pub fn name_at(name: &str, addr: IpAddr) -> Self {
        Subject::NameAt(Self::key_of(name), addr)
    }

    fn key_of(name: &str) -> String {
        name.chars().take(64).collect::<String>().to_lowercase()
    }
}

impl std::fmt::Display for Subject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Subject::User(id) => write!(f, "u{id}"),
            Subject::Name(name) => write!(f, "n{name}"),
            Subject::Addr(addr) => write!(f, "a{addr}"),
            // An address holds no '/', so the first one ends it.
            Subject::NameAt(name, addr) => write!(f, "p{addr}/{name}"),
        }
    }
}

/// At most `max` events per `window`, counted as a sliding window (the previous window's
/// count weighted by how much of it still overlaps, plus the current one's).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rule {
    pub max: u32,
    pub window: Duration,
}

/// One rule per class, and how many subjects each class tracks at most.
#[derive(Clone, Copy, Debug)]
pub struct Rules {
    pub commands: Rule,
    pub introductions: Rule,
    pub sign_in_name: Rule,
    pub sign_in_addr: Rule,
    pub sign_in_name_addr: Rule,
    pub user_searches: Rule,
    /// Subjects tracked per class. When a class's table is full of subjects active within
    /// their window, events of new subjects are refused (fail closed) until some lapse: a
    /// flood of distinct names or addresses cannot grow memory, nor reset anyone's count.
    pub max_subjects: usize,
}

impl Rules {
    fn get(&self, class: Class) -> Rule {
        match class {
            Class::Commands => self.commands,
            Class::Introductions => self.introductions,
            Class::SignInName => self.sign_in_name,
            Class::SignInAddr => self.sign_in_addr,
            Class::SignInNameAddr => self.sign_in_name_addr,
            Class::UserSearches => self.user_searches,
        }
    }
}

/// The counting component. `hit` is called on hot paths (every frame): it must not block
/// nor wait on the network.
pub trait Throttle: Send + Sync + 'static {
    /// Counts one event of `subject` (refused ones too, so a flood stays refused) and says
    /// whether it is within the class's limit.
    fn hit(&self, class: Class, subject: &Subject) -> bool;
}

/// One subject's counts.
#[derive(Clone, Copy, Debug, Default)]
struct Counter {
    /// Index of the current window (time since the table's start / window length).
    window: u64,
    /// Events in the previous window, cluster-wide as far as known.
    prev: u32,
    /// Events in the current window, cluster-wide as far as known (ours included at once).
    curr: u32,
    /// Our events of the current window not yet pushed to the cluster.
    pending: u32,
}

impl Counter {
    fn roll(&mut self, window: u64) {
        if window == self.window {
            return;
        }
        // The unpushed tail of a window stays counted here (in `prev`) but is not pushed:
        // other nodes may miss at most one sync interval of this node's events.
        self.prev = if window == self.window + 1 {
            self.curr
        } else {
            0
        };
        self.curr = 0;
        self.pending = 0;
        self.window = window;
    }

    /// The sliding-window estimate at `frac` (0..1) of the current window.
    fn estimate(&self, frac: f64) -> f64 {
        f64::from(self.prev) * (1.0 - frac) + f64::from(self.curr)
    }
}

/// The per-class tables both implementations count in. Each lock guards map operations
/// only, never an `.await`.
pub(crate) struct Table {
    rules: Rules,
    classes: [Mutex<ClassTable>; CLASSES],
}

#[derive(Default)]
struct ClassTable {
    counters: HashMap<Subject, Counter>,
    /// Window index of the last sweep of lapsed subjects, so a full table is swept at most
    /// once per window.
    swept: u64,
}

/// A subject's count to push to the cluster: `pending` events in `window`.
pub(crate) struct Push {
    pub class: Class,
    pub subject: Subject,
    pub window: u64,
    pub window_len: Duration,
    pub pending: u32,
}

impl Table {
    pub(crate) fn new(rules: Rules) -> Self {
        Table {
            rules,
            classes: Default::default(),
        }
    }

    /// The window index and the fraction of it gone, for `rule` now. Wall-clock time, so
    /// every node of a cluster numbers windows alike (clock skew only blurs their edges).
    fn clock(&self, rule: Rule) -> (u64, f64) {
        let len = rule.window.as_millis().max(1);
        let t = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        ((t / len) as u64, (t % len) as f64 / len as f64)
    }

    pub(crate) fn hit(&self, class: Class, subject: &Subject) -> bool {
        let rule = self.rules.get(class);
        let (window, frac) = self.clock(rule);
        let mut table = self.classes[class as usize]
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if !table.counters.contains_key(subject) {
            if table.counters.len() >= self.rules.max_subjects && table.swept < window {
                table.swept = window;
                table.counters.retain(|_, c| c.window + 1 >= window);
            }
            if table.counters.len() >= self.rules.max_subjects {
                return false;
            }
        }
        let counter = table.counters.entry(subject.clone()).or_insert(Counter {
            window,
            ..Counter::default()
        });
        counter.roll(window);
        let within = counter.estimate(frac) < f64::from(rule.max);
        counter.curr = counter.curr.saturating_add(1);
        counter.pending = counter.pending.saturating_add(1);
        within
    }

    /// Takes every count not yet pushed, and forgets subjects idle for two windows.
    pub(crate) fn take_pending(&self) -> Vec<Push> {
        let mut out = Vec::new();
        for class in Class::ALL {
            let rule = self.rules.get(class);
            let (window, _) = self.clock(rule);
            let mut table = self.classes[class as usize]
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            table.counters.retain(|_, c| c.window + 1 >= window);
            for (subject, c) in table.counters.iter_mut() {
                if c.pending > 0 && c.window == window {
                    out.push(Push {
                        class,
                        subject: subject.clone(),
                        window,
                        window_len: rule.window,
                        pending: std::mem::take(&mut c.pending),
                    });
                }
            }
        }
        out
    }

    /// Records the cluster-wide count of a pushed window, or gives the push back to retry.
    pub(crate) fn settle(&self, push: Push, total: Option<u32>) {
        let mut table = self.classes[push.class as usize]
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let Some(c) = table.counters.get_mut(&push.subject) else {
            return;
        };
        match total {
            // Events of ours that came after the push are counted in `pending` still.
            Some(total) if c.window == push.window => {
                c.curr = c.curr.max(total.saturating_add(c.pending));
            }
            Some(total) if c.window == push.window + 1 => c.prev = c.prev.max(total),
            Some(_) => {}
            None if c.window == push.window => c.pending = c.pending.saturating_add(push.pending),
            None => {}
        }
    }
}

/// Shared cases every implementation must pass. `rules` given to the throttle under test must
/// be [`conformance::rules`]; `peer`, when given, is a second node of the same cluster.
#[cfg(feature = "testing")]
pub mod conformance {
    use std::time::Duration;

    use super::{Class, Rule, Rules, Subject, Throttle};

    pub fn rules() -> Rules {
        let rule = |max| Rule {
            max,
            window: Duration::from_secs(30),
        };
        Rules {
            commands: rule(10),
            introductions: rule(3),
            sign_in_name: rule(5),
            sign_in_addr: rule(5),
            sign_in_name_addr: rule(5),
            user_searches: rule(5),
            max_subjects: 8,
        }
    }

    pub async fn run_all(t: &dyn Throttle, peer: Option<&dyn Throttle>, settle: Duration) {
        // Keep clear of a window's edge, where counts roll over.
        let window = rules().commands.window.as_millis();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis();
        let left = window - now % window;
        if left < 5_000 {
            tokio::time::sleep(Duration::from_millis(left as u64 + 10)).await;
        }
        let alice = Subject::User(1);
        let allowed = (0..15).filter(|_| t.hit(Class::Commands, &alice)).count();
        assert_eq!(allowed, 10, "the limit holds within the window");
        assert!(!t.hit(Class::Commands, &alice), "refused ones count too");
        // Classes and subjects are counted apart.
        assert!(t.hit(Class::Commands, &Subject::User(2)));
        assert!(t.hit(Class::Introductions, &alice));
        let name = Subject::name("Bob");
        for _ in 0..5 {
            assert!(t.hit(Class::SignInName, &name));
        }
        assert!(
            !t.hit(Class::SignInName, &Subject::name("BOB")),
            "names ignore case"
        );
        // A name from one address is counted apart from the name, and from other addresses.
        let here = std::net::IpAddr::from([10, 0, 2, 1]);
        for _ in 0..5 {
            assert!(t.hit(Class::SignInNameAddr, &Subject::name_at("Bob", here)));
        }
        assert!(
            !t.hit(Class::SignInNameAddr, &Subject::name_at("BOB", here)),
            "names ignore case from one address too"
        );
        let there = std::net::IpAddr::from([10, 0, 2, 2]);
        assert!(t.hit(Class::SignInNameAddr, &Subject::name_at("bob", there)));
        // A full table refuses new subjects rather than forgetting active ones.
        let addrs: Vec<Subject> = (0..8)
            .map(|i| Subject::Addr(std::net::IpAddr::from([10, 0, 0, i])))
            .collect();
        for a in &addrs {
            assert!(t.hit(Class::SignInAddr, a));
        }
        let stranger = Subject::Addr(std::net::IpAddr::from([10, 0, 1, 1]));
        assert!(
            !t.hit(Class::SignInAddr, &stranger),
            "a full table fails closed"
        );
        assert!(
            t.hit(Class::SignInAddr, &addrs[0]),
            "known subjects still count"
        );

        let Some(peer) = peer else { return };
        // Another node shares the counts: each learns the cluster-wide total when it pushes
        // its own events, one sync interval after them.
        let carol = Subject::User(3);
        for _ in 0..6 {
            assert!(t.hit(Class::Commands, &carol));
        }
        tokio::time::sleep(settle).await;
        assert!(peer.hit(Class::Commands, &carol), "7 of 10");
        tokio::time::sleep(settle).await;
        let there = (0..6).filter(|_| peer.hit(Class::Commands, &carol)).count();
        assert_eq!(there, 3, "the peer counts this node's events");
        tokio::time::sleep(settle).await;
        // This node learns the peer's events when it next pushes its own.
        assert!(t.hit(Class::Commands, &carol), "not yet synced here");
        tokio::time::sleep(settle).await;
        assert!(!t.hit(Class::Commands, &carol), "and this node the peer's");
    }
}
