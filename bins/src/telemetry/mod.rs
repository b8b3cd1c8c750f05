//! The Prometheus recorder: installed once per process with histogram buckets for chat
//! latencies, every metric of the catalogue (`switchboard_engine::metrics::ALL`) described and
//! registered at zero so `/metrics` lists each from the first scrape, and the build info.
//!
//! # Layout
//! - [`process`]: CPU time, resident memory and open files of this process, from `/proc`.

pub mod process;

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use switchboard_engine::metrics::{self as names, Def, Kind};

/// The running build: the crate version and the commit it was built from.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
pub const COMMIT: &str = env!("SOURCE_COMMIT");

/// The process-wide recorder (a process has one, however many nodes it runs).
pub fn prometheus() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let handle = builder()
                .install_recorder()
                .unwrap_or_else(|_| builder().build_recorder().handle());
            register_all();
            handle
        })
        .clone()
}

/// Every histogram gets buckets (summaries cannot be summed across nodes): latency buckets
/// by default, message counts for the batch size.
fn builder() -> PrometheusBuilder {
    PrometheusBuilder::new()
        .set_buckets(names::LATENCY_BUCKETS)
        .and_then(|b| {
            b.set_buckets_for_metric(
                Matcher::Full(names::WRITE_BEHIND_BATCH_SIZE.to_owned()),
                names::BATCH_BUCKETS,
            )
        })
        .expect("bucket lists are not empty")
}

fn register_all() {
    for def in names::ALL {
        describe(def);
        if def.name == names::BUILD_INFO {
            continue;
        }
        match def.label {
            None => register(def, &[]),
            Some((label, values)) => {
                for &value in values {
                    register(def, &[(label, value)]);
                }
            }
        }
    }
    metrics::gauge!(names::BUILD_INFO, "version" => VERSION, "commit" => COMMIT).set(1.0);
    metrics::gauge!(names::PROCESS_START_TIME).set(process::start_time());
}

fn describe(def: &Def) {
    match def.kind {
        Kind::Counter => metrics::describe_counter!(def.name, def.help),
        Kind::Gauge => metrics::describe_gauge!(def.name, def.help),
        Kind::Histogram => metrics::describe_histogram!(def.name, def.help),
    }
}

/// Creates the series, so it is rendered (at zero) before anything records to it.
fn register(def: &Def, labels: &[(&'static str, &'static str)]) {
    let labels: Vec<metrics::Label> = labels
        .iter()
        .map(|&(k, v)| metrics::Label::from_static_parts(k, v))
        .collect();
    let key = metrics::Key::from_parts(def.name, labels);
    let meta = metrics::Metadata::new(module_path!(), metrics::Level::INFO, None);
    metrics::with_recorder(|r| match def.kind {
        Kind::Counter => drop(r.register_counter(&key, &meta)),
        Kind::Gauge => drop(r.register_gauge(&key, &meta)),
        Kind::Histogram => drop(r.register_histogram(&key, &meta)),
    });
}
