//! Metric names emitted by the persistence layer, in one place.

/// Histogram: messages per committed write-behind batch.
pub const WRITE_BEHIND_BATCH_SIZE: &str = "switchboard_write_behind_batch_size";
/// Histogram: seconds to commit one write-behind batch.
pub const WRITE_BEHIND_COMMIT_SECONDS: &str = "switchboard_write_behind_commit_seconds";
/// Counter: failed batch commits (each is retried).
pub const WRITE_BEHIND_FAILURES: &str = "switchboard_write_behind_failures_total";
/// Counter: messages refused by the store because their room has a newer owner.
pub const WRITE_BEHIND_FENCED: &str = "switchboard_write_behind_fenced_total";
/// Counter: sends refused because the write-behind queue was full.
pub const WRITE_BEHIND_BUSY: &str = "switchboard_write_behind_busy_total";
/// Gauge: messages waiting in the write-behind queue.
pub const WRITE_BEHIND_QUEUED: &str = "switchboard_write_behind_queued";
