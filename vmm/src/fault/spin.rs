//! Who may busy-wait for work on the host's CPUs: the fault handler and
//! the syscall ring's server each spin after work to catch the next item
//! without a wake-up, but a spinner only pays when a CPU is free for it.
//!
//! Two rules, from what was measured here (BENCHMARKS.md):
//! - **At most one spinner per spare CPU.** The vCPU needs a core of its
//!   own: with the handler and the server both spinning on 2 cores, calls
//!   and faults taking turns ran 10× slower than with one of them asleep.
//! - **No spinning when the machine is busy.** With another process on
//!   one of the two cores, a spinning handler cost 272 µs a fault against
//!   65 µs for one that sleeps. Busy means more threads runnable than CPUs
//!   (the running count in /proc/loadavg, looked at every 2 ms at most).

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How often the machine's load is looked at.
const LOAD_CHECK: Duration = Duration::from_millis(2);

/// One sandbox's spinners.
pub struct SpinGate {
    cpus: usize,
    /// Spinners admitted now.
    spinning: AtomicUsize,
    /// When the load was last looked at (ns since `epoch`, plus one; 0:
    /// never), and what it showed.
    checked: AtomicU64,
    busy: AtomicBool,
    epoch: Instant,
    /// Threads runnable on the machine now ([`running_threads`]).
    load: fn() -> Option<usize>,
}

impl Default for SpinGate {
    fn default() -> Self {
        SpinGate::new(std::thread::available_parallelism().map_or(1, |n| n.get()))
    }
}

impl SpinGate {
    /// A gate for a machine with `cpus` CPUs.
    pub fn new(cpus: usize) -> Self {
        Self::with_load(cpus, running_threads)
    }

    fn with_load(cpus: usize, load: fn() -> Option<usize>) -> Self {
        SpinGate {
            load,
            cpus,
            spinning: AtomicUsize::new(0),
            checked: AtomicU64::new(0),
            busy: AtomicBool::new(false),
            epoch: Instant::now(),
        }
    }

    /// A place to spin, if a CPU is free for one more spinner. Spin while
    /// [`Spinning::keep`] says so; dropping it gives the place back.
    pub fn enter(&self) -> Option<Spinning<'_>> {
        if self.busy() {
            return None;
        }
        let limit = self.cpus.saturating_sub(1);
        self.spinning
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < limit).then_some(n + 1))
            .ok()
            .map(|_| Spinning(self))
    }

    /// A place to spin whatever the load (a spinner the user asked for):
    /// it still keeps the others from spinning beside it.
    pub fn enter_always(&self) -> Spinning<'_> {
        self.spinning.fetch_add(1, Ordering::AcqRel);
        Spinning(self)
    }

    /// Whether more threads are runnable than there are CPUs, as last seen.
    fn busy(&self) -> bool {
        let now = self.epoch.elapsed().as_nanos() as u64 + 1;
        let last = self.checked.load(Ordering::Acquire);
        // (Another thread may have looked after `now` was taken.)
        if last != 0 && now.saturating_sub(last) < LOAD_CHECK.as_nanos() as u64 {
            return self.busy.load(Ordering::Acquire);
        }
        // One looker at a time; the others use what was last seen.
        if self.checked.compare_exchange(last, now, Ordering::AcqRel, Ordering::Acquire).is_ok() {
            self.busy.store((self.load)().is_some_and(|r| r > self.cpus), Ordering::Release);
        }
        self.busy.load(Ordering::Acquire)
    }
}

/// A spinner's place (see [`SpinGate::enter`]).
pub struct Spinning<'a>(&'a SpinGate);

impl Spinning<'_> {
    /// Whether to go on spinning: false once the machine has turned busy.
    pub fn keep(&self) -> bool {
        !self.0.busy()
    }
}

impl Drop for Spinning<'_> {
    fn drop(&mut self) {
        self.0.spinning.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Threads runnable on the machine now, the looker included (the fourth
/// field of /proc/loadavg).
fn running_threads() -> Option<usize> {
    let s = std::fs::read_to_string("/proc/loadavg").ok()?;
    s.split_whitespace().nth(3)?.split('/').next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_spinner_per_spare_cpu() {
        let two = SpinGate::with_load(2, || Some(2));
        let first = two.enter().expect("one spinner on two CPUs");
        assert!(first.keep());
        assert!(two.enter().is_none(), "a second spinner would take the vCPU's core");
        drop(first);
        let again = two.enter().expect("the place was given back");
        drop(again);
        let forced = two.enter_always();
        assert!(two.enter().is_none(), "a forced spinner counts too");
        drop(forced);
        let four = SpinGate::with_load(4, || Some(1));
        let held: Vec<_> = (0..3).filter_map(|_| four.enter()).collect();
        assert_eq!(held.len(), 3);
        assert!(four.enter().is_none());
        assert!(SpinGate::with_load(1, || Some(1)).enter().is_none(), "one CPU: the vCPU needs it");
    }

    #[test]
    fn nobody_spins_on_a_busy_machine() {
        let gate = SpinGate::with_load(2, || Some(3));
        assert!(gate.enter().is_none());
        let forced = gate.enter_always();
        assert!(!forced.keep());
        // No load to read: spinning is allowed.
        assert!(SpinGate::with_load(2, || None).enter().is_some());
    }

    #[test]
    fn the_running_count_is_read() {
        assert!(running_threads().is_some_and(|r| r >= 1));
    }
}
