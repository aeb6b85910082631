//! Who may busy-wait for work on the host's CPUs: the fault handler and
//! the syscall ring's server each spin after work to catch the next item
//! without a wake-up, but a spinner only pays when a CPU is free for it.
//!
//! Two rules, from what was measured here (BENCHMARKS.md):
//! - **At most one spinner per spare CPU.** The vCPU needs a core of its
//!   own: with the handler and the server both spinning on 2 cores, calls
//!   and faults taking turns ran 10× slower than with one of them asleep.
//! - **No spinning when CPUs are contended.** With another process on one
//!   of the two cores, a spinning handler cost 272 µs a fault against 65 µs
//!   for one that sleeps. A spinner looks every 2 ms at how long it waited
//!   on the run queue (/proc/thread-self/schedstat): over 10 % of the time,
//!   it stops, and nobody spins for a while (20 ms, doubling to 640 ms
//!   while it keeps happening). The run-queue wait is the contention
//!   itself; the running count in /proc/loadavg, tried first, is an
//!   instant's sample that a shell's fork alone pushes over the line.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How often a spinner looks at its run-queue wait.
const CHECK: Duration = Duration::from_millis(2);
/// The share of that time spent waiting for a CPU that stops spinning.
const MAX_WAIT_PERMILLE: u64 = 100;
/// How long nobody spins after that, at first and at most.
const BACKOFF_MIN: Duration = Duration::from_millis(20);
const BACKOFF_MAX: Duration = Duration::from_millis(640);

/// One sandbox's spinners.
pub struct SpinGate {
    cpus: usize,
    /// Spinners admitted now.
    spinning: AtomicUsize,
    /// Nobody spins before this (ns since `epoch`).
    quiet_until: AtomicU64,
    /// The next back-off (ns).
    backoff: AtomicU64,
    epoch: Instant,
    /// This thread's run-queue wait so far, in ns ([`run_queue_wait`]).
    wait: fn() -> Option<u64>,
}

impl Default for SpinGate {
    fn default() -> Self {
        SpinGate::new(std::thread::available_parallelism().map_or(1, |n| n.get()))
    }
}

impl SpinGate {
    /// A gate for a machine with `cpus` CPUs.
    pub fn new(cpus: usize) -> Self {
        Self::with_wait(cpus, run_queue_wait)
    }

    fn with_wait(cpus: usize, wait: fn() -> Option<u64>) -> Self {
        SpinGate {
            cpus,
            spinning: AtomicUsize::new(0),
            quiet_until: AtomicU64::new(0),
            backoff: AtomicU64::new(BACKOFF_MIN.as_nanos() as u64),
            epoch: Instant::now(),
            wait,
        }
    }

    fn now(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }

    /// A place to spin, if a CPU is free for one more spinner. Spin while
    /// [`Spinning::keep`] says so; dropping it gives the place back.
    pub fn enter(&self) -> Option<Spinning<'_>> {
        if self.now() < self.quiet_until.load(Ordering::Acquire) {
            return None;
        }
        let limit = self.cpus.saturating_sub(1);
        self.spinning
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < limit).then_some(n + 1))
            .ok()
            .map(|_| self.place(true))
    }

    /// A place to spin whatever the contention (a spinner the user asked
    /// for): it still keeps the others from spinning beside it.
    pub fn enter_always(&self) -> Spinning<'_> {
        self.spinning.fetch_add(1, Ordering::AcqRel);
        self.place(false)
    }

    fn place(&self, yields: bool) -> Spinning<'_> {
        Spinning { gate: self, yields, checked: Instant::now(), waited: (self.wait)() }
    }

    /// A spinner waited too long for a CPU: nobody spins for a while,
    /// longer each time in a row.
    fn contended(&self) {
        let backoff = self.backoff.load(Ordering::Acquire);
        self.quiet_until.store(self.now() + backoff, Ordering::Release);
        self.backoff.store((backoff * 2).min(BACKOFF_MAX.as_nanos() as u64), Ordering::Release);
    }

    /// A spinner had its CPU: the back-off starts again from the least.
    fn uncontended(&self) {
        self.backoff.store(BACKOFF_MIN.as_nanos() as u64, Ordering::Release);
    }
}

/// A spinner's place (see [`SpinGate::enter`]).
pub struct Spinning<'a> {
    gate: &'a SpinGate,
    /// Whether it stops when contended (not so for `enter_always`).
    yields: bool,
    checked: Instant,
    /// Run-queue wait at `checked`.
    waited: Option<u64>,
}

impl Spinning<'_> {
    /// Whether to go on spinning: false once this thread has waited for a
    /// CPU more than 10 % of the last 2 ms.
    pub fn keep(&mut self) -> bool {
        let elapsed = self.checked.elapsed();
        if elapsed < CHECK {
            return true;
        }
        let now = (self.gate.wait)();
        let waited = match (self.waited, now) {
            (Some(a), Some(b)) => b.saturating_sub(a),
            _ => 0,
        };
        (self.checked, self.waited) = (Instant::now(), now);
        if waited * 1000 > elapsed.as_nanos() as u64 * MAX_WAIT_PERMILLE {
            if self.yields {
                self.gate.contended();
                return false;
            }
        } else {
            self.gate.uncontended();
        }
        true
    }
}

impl Drop for Spinning<'_> {
    fn drop(&mut self) {
        self.gate.spinning.fetch_sub(1, Ordering::AcqRel);
    }
}

/// How long this thread has waited on a run queue, in ns: the second field
/// of /proc/thread-self/schedstat.
fn run_queue_wait() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_spinner_per_spare_cpu() {
        let two = SpinGate::with_wait(2, || Some(0));
        let mut first = two.enter().expect("one spinner on two CPUs");
        assert!(first.keep());
        assert!(two.enter().is_none(), "a second spinner would take the vCPU's core");
        drop(first);
        let again = two.enter().expect("the place was given back");
        drop(again);
        let forced = two.enter_always();
        assert!(two.enter().is_none(), "a forced spinner counts too");
        drop(forced);
        let four = SpinGate::with_wait(4, || Some(0));
        let held: Vec<_> = (0..3).filter_map(|_| four.enter()).collect();
        assert_eq!(held.len(), 3);
        assert!(four.enter().is_none());
        assert!(SpinGate::with_wait(1, || Some(0)).enter().is_none(), "one CPU: the vCPU needs it");
    }

    static WAITED: AtomicU64 = AtomicU64::new(0);

    #[test]
    fn a_spinner_kept_waiting_for_a_cpu_stops_everyone_for_a_while() {
        let gate = SpinGate::with_wait(2, || Some(WAITED.load(Ordering::Relaxed)));
        let mut s = gate.enter().expect("a place");
        std::thread::sleep(CHECK);
        assert!(s.keep(), "no wait: spin on");
        std::thread::sleep(CHECK);
        // Waited for a CPU the whole time.
        WAITED.fetch_add(10 * CHECK.as_nanos() as u64, Ordering::Relaxed);
        assert!(!s.keep());
        drop(s);
        assert!(gate.enter().is_none(), "nobody spins during the back-off");
        std::thread::sleep(BACKOFF_MIN + Duration::from_millis(5));
        let mut s = gate.enter().expect("the back-off is over");
        assert!(s.keep());
        drop(s);
        // A forced spinner goes on whatever the wait.
        let mut forced = gate.enter_always();
        std::thread::sleep(CHECK);
        WAITED.fetch_add(10 * CHECK.as_nanos() as u64, Ordering::Relaxed);
        assert!(forced.keep());
    }

    #[test]
    fn the_run_queue_wait_is_read() {
        assert!(run_queue_wait().is_some());
    }
}
