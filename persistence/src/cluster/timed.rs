//! Latency and failures of every Redis call, by operation, through handles registered once.

use std::sync::LazyLock;
use std::time::Instant;

use metrics::{Counter, Histogram};
use switchboard_engine::metrics::{REDIS_ERRORS, REDIS_OPS, REDIS_SECONDS};

use super::ClusterError;

/// A kind of Redis call; its name is the `op` label (`REDIS_OPS`, in this order).
#[derive(Clone, Copy, Debug)]
pub enum RedisOp {
    Publish,
    Heartbeat,
    Live,
    Leave,
    Snapshot,
}

fn handles() -> &'static [(Histogram, Counter)] {
    static HANDLES: LazyLock<Vec<(Histogram, Counter)>> = LazyLock::new(|| {
        REDIS_OPS
            .iter()
            .map(|&op| {
                (
                    metrics::histogram!(REDIS_SECONDS, "op" => op),
                    metrics::counter!(REDIS_ERRORS, "op" => op),
                )
            })
            .collect()
    });
    &HANDLES
}

/// Runs one Redis call, recording how long it took and whether it failed.
pub(crate) async fn timed<T>(
    op: RedisOp,
    call: impl Future<Output = Result<T, redis::RedisError>>,
) -> Result<T, ClusterError> {
    let started = Instant::now();
    let result = call.await;
    let (seconds, errors) = &handles()[op as usize];
    seconds.record(started.elapsed().as_secs_f64());
    if result.is_err() {
        errors.increment(1);
    }
    result.map_err(ClusterError::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ops_are_named_in_catalogue_order() {
        let ops = [
            RedisOp::Publish,
            RedisOp::Heartbeat,
            RedisOp::Live,
            RedisOp::Leave,
            RedisOp::Snapshot,
        ];
        assert_eq!(ops.len(), REDIS_OPS.len());
        for (i, op) in ops.iter().enumerate() {
            assert_eq!(*op as usize, i);
        }
    }
}
