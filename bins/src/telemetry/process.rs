//! This process's CPU time, resident memory and open files, read from `/proc/self` (Linux; on
//! other systems the numbers stay at zero).

use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use switchboard_engine::metrics as names;

/// Clock ticks per second of `/proc/self/stat` times: 100 on every Linux this runs on
/// (`sysconf(_SC_CLK_TCK)` would need `unsafe`, which the workspace forbids).
const TICKS_PER_SEC: f64 = 100.0;

#[derive(Clone, Copy, Debug, Default)]
pub struct ProcessStats {
    pub cpu_seconds: f64,
    pub resident_bytes: u64,
    pub open_fds: u64,
}

/// How long a count of open files stands. Counting lists `/proc/self/fd`, one entry per
/// socket: listed every second, it took 7% of a node's CPU with 6,000 connections.
const OPEN_FDS_EVERY: Duration = Duration::from_secs(15);

/// What the last samples read: a count of open files and when it was taken, and the last CPU
/// time read.
static LAST: Mutex<Last> = Mutex::new(Last {
    open_fds: None,
    cpu_seconds: 0.0,
});

struct Last {
    open_fds: Option<(Instant, u64)>,
    cpu_seconds: f64,
}

/// Reads the numbers (a few small files, and now and then a directory listing: run it off the
/// runtime threads) and sets their gauges.
pub fn sample() -> ProcessStats {
    let mut last = LAST.lock().unwrap_or_else(|p| p.into_inner());
    // A failed read (out of files, say) repeats the last CPU time: read as 0, the counter would
    // go back to 0 and the next interval show the whole life of the process as one second.
    if let Some(cpu) = cpu_seconds() {
        last.cpu_seconds = cpu;
    }
    let stats = ProcessStats {
        cpu_seconds: last.cpu_seconds,
        resident_bytes: resident_bytes().unwrap_or(0),
        open_fds: open_fds(&mut last),
    };
    drop(last);
    metrics::counter!(names::PROCESS_CPU_SECONDS).absolute(stats.cpu_seconds as u64);
    metrics::gauge!(names::PROCESS_RESIDENT_BYTES).set(stats.resident_bytes as f64);
    metrics::gauge!(names::PROCESS_OPEN_FDS).set(stats.open_fds as f64);
    stats
}

/// Open files, counted at most once per [`OPEN_FDS_EVERY`].
fn open_fds(last: &mut Last) -> u64 {
    match last.open_fds {
        Some((at, count)) if at.elapsed() < OPEN_FDS_EVERY => count,
        _ => {
            let count = std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count() as u64);
            last.open_fds = Some((Instant::now(), count));
            count
        }
    }
}

/// When the process started, in seconds since the Unix epoch (taken when the recorder is
/// installed, at the start of the first node).
pub fn start_time() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// utime + stime: fields 14 and 15 of `/proc/self/stat`, counted after the command name
/// (which may hold spaces, so the fields start after its closing parenthesis).
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let after_name = &stat[stat.rfind(')')? + 2..];
    let mut fields = after_name.split(' ').skip(11);
    let utime: f64 = fields.next()?.parse().ok()?;
    let stime: f64 = fields.next()?.parse().ok()?;
    Some((utime + stime) / TICKS_PER_SEC)
}

fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_this_process() {
        let s = super::sample();
        if cfg!(target_os = "linux") {
            assert!(s.resident_bytes > 1024 * 1024, "{s:?}");
            assert!(s.open_fds >= 3, "{s:?}");
            assert!(super::cpu_seconds().is_some());
        }
    }
}
