//! What shows on stderr while the program runs: a progress line on a
//! terminal, `vmstat` lines (--vmstat), top's table on SIGUSR1 (--top).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::signals::TOP_WANTED;

/// Shows elapsed time, events and resident memory on a terminal's stderr
/// while the program runs, once a second.
pub fn progress(probe: faultline::ProgressProbe, done: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let start = Instant::now();
        while !done.load(Ordering::Acquire) {
            std::thread::park_timeout(Duration::from_millis(250));
            let t = start.elapsed();
            if t < Duration::from_secs(1) || done.load(Ordering::Acquire) {
                continue;
            }
            let p = probe.read();
            probe.show_line(&format!(
                "[faultline {:.0}s: {} events, {:.1} MiB resident, {} process{}]",
                t.as_secs_f64(),
                p.events,
                p.resident_pages as f64 * 4096.0 / (1 << 20) as f64,
                p.processes,
                if p.processes == 1 { "" } else { "es" }
            ));
            std::thread::park_timeout(Duration::from_millis(750));
        }
        probe.clear_line();
    })
}

/// While the program runs: a vmstat line every `every` (the header and the
/// first line at once), and top's table when SIGUSR1 asks (with --top).
pub fn live_view(
    probe: faultline::ProgressProbe,
    every: Option<Duration>,
    top: bool,
    done: Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        use std::io::Write;
        let mut next = Instant::now();
        while !done.load(Ordering::Acquire) {
            if let Some(every) = every.filter(|_| Instant::now() >= next) {
                let _ = std::io::stderr().lock().write_all(probe.vmstat().as_bytes());
                next += every;
            }
            if top && TOP_WANTED.swap(false, Ordering::AcqRel) {
                let _ = std::io::stderr().lock().write_all(probe.top_live().as_bytes());
            }
            let wait = every.map_or(Duration::from_millis(100), |_| next.saturating_duration_since(Instant::now()));
            std::thread::park_timeout(wait.min(Duration::from_millis(100)));
        }
    })
}

/// How long after its `--timeout` a run may take to stop (killing every
/// thread, gathering the summary: under a second normally, a few with
/// thousands of processes) before the watchdog ends faultline.
pub const STOP_GRACE: Duration = Duration::from_secs(30);

/// Ends faultline with its own failure status when the run has not
/// returned [`STOP_GRACE`] after `timeout`: `--timeout` is a promise that
/// holds even when faultline itself is stuck (a deadlock inside it once
/// kept a timed-out run alive until an outer timeout(1) killed it).
pub fn watchdog(timeout: Duration, done: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let end = Instant::now() + timeout + STOP_GRACE;
        while !done.load(Ordering::Acquire) {
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                eprintln!(
                    "faultline: internal error: the run did not stop within {} s of its {:.1} s timeout \
                     (faultline is stuck: a bug in faultline, not in the program)",
                    STOP_GRACE.as_secs(),
                    timeout.as_secs_f64()
                );
                std::process::exit(super::errors::TOOL_FAILURE.into());
            }
            std::thread::park_timeout(left);
        }
    })
}
