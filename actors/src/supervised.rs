//! Long-lived tasks, owned and watched (STYLE habit 17). Every task that outlives a request (the
//! cluster inbox, the ring follower, the forwarders, the listener, ...) is started through the
//! node's [`Supervisor`], with a [`Policy`] that says what its death costs:
//!
//! - [`Policy::Restart`]: the task is rebuilt from its factory after a panic or an unexpected
//!   end, with a WARN line and `switchboard_task_restarts_total` each time, at most `limit` times
//!   within `window`; one more failure within the window fails the node.
//! - [`Policy::FailNode`]: its death fails the node.
//!
//! A failed node logs ERROR, counts `switchboard_task_deaths_total`, and [`Supervisor::failed`]
//! names the task from then on, so `/readyz` answers 503 and the node is taken out of service
//! instead of running on without, say, hearing the other nodes.
//!
//! A task's factory makes one run of it, at the start and for every restart, and returns `None`
//! once the task has nothing left to do (its owner is gone or closed it). A run that ends then
//! has finished, quietly; so has any run that ends after [`Supervisor::begin_shutdown`]. A panic
//! is logged whenever it happens. (After a run ends, the factory is asked whether there is work
//! left: for a `FailNode` task the run it then makes is dropped unpolled.)
//!
//! A run is polled by the supervising task itself, never spawned apart from it, so aborting that
//! task at shutdown drops the run with it.

use std::any::Any;
use std::collections::VecDeque;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use futures::FutureExt;
use tokio::task::{AbortHandle, JoinHandle};
use tokio::time::Instant;

use crate::metrics as names;

/// The long-lived tasks of a node. The name is the `task` label of the task metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Task {
    /// Reads this node's cluster inbox (`ClusterLink`).
    ClusterInbox,
    /// Applies ring changes: rooms moving away, nodes leaving (`ClusterLink`).
    RingFollower,
    /// Answers `busy` to forwarded commands whose reply is overdue (`ClusterLink`).
    AwaitedExpiry,
    /// Publishes the queue of envelopes for one other node (`Forwarder`, one per peer).
    Forwarder,
    /// The `ClusterView` actor: this node's lease and its ring.
    ClusterView,
    /// The accept loop (`bins::listener`).
    Listener,
    /// The dashboard reporter (`bins::dashboard`).
    Dashboard,
    /// Pushes rate-limit counts to Redis and reads the cluster's totals back.
    ThrottleSync,
    /// Watches the write-behind's lanes: one that stops outside shutdown fails the node.
    WriteBehind,
    /// Deletes uploads never attached to a message (`bins::media`).
    MediaSweep,
    /// Checks the Cognito users connected here for revocation, and reads the other nodes'
    /// revocations (`bins::cognito::revoke`).
    RevocationCheck,
}

impl Task {
    pub const ALL: [Task; 11] = [
        Task::ClusterInbox,
        Task::RingFollower,
        Task::AwaitedExpiry,
        Task::Forwarder,
        Task::ClusterView,
        Task::Listener,
        Task::Dashboard,
        Task::ThrottleSync,
        Task::WriteBehind,
        Task::MediaSweep,
        Task::RevocationCheck,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Task::ClusterInbox => "cluster_inbox",
            Task::RingFollower => "ring_follower",
            Task::AwaitedExpiry => "awaited_expiry",
            Task::Forwarder => "forwarder",
            Task::ClusterView => "cluster_view",
            Task::Listener => "listener",
            Task::Dashboard => "dashboard",
            Task::ThrottleSync => "throttle_sync",
            Task::WriteBehind => "write_behind",
            Task::MediaSweep => "media_sweep",
            Task::RevocationCheck => "revocation_check",
        }
    }
}

/// What a task's failure (a panic, or an end while its factory still has work for it) costs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    /// Rebuilt from its factory, at most `limit` times within `window`; one failure more
    /// within the window fails the node.
    Restart { limit: u32, window: Duration },
    /// The node fails.
    FailNode,
}

impl Policy {
    /// Five restarts a minute: a task that fails more often has a cause a restart does not cure.
    pub const RESTART: Policy = Policy::Restart {
        limit: 5,
        window: Duration::from_secs(60),
    };
}

/// Pause before a restart, so a task that fails at once does not spin through its budget.
pub const RESTART_DELAY: Duration = Duration::from_millis(100);

/// A node's long-lived tasks and its health. Clones share them.
#[derive(Clone, Default)]
pub struct Supervisor {
    inner: Arc<Inner>,
}

struct Inner {
    /// The first task whose death failed the node.
    failed: OnceLock<Task>,
    stopping: AtomicBool,
    /// The supervising tasks, to abort at shutdown; `None` once aborted. Finished ones are
    /// dropped at each spawn. Guards pushes and retains only, never an `.await`.
    tasks: Mutex<Option<Vec<AbortHandle>>>,
}

impl Default for Inner {
    fn default() -> Self {
        Inner {
            failed: OnceLock::new(),
            stopping: AtomicBool::new(false),
            tasks: Mutex::new(Some(Vec::new())),
        }
    }
}

/// One supervised task. Dropping the handle leaves the task running, watched as before.
pub struct Supervised {
    handle: JoinHandle<()>,
}

impl Supervised {
    /// Ends the task now, quietly.
    pub fn stop(&self) {
        self.handle.abort();
    }

    /// Waits until the task has ended: its work done, stopped, or failed.
    pub async fn ended(&mut self) {
        let _ = (&mut self.handle).await;
    }
}

impl Supervisor {
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts `task`: runs what `factory` makes, under `policy` (see the module docs).
    pub fn spawn<F, Fut>(&self, task: Task, policy: Policy, factory: F) -> Supervised
    where
        F: FnMut() -> Option<Fut> + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let handle = tokio::spawn(supervise(self.inner.clone(), task, policy, factory));
        let mut tasks = self.inner.tasks.lock().unwrap_or_else(|p| p.into_inner());
        match tasks.as_mut() {
            Some(running) => {
                running.retain(|t| !t.is_finished());
                running.push(handle.abort_handle());
            }
            // Started after the shutdown ended the others: it would outlive the node.
            None => handle.abort(),
        }
        Supervised { handle }
    }

    /// The task whose death failed the node; `None` while the node is healthy.
    pub fn failed(&self) -> Option<Task> {
        self.inner.failed.get().copied()
    }

    /// The node is shutting down: from now on a task that ends has not failed (what it
    /// served is going away). Tasks go on running until [`Self::finish_shutdown`].
    pub fn begin_shutdown(&self) {
        self.inner.stopping.store(true, Ordering::Relaxed);
    }

    /// Ends every task still running, quietly; a task started later ends at once.
    pub fn finish_shutdown(&self) {
        self.begin_shutdown();
        let tasks = self
            .inner
            .tasks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        for task in tasks.into_iter().flatten() {
            task.abort();
        }
    }
}

async fn supervise<F, Fut>(inner: Arc<Inner>, task: Task, policy: Policy, mut factory: F)
where
    F: FnMut() -> Option<Fut>,
    Fut: Future<Output = ()>,
{
    let name = task.name();
    let mut restarts: VecDeque<Instant> = VecDeque::new();
    let Some(mut run) = factory() else { return };
    loop {
        let outcome = AssertUnwindSafe(run).catch_unwind().await;
        let stopping = inner.stopping.load(Ordering::Relaxed);
        let next = if stopping { None } else { factory() };
        let failure = match outcome {
            Err(panic) => format!("panicked: {}", panic_message(&*panic)),
            Ok(()) if next.is_none() => return,
            Ok(()) => "ended unexpectedly".to_owned(),
        };
        let Some(next) = next else {
            // Its work was over anyway: nothing to restart, nothing lost.
            tracing::warn!(task = name, "task {failure}; its work was over");
            return;
        };
        let Policy::Restart { limit, window } = policy else {
            inner.fail(task, &failure);
            return;
        };
        let now = Instant::now();
        while restarts
            .front()
            .is_some_and(|t| now.duration_since(*t) >= window)
        {
            restarts.pop_front();
        }
        if restarts.len() >= limit as usize {
            inner.fail(
                task,
                &format!("{failure}, after {limit} restarts within {window:?}"),
            );
            return;
        }
        restarts.push_back(now);
        metrics::counter!(names::TASK_RESTARTS, "task" => name).increment(1);
        tracing::warn!(
            task = name,
            restarts = restarts.len(),
            "task {failure}; restarting"
        );
        tokio::time::sleep(RESTART_DELAY).await;
        run = next;
    }
}

impl Inner {
    fn fail(&self, task: Task, failure: &str) {
        metrics::counter!(names::TASK_DEATHS, "task" => task.name()).increment(1);
        // The first failure names the node's; later ones are logged all the same.
        let _ = self.failed.set(task);
        tracing::error!(
            task = task.name(),
            "task {failure}; the node has failed (/readyz answers 503)"
        );
    }
}

/// The text of a panic: what `panic!` was given, when it was a string.
fn panic_message(panic: &(dyn Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(not a string)")
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicU32;

    use tokio::sync::mpsc;

    use super::*;

    /// Waits (in paused time, so at once) until `sup` names a failed task.
    async fn failure(sup: &Supervisor) -> Task {
        for _ in 0..1000 {
            if let Some(task) = sup.failed() {
                return task;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the node did not fail");
    }

    /// `f`, or a panic once a minute of (paused) time has passed without it.
    async fn soon<T>(f: impl Future<Output = T>) -> T {
        tokio::time::timeout(Duration::from_secs(60), f)
            .await
            .expect("within a minute")
    }

    #[test]
    fn task_names_are_the_catalogue_s() {
        assert_eq!(Task::ALL.map(Task::name).as_slice(), names::TASKS);
        for (i, task) in Task::ALL.iter().enumerate() {
            assert_eq!(*task as usize, i, "ALL is in declaration order");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_panicking_restart_task_is_rebuilt_and_the_node_stays_healthy() {
        let sup = Supervisor::new();
        let runs = Arc::new(AtomicU32::new(0));
        let (tx, mut rx) = mpsc::unbounded_channel();
        let counted = runs.clone();
        let _task = sup.spawn(Task::ClusterInbox, Policy::RESTART, move || {
            let run = counted.fetch_add(1, Ordering::Relaxed);
            let tx = tx.clone();
            Some(async move {
                assert!(run > 0, "the first run panics");
                tx.send(run).unwrap();
                std::future::pending::<()>().await;
            })
        });
        assert_eq!(soon(rx.recv()).await, Some(1), "the second run started");
        assert_eq!(runs.load(Ordering::Relaxed), 2);
        assert_eq!(sup.failed(), None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_restart_task_failing_past_its_budget_fails_the_node() {
        let sup = Supervisor::new();
        let runs = Arc::new(AtomicU32::new(0));
        let counted = runs.clone();
        let policy = Policy::Restart {
            limit: 3,
            window: Duration::from_secs(60),
        };
        let _task = sup.spawn(Task::Forwarder, policy, move || {
            counted.fetch_add(1, Ordering::Relaxed);
            Some(async {})
        });
        assert_eq!(failure(&sup).await, Task::Forwarder);
        // The first run, three restarts, and the run made to ask whether work was left.
        assert_eq!(runs.load(Ordering::Relaxed), 5);
    }

    #[tokio::test(start_paused = true)]
    async fn restarts_older_than_the_window_are_forgiven() {
        let sup = Supervisor::new();
        let policy = Policy::Restart {
            limit: 1,
            window: Duration::from_secs(1),
        };
        let (tx, mut rx) = mpsc::unbounded_channel::<()>();
        let mut task = sup.spawn(Task::AwaitedExpiry, policy, move || {
            let tx = tx.clone();
            // Fails every 2 s: never twice within a window of 1 s.
            Some(async move {
                tokio::time::sleep(Duration::from_secs(2)).await;
                tx.send(()).unwrap();
                panic!("fails again");
            })
        });
        for _ in 0..5 {
            soon(rx.recv()).await.unwrap();
        }
        assert_eq!(sup.failed(), None);
        task.stop();
        soon(task.ended()).await;
    }

    #[tokio::test(start_paused = true)]
    async fn a_fail_node_task_that_dies_fails_the_node() {
        let sup = Supervisor::new();
        let _task = sup.spawn(Task::RingFollower, Policy::FailNode, || {
            Some(async { panic!("ring follower bug") })
        });
        assert_eq!(failure(&sup).await, Task::RingFollower);

        // An end without a panic fails it just the same.
        let sup = Supervisor::new();
        let _task = sup.spawn(Task::ClusterView, Policy::FailNode, || Some(async {}));
        assert_eq!(failure(&sup).await, Task::ClusterView);
    }

    #[tokio::test(start_paused = true)]
    async fn a_task_whose_work_is_over_ends_quietly() {
        let sup = Supervisor::new();
        let owner = Arc::new(());
        let weak = Arc::downgrade(&owner);
        let mut task = sup.spawn(Task::RingFollower, Policy::FailNode, move || {
            let weak = weak.clone();
            (weak.strong_count() > 0).then_some(async move {
                while weak.strong_count() > 0 {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            })
        });
        drop(owner);
        soon(task.ended()).await;
        assert_eq!(sup.failed(), None);
    }

    #[tokio::test(start_paused = true)]
    async fn at_shutdown_tasks_end_quietly() {
        let sup = Supervisor::new();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let mut stopped = Some(stopped);
        // Ends when told to, as the ring follower does when the view leaves the cluster.
        let mut told = sup.spawn(Task::RingFollower, Policy::FailNode, move || {
            let stopped = stopped.take();
            Some(async move {
                if let Some(rx) = stopped {
                    let _ = rx.await;
                }
            })
        });
        let mut forever = sup.spawn(Task::Dashboard, Policy::FailNode, || {
            Some(std::future::pending())
        });
        sup.begin_shutdown();
        stop.send(()).unwrap();
        soon(told.ended()).await;
        sup.finish_shutdown();
        soon(forever.ended()).await;
        let mut late = sup.spawn(Task::Listener, Policy::FailNode, || {
            Some(std::future::pending())
        });
        soon(late.ended()).await;
        assert_eq!(sup.failed(), None);
    }
}
