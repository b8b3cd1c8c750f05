//! CPU and memory of processes from /proc: the nodes, the workers, Redis and Postgres.

/// Clock ticks per second of `/proc/<pid>/stat` (USER_HZ, 100 on Linux).
const TICKS_PER_SEC: f64 = 100.0;

/// What `/proc/<pid>/stat` says of one process.
struct Stat {
    ppid: u32,
    /// utime + stime, in ticks.
    ticks: f64,
    /// cutime + cstime: the CPU of its children that exited and were waited for.
    reaped_ticks: f64,
}

fn stat(pid: u32) -> Option<Stat> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name: ppid is the 2nd, utime and stime the 12th
    // and 13th, cutime and cstime the 14th and 15th.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let num = |i: usize| fields.get(i)?.parse::<f64>().ok();
    Some(Stat {
        ppid: fields.get(1)?.parse().ok()?,
        ticks: num(11)? + num(12)?,
        reaped_ticks: num(13)? + num(14)?,
    })
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// CPU seconds (user + system) and resident KiB of one process, or `None` once it is gone.
pub fn sample(pid: u32) -> Option<(f64, u64)> {
    let s = stat(pid)?;
    Some((s.ticks / TICKS_PER_SEC, rss_kib(pid)))
}

fn all_pids() -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .collect()
}

/// The pids whose command name is `comm` (e.g. `redis-server`, `postgres`) and whose parent's
/// is not: the roots of a server's process tree (Postgres's postmaster, not its backends).
pub fn roots_named(comm: &str) -> Vec<u32> {
    let named = |pid: u32| {
        std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == comm)
    };
    all_pids()
        .into_iter()
        .filter(|pid| named(*pid) && stat(*pid).is_none_or(|s| !named(s.ppid)))
        .collect()
}

/// CPU seconds and resident KiB of the process trees under `roots`: each root's own CPU and
/// that of its children, living (read now) and exited (its cutime and cstime), so the figure
/// only grows while backends come and go. Resident memory is the living processes'.
pub fn trees(roots: &[u32]) -> (f64, u64) {
    if roots.is_empty() {
        return (0.0, 0);
    }
    let mut ticks = 0.0;
    let mut rss = 0;
    for pid in all_pids() {
        let Some(s) = stat(pid) else { continue };
        if roots.contains(&pid) {
            ticks += s.ticks + s.reaped_ticks;
        } else if roots.contains(&s.ppid) {
            ticks += s.ticks;
        } else {
            continue;
        }
        rss += rss_kib(pid);
    }
    (ticks / TICKS_PER_SEC, rss)
}
