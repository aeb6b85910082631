//! Who may busy-wait for work on the host's CPUs: the fault handler and
//! the syscall ring's server each spin after work to catch the next item
//! without a wake-up, but a spinner only pays when a CPU is free for it.
//!
//! Two rules, from what was measured here (BENCHMARKS.md):
//! - **At most one spinner per spare CPU.** The vCPU needs a core of its
//!   own: with the handler and the server both spinning on 2 cores, calls
//!   and faults taking turns ran 10× slower than with one of them asleep.
//! - **No spinning when CPUs are contended.** With another process on one
//!   of the two cores, a spinning handler cost 123 µs a fault against
//!   ~43 µs for one that sleeps. A spinner looks every 2 ms at how often
//!   this process's threads were preempted (involuntary context switches,
//!   getrusage): more than twice, and it stops, and nobody spins for a
//!   while (20 ms, doubling to 640 ms while it keeps happening). Measured
//!   here over 300 ms of first touches: no preemption when quiet, 1100-1700
//!   with one CPU busy. Signals tried first and dropped: the running count
//!   in /proc/loadavg (an instant's sample that a shell's fork pushes over
//!   the line), the spinner's own run-queue wait (the thread kept waiting
//!   is mostly the vCPU), and PSI's cpu `some` total (7 % where the vCPU
//!   waited 73 % of the time).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How often a spinner looks at the preemptions.
const CHECK: Duration = Duration::from_millis(2);
/// Preemptions in that time that stop spinning.
const MAX_PREEMPTIONS: u64 = 2;
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
    /// When the preemptions were last looked at (ns since `epoch`), and
    /// how many there had been. Kept here, not per spinner: a spinner
    /// that shares its CPU with the vCPU keeps falling asleep and starting
    /// again, and would never spin 2 ms in one go.
    checked_at: AtomicU64,
    preempted_then: AtomicU64,
    epoch: Instant,
    /// This process's preemptions so far ([`preemptions`]).
    preempted: fn() -> Option<u64>,
    /// The time in ns since `epoch` (the tests' own clock, so that a
    /// loaded machine's late wake-ups cannot change what they see).
    clock: fn(Instant) -> u64,
}

impl Default for SpinGate {
    fn default() -> Self {
        SpinGate::new(std::thread::available_parallelism().map_or(1, |n| n.get()))
    }
}

impl SpinGate {
    /// A gate for a machine with `cpus` CPUs.
    pub fn new(cpus: usize) -> Self {
        Self::with_preemptions(cpus, preemptions)
    }

    fn with_preemptions(cpus: usize, preempted: fn() -> Option<u64>) -> Self {
        Self::with_clock(cpus, preempted, |epoch| epoch.elapsed().as_nanos() as u64)
    }

    fn with_clock(cpus: usize, preempted: fn() -> Option<u64>, clock: fn(Instant) -> u64) -> Self {
        SpinGate {
            cpus,
            spinning: AtomicUsize::new(0),
            quiet_until: AtomicU64::new(0),
            backoff: AtomicU64::new(BACKOFF_MIN.as_nanos() as u64),
            checked_at: AtomicU64::new(0),
            preempted_then: AtomicU64::new(preempted().unwrap_or(0)),
            epoch: Instant::now(),
            preempted,
            clock,
        }
    }

    fn now(&self) -> u64 {
        (self.clock)(self.epoch)
    }

    /// A place to spin, if a CPU is free for one more spinner. Spin while
    /// [`Spinning::keep`] says so; dropping it gives the place back.
    pub fn enter(&self) -> Option<Spinning<'_>> {
        if self.contended() {
            return None;
        }
        let limit = self.cpus.saturating_sub(1);
        self.spinning
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < limit).then_some(n + 1))
            .ok()
            .map(|_| Spinning { gate: self, yields: true })
    }

    /// A place to spin whatever the contention (a spinner the user asked
    /// for): it still keeps the others from spinning beside it.
    pub fn enter_always(&self) -> Spinning<'_> {
        self.spinning.fetch_add(1, Ordering::AcqRel);
        Spinning { gate: self, yields: false }
    }

    /// Whether nobody should spin now: the process's threads were
    /// preempted more than twice in a 2 ms window lately (looked at once
    /// per window, by whoever asks first).
    fn contended(&self) -> bool {
        let now = self.now();
        let last = self.checked_at.load(Ordering::Acquire);
        let since = now.saturating_sub(last);
        if since >= CHECK.as_nanos() as u64
            && self.checked_at.compare_exchange(last, now, Ordering::AcqRel, Ordering::Acquire).is_ok()
        {
            if let Some(count) = (self.preempted)() {
                let then = self.preempted_then.swap(count, Ordering::AcqRel);
                // Scaled to a 2 ms window (the last look may be long ago).
                let preempted = count.saturating_sub(then);
                if preempted * CHECK.as_nanos() as u64 > MAX_PREEMPTIONS * since {
                    let backoff = self.backoff.load(Ordering::Acquire);
                    self.quiet_until.store(now + backoff, Ordering::Release);
                    self.backoff.store((backoff * 2).min(BACKOFF_MAX.as_nanos() as u64), Ordering::Release);
                } else if self.spinning.load(Ordering::Acquire) > 0 {
                    // Someone spun a window without harm: the next back-off
                    // starts from the least. (Not on a look after a quiet
                    // spell, when nobody spun to cause preemptions.)
                    self.backoff.store(BACKOFF_MIN.as_nanos() as u64, Ordering::Release);
                }
            }
        }
        now < self.quiet_until.load(Ordering::Acquire)
    }
}

/// A spinner's place (see [`SpinGate::enter`]).
pub struct Spinning<'a> {
    gate: &'a SpinGate,
    /// Whether it stops when contended (not so for `enter_always`).
    yields: bool,
}

impl Spinning<'_> {
    /// Whether to go on spinning: false once this process's threads are
    /// being preempted (more than twice in 2 ms).
    pub fn keep(&self) -> bool {
        !self.yields || !self.gate.contended()
    }
}

impl Drop for Spinning<'_> {
    fn drop(&mut self) {
        self.gate.spinning.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Involuntary context switches of this process's threads so far.
fn preemptions() -> Option<u64> {
    // SAFETY: rusage is plain data; the call fills it.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: a valid rusage to fill.
    (unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) } == 0).then_some(ru.ru_nivcsw as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_spinner_per_spare_cpu() {
        let two = SpinGate::with_preemptions(2, || Some(0));
        let first = two.enter().expect("one spinner on two CPUs");
        assert!(first.keep());
        assert!(two.enter().is_none(), "a second spinner would take the vCPU's core");
        drop(first);
        let again = two.enter().expect("the place was given back");
        drop(again);
        let forced = two.enter_always();
        assert!(two.enter().is_none(), "a forced spinner counts too");
        drop(forced);
        let four = SpinGate::with_preemptions(4, || Some(0));
        let held: Vec<_> = (0..3).filter_map(|_| four.enter()).collect();
        assert_eq!(held.len(), 3);
        assert!(four.enter().is_none());
        assert!(SpinGate::with_preemptions(1, || Some(0)).enter().is_none(), "one CPU: the vCPU needs it");
    }

    static PREEMPTED: AtomicU64 = AtomicU64::new(0);
    /// The test's clock (ns), moved by hand.
    static NOW: AtomicU64 = AtomicU64::new(0);

    fn pass(d: Duration) {
        NOW.fetch_add(d.as_nanos() as u64, Ordering::Relaxed);
    }

    #[test]
    fn preempted_threads_stop_everyone_spinning_for_a_while() {
        let gate = SpinGate::with_clock(2, || Some(PREEMPTED.load(Ordering::Relaxed)), |_| NOW.load(Ordering::Relaxed));
        let s = gate.enter().expect("a place");
        pass(CHECK);
        assert!(s.keep(), "not preempted: spin on");
        pass(CHECK);
        PREEMPTED.fetch_add(10, Ordering::Relaxed);
        assert!(!s.keep());
        drop(s);
        assert!(gate.enter().is_none(), "nobody spins during the back-off");
        // A forced spinner goes on whatever the preemptions.
        assert!(gate.enter_always().keep());
        pass(BACKOFF_MIN + Duration::from_millis(5));
        let s = gate.enter().expect("the back-off is over");
        assert!(s.keep());
        drop(s);
        // Again: twice as long this time.
        pass(CHECK);
        PREEMPTED.fetch_add(10, Ordering::Relaxed);
        assert!(gate.enter().is_none());
        pass(BACKOFF_MIN + Duration::from_millis(5));
        assert!(gate.enter().is_none(), "the second back-off is longer");
        pass(BACKOFF_MIN);
        assert!(gate.enter().is_some());
    }

    #[test]
    fn preemptions_are_counted() {
        assert!(preemptions().is_some());
    }
}
