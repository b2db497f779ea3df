//! Read-only questions to `/proc` about processes we started.
//!
//! Used to decide readiness without side effects (no probe connection that
//! the daemon would announce to its clients and apps) and to check that no
//! child was left behind, and to account the CPU time of the daemon and
//! the receiver in benchmarks. Never signals or changes anything.

use std::collections::HashSet;
use std::fs;
use std::path::Path;
use std::time::Duration;

/// The socket inodes that process `pid` holds open (`socket:[N]` links in
/// `/proc/<pid>/fd`). Empty when the process is gone or unreadable.
fn socket_inodes(pid: u32) -> HashSet<u64> {
    let Ok(entries) = fs::read_dir(format!("/proc/{pid}/fd")) else {
        return HashSet::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| fs::read_link(entry.path()).ok())
        .filter_map(|target| {
            let target = target.to_str()?;
            target
                .strip_prefix("socket:[")?
                .strip_suffix(']')?
                .parse()
                .ok()
        })
        .collect()
}

/// TCP state code for LISTEN in `/proc/net/tcp{,6}`.
const TCP_LISTEN: &str = "0A";

/// True when process `pid` itself holds a TCP socket listening on `port`
/// (IPv4 or IPv6, any address).
///
/// A listening socket completes handshakes in the kernel, so this is the
/// same as "the port accepts a TCP connection", and it proves the listener
/// is `pid` and not another process that happens to own the port.
pub(crate) fn listens_on(pid: u32, port: u16) -> bool {
    let inodes = socket_inodes(pid);
    if inodes.is_empty() {
        return false;
    }
    let wanted_port = format!("{port:04X}");
    ["tcp6", "tcp"].iter().any(|table| {
        let Ok(text) = fs::read_to_string(format!("/proc/{pid}/net/{table}")) else {
            return false;
        };
        text.lines().skip(1).any(|row| {
            // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
            let cols: Vec<&str> = row.split_whitespace().collect();
            let (Some(local), Some(state), Some(inode)) = (cols.get(1), cols.get(3), cols.get(9))
            else {
                return false;
            };
            let local_port = local.rsplit(':').next().unwrap_or_default();
            *state == TCP_LISTEN
                && local_port.eq_ignore_ascii_case(&wanted_port)
                && inode.parse().is_ok_and(|n: u64| inodes.contains(&n))
        })
    })
}

/// True when `pid` is a live or zombie child of this process, read from
/// `/proc/<pid>/stat` (parent pid field).
///
/// After a child has been reaped this returns false even if the pid has
/// been reused, unless it was reused by another child of ours.
pub fn is_child_process(pid: u32) -> bool {
    let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // "pid (comm) state ppid ...": comm may contain spaces and parentheses,
    // so split after the last ')'.
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return false;
    };
    let mut fields = rest.split_whitespace();
    let _state = fields.next();
    fields
        .next()
        .and_then(|ppid| ppid.parse::<u32>().ok())
        .is_some_and(|ppid| ppid == std::process::id())
}

/// CPU time used so far by every thread of process `pid`, from the
/// scheduler's own nanosecond accounting (`/proc/PID/task/*/schedstat`,
/// first field). `None` when the process is gone. Threads that already
/// exited (or whose schedstat cannot be read) are not included.
pub fn cpu_time(pid: u32) -> Option<Duration> {
    sum_over_tasks(&format!("/proc/{pid}/task"), |_| true, task_cpu_nanos).map(Duration::from_nanos)
}

/// Voluntary context switches so far (times a thread blocked, e.g. to
/// wait for input) summed over every thread of process `pid`, from
/// `/proc/PID/task/*/status`. `None` when the process is gone.
pub fn voluntary_switches(pid: u32) -> Option<u64> {
    sum_over_tasks(
        &format!("/proc/{pid}/task"),
        |_| true,
        |task| status_number(&task.join("status"), "voluntary_ctxt_switches:"),
    )
}

/// CPU time used so far by the threads of this process whose name
/// (`/proc/self/task/*/comm`, at most 15 bytes) starts with `prefix`;
/// zero when there are none.
pub fn own_threads_cpu_time(prefix: &str) -> Duration {
    let named = |task: &Path| {
        fs::read_to_string(task.join("comm")).is_ok_and(|n| n.trim_end().starts_with(prefix))
    };
    Duration::from_nanos(sum_over_tasks("/proc/self/task", named, task_cpu_nanos).unwrap_or(0))
}

/// Voluntary context switches (times a thread blocked: its wake-ups) so
/// far of the threads of this process whose name starts with `prefix`;
/// zero when there are none.
pub fn own_threads_voluntary_switches(prefix: &str) -> u64 {
    let named = |task: &Path| {
        fs::read_to_string(task.join("comm")).is_ok_and(|n| n.trim_end().starts_with(prefix))
    };
    sum_over_tasks("/proc/self/task", named, |task| {
        status_number(&task.join("status"), "voluntary_ctxt_switches:")
    })
    .unwrap_or(0)
}

/// `value(task)` summed over the task dirs in `dir` that `keep` accepts;
/// `None` when `dir` cannot be read (the process is gone). A thread that
/// exits during the scan is skipped, like one that exited before it.
fn sum_over_tasks(
    dir: &str,
    keep: impl Fn(&Path) -> bool,
    value: impl Fn(&Path) -> Option<u64>,
) -> Option<u64> {
    let tasks = fs::read_dir(dir).ok()?;
    Some(
        tasks
            .flatten()
            .map(|t| t.path())
            .filter(|t| keep(t))
            .filter_map(|t| value(&t))
            .sum(),
    )
}

/// A task's CPU time in nanoseconds: the first field of its `schedstat`.
fn task_cpu_nanos(task: &Path) -> Option<u64> {
    fs::read_to_string(task.join("schedstat"))
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The number after `key` in a `/proc` status file.
fn status_number(path: &Path, key: &str) -> Option<u64> {
    fs::read_to_string(path)
        .ok()?
        .lines()
        .find(|l| l.starts_with(key))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;
    use std::process::Command;

    #[test]
    fn listens_on_sees_our_own_listener_and_not_a_closed_port() {
        let listener = TcpListener::bind("[::1]:0").expect("bind [::1]:0");
        let port = listener.local_addr().expect("local addr").port();
        assert!(
            listens_on(std::process::id(), port),
            "own listener on {port}"
        );
        drop(listener);
        assert!(!listens_on(std::process::id(), port), "closed port {port}");
    }

    #[test]
    fn is_child_process_tracks_spawn_and_reap() {
        let mut child = Command::new("sleep").arg("5").spawn().expect("spawn sleep");
        let pid = child.id();
        assert!(is_child_process(pid), "running child");
        child.kill().expect("kill sleep");
        child.wait().expect("reap sleep");
        assert!(!is_child_process(pid), "reaped child");
        assert!(!is_child_process(1), "init is not our child");
    }

    #[test]
    fn cpu_time_grows_while_this_process_works() {
        let me = std::process::id();
        let before = cpu_time(me).expect("our own schedstat");
        // Spin for 30 ms of this thread's own CPU time, not wall time: on a
        // loaded machine 30 ms of wall time can hold almost no CPU time.
        let spun_from = crate::sys::thread_cpu_time();
        let mut x = 0u64;
        while crate::sys::thread_cpu_time() < spun_from + Duration::from_millis(30) {
            x = std::hint::black_box(x.wrapping_add(1));
        }
        let after = cpu_time(me).expect("our own schedstat");
        assert!(
            after >= before + Duration::from_millis(10),
            "30 ms of this thread's CPU time added only {:?} to the process's",
            after.saturating_sub(before)
        );
        assert_eq!(cpu_time(u32::MAX), None, "no such process");
    }

    #[test]
    fn own_threads_cpu_time_sees_only_the_named_thread() {
        let spin = |name: &str| {
            std::thread::Builder::new()
                .name(name.to_owned())
                .spawn(|| {
                    // Spin for 30 ms of this thread's own CPU time, not
                    // wall time: on a loaded machine 30 ms of wall time
                    // can hold less than the 10 ms awaited below.
                    let mut x = 0u64;
                    while crate::sys::thread_cpu_time() < Duration::from_millis(30) {
                        x = std::hint::black_box(x.wrapping_add(1));
                    }
                    // Stay alive until the parent has read our time.
                    std::thread::park();
                })
                .expect("spawn")
        };
        let t = spin("cpu-probe-named");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while own_threads_cpu_time("cpu-probe-named") < Duration::from_millis(10) {
            assert!(
                std::time::Instant::now() < deadline,
                "the spinning thread's CPU time never reached 10 ms"
            );
            std::thread::yield_now();
        }
        assert_eq!(own_threads_cpu_time("no-such-thread-name"), Duration::ZERO);
        t.thread().unpark();
        t.join().expect("join");
    }

    #[test]
    fn voluntary_switches_count_sleeps() {
        let me = std::process::id();
        let before = voluntary_switches(me).expect("our own status");
        for _ in 0..5 {
            std::thread::sleep(Duration::from_millis(1));
        }
        let after = voluntary_switches(me).expect("our own status");
        assert!(after >= before + 5, "5 sleeps, {} switches", after - before);
        let (mine, _) = crate::sys::thread_context_switches();
        std::thread::sleep(Duration::from_millis(1));
        let (slept, _) = crate::sys::thread_context_switches();
        assert!(
            slept > mine,
            "a sleep on this thread is a switch of this thread"
        );
    }
}
