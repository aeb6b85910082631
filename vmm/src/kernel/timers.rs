//! A process's timers besides ITIMER_REAL (which `Process::itimer_real`
//! keeps): the CPU-time interval timers ITIMER_VIRTUAL (user time,
//! SIGVTALRM) and ITIMER_PROF (user and system time, SIGPROF), and the
//! POSIX timers of timer_create (kernel/time/posix-timers.c). Wall-clock
//! POSIX timers fire from the supervisor ([`super::Kernel::fire_timers`]);
//! CPU-time ones when the process's CPU time is counted, at each trap and
//! each kick, which the supervisor sends every [`CPU_TICK`] while such a
//! timer is armed.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::abi::epoll::{SIGEV_NONE, SIGEV_SIGNAL, SIGEV_THREAD_ID};
use super::abi::resource::{RLIMIT_CPU, RLIM_INFINITY};
use super::abi::time::*;
use super::files::signalfd::SI_TIMER;
use super::files::timerfd::{clock_ns, Timer};
use super::process::{ExitStatus, Process};
use super::process::{Pid, Tid};
use super::signal::{SigInfo, SIGKILL, SIGPROF, SIGVTALRM, SIGXCPU};
use super::KernelState;
use crate::mm::KmemCharge;

/// How often the vCPUs of a process with a CPU-time timer armed are
/// kicked, so its CPU time is counted even if it never traps.
pub(crate) const CPU_TICK: Duration = Duration::from_millis(4);

/// struct k_itimer (its slab cache's object).
pub(crate) const K_ITIMER_BYTES: u64 = 256;

/// The most POSIX timers a process may hold (Linux's ids are an int; the
/// bound keeps a guest from holding unbounded host memory, and each is
/// charged to kernel memory before it is made).
pub(crate) const MAX_POSIX_TIMERS: usize = 1 << 16;

/// A CPU-time interval timer: when it expires, in the process's CPU
/// nanoseconds, and its interval.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct CpuItimer {
    pub expires: Option<u64>,
    pub interval: u64,
}

/// How a POSIX timer tells its expiry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Notify {
    None,
    /// A signal to the process.
    Process {
        signo: i32,
    },
    /// A signal to one of its threads (SIGEV_THREAD_ID).
    Thread {
        signo: i32,
        tid: Tid,
    },
}

pub(crate) struct PosixTimer {
    pub clock: u64,
    pub notify: Notify,
    pub value: u64,
    /// On the clock's nanoseconds (CPU clocks: the process's CPU time).
    pub timer: Timer,
    /// Expirations missed while its signal was pending, and at the last
    /// signal (timer_getoverrun).
    pub overrun: u64,
    pub overrun_last: u64,
    _kmem: KmemCharge,
}

impl PosixTimer {
    pub(crate) fn new(clock: u64, notify: Notify, value: u64, kmem: KmemCharge) -> Self {
        PosixTimer { clock, notify, value, timer: Timer::default(), overrun: 0, overrun_last: 0, _kmem: kmem }
    }

    pub(crate) fn cpu(&self) -> bool {
        matches!(self.clock, CLOCK_PROCESS_CPUTIME_ID | CLOCK_THREAD_CPUTIME_ID)
    }
}

/// A process's timers.
#[derive(Default)]
pub(crate) struct ProcTimers {
    pub virt: CpuItimer,
    pub prof: CpuItimer,
    pub posix: BTreeMap<i32, PosixTimer>,
    /// The next id timer_create tries (ids are handed out in order).
    pub next_id: i32,
}

impl ProcTimers {
    /// Whether anything here counts CPU time (the supervisor kicks).
    pub(crate) fn cpu_armed(&self) -> bool {
        self.virt.expires.is_some()
            || self.prof.expires.is_some()
            || self.posix.values().any(|t| t.cpu() && t.timer.next.is_some())
    }

    /// The earliest wall-clock POSIX timer's expiry, as the host's time.
    pub(crate) fn next_wall(&self) -> Option<Instant> {
        self.posix.values().filter(|t| !t.cpu()).filter_map(|t| t.timer.due_at(clock_ns(t.clock))).min()
    }

    /// What exec leaves: no POSIX timers (exit_itimers); the interval
    /// timers stay.
    pub(crate) fn exec(&mut self) {
        self.posix.clear();
    }
}

impl Process {
    /// Whether its CPU time is watched as it runs: a CPU-time timer is
    /// armed, or RLIMIT_CPU is set.
    pub(crate) fn cpu_watched(&self) -> bool {
        self.timers.cpu_armed() || self.limits.cur(RLIMIT_CPU) != RLIM_INFINITY
    }
}

impl KernelState {
    /// The process's CPU time, in nanoseconds: user, and user and system.
    pub(crate) fn cpu_times(&self, pid: Pid) -> (u64, u64) {
        self.tasks.proc(pid).map_or((0, 0), |p| (p.rusage.utime_ns, p.rusage.utime_ns + p.rusage.stime_ns))
    }

    /// Fires process `pid`'s CPU-time timers that are due: SIGVTALRM,
    /// SIGPROF, and the CPU-clock POSIX timers.
    pub(crate) fn fire_cpu_timers(&mut self, pid: Pid) {
        let (user, total) = self.cpu_times(pid);
        if !self.check_cpu_rlimit(pid, total) {
            return;
        }
        let Some(p) = self.tasks.proc_mut(pid) else { return };
        if p.is_zombie() || !p.timers.cpu_armed() {
            return;
        }
        let mut signals = Vec::new();
        for (t, now, sig) in [(&mut p.timers.virt, user, SIGVTALRM), (&mut p.timers.prof, total, SIGPROF)] {
            if let Some(at) = t.expires.filter(|&at| at <= now) {
                t.expires = (t.interval > 0).then(|| at + t.interval * ((now - at) / t.interval + 1));
                signals.push(sig);
            }
        }
        for sig in signals {
            self.send_process_signal(pid, SigInfo::kernel(sig));
        }
        self.fire_posix_timers(pid, true, total as i128);
    }

    /// RLIMIT_CPU at CPU time `total` (ns), as check_process_timers():
    /// SIGKILL at the hard limit; SIGXCPU at the soft one, which then
    /// moves a second on (a SIGXCPU every second of CPU time until the
    /// hard limit). False if the process was killed.
    fn check_cpu_rlimit(&mut self, pid: Pid, total: u64) -> bool {
        const NS: u64 = 1_000_000_000;
        let Some(p) = self.tasks.proc_mut(pid) else { return false };
        let lim = p.limits.get(RLIMIT_CPU);
        if lim.cur == RLIM_INFINITY || p.is_zombie() {
            return true;
        }
        if lim.max != RLIM_INFINITY && total >= lim.max.saturating_mul(NS) {
            self.kill_process(pid, ExitStatus::Killed(SIGKILL));
            return false;
        }
        if total >= lim.cur.saturating_mul(NS) {
            p.limits.set_cur(RLIMIT_CPU, lim.cur.saturating_add(1));
            self.send_process_signal(pid, SigInfo::kernel(SIGXCPU));
        }
        true
    }

    /// Fires process `pid`'s POSIX timers that are due: the CPU-clock
    /// ones (`cpu`, at CPU time `now`) or the wall-clock ones.
    pub(crate) fn fire_posix_timers(&mut self, pid: Pid, cpu: bool, now: i128) {
        let Some(p) = self.tasks.proc_mut(pid) else { return };
        let mut sends = Vec::new();
        for (&id, t) in p.timers.posix.iter_mut().filter(|(_, t)| t.cpu() == cpu) {
            let now = if cpu { now } else { clock_ns(t.clock) };
            let n = t.timer.advance(now);
            if n == 0 {
                continue;
            }
            t.timer.ticks = 0;
            sends.push((id, n, t.notify, t.value));
        }
        for (id, n, notify, value) in sends {
            // A signal of this timer's still queued: the expirations are
            // overruns it will report (posix_timer_queue_signal).
            let queued = self.timer_signal_queued(pid, id);
            let Some(t) = self.tasks.proc_mut(pid).and_then(|p| p.timers.posix.get_mut(&id)) else { continue };
            if queued {
                t.overrun = t.overrun.saturating_add(n);
                continue;
            }
            let overrun = t.overrun.saturating_add(n - 1);
            t.overrun = 0;
            let info = |signo| SigInfo {
                signo,
                code: SI_TIMER,
                pid: id as u32,
                uid: overrun.min(i32::MAX as u64) as u32,
                value,
                ..Default::default()
            };
            match notify {
                Notify::None => {}
                Notify::Process { signo } => self.send_process_signal(pid, info(signo)),
                Notify::Thread { signo, tid } => self.send_thread_signal(tid, info(signo)),
            }
        }
    }

    /// The supervisor's round: fires the wall-clock POSIX timers due,
    /// kicks the running threads of processes with a CPU-time timer armed
    /// (their CPU time is counted at the kick); when to come back.
    pub(crate) fn fire_process_timers(&mut self) -> Option<Instant> {
        let pids: Vec<Pid> = self
            .tasks
            .procs()
            .filter(|p| !p.is_zombie() && (!p.timers.posix.is_empty() || p.cpu_watched()))
            .map(|p| p.pid)
            .collect();
        let mut next: Option<Instant> = None;
        for pid in pids {
            self.fire_posix_timers(pid, false, 0);
            let Some(p) = self.tasks.proc(pid) else { continue };
            next = [next, p.timers.next_wall()].into_iter().flatten().min();
            if p.cpu_watched() {
                for t in p.threads.iter().filter_map(|&t| self.tasks.thread(t)).filter(|t| !t.sleeping) {
                    t.wake();
                }
                let tick = Instant::now() + CPU_TICK;
                next = Some(next.map_or(tick, |n| n.min(tick)));
            }
        }
        next
    }

    /// A POSIX timer's signal `info` is being taken: its overrun is what
    /// the timer missed while it was queued (posixtimer_deliver_signal).
    pub(crate) fn timer_signal_taken(&mut self, pid: Pid, mut info: SigInfo) -> SigInfo {
        if info.code != SI_TIMER {
            return info;
        }
        if let Some(t) = self.tasks.proc_mut(pid).and_then(|p| p.timers.posix.get_mut(&(info.pid as i32))) {
            let overrun = (info.uid as u64).saturating_add(std::mem::take(&mut t.overrun));
            t.overrun_last = overrun;
            info.uid = overrun.min(i32::MAX as u64) as u32;
        }
        info
    }

    /// Whether a signal from POSIX timer `id` of process `pid` is queued.
    fn timer_signal_queued(&self, pid: Pid, id: i32) -> bool {
        let Some(p) = self.tasks.proc(pid) else { return false };
        let mine = |i: &SigInfo| i.code == SI_TIMER && i.pid == id as u32;
        p.shared_pending.queue.iter().any(mine)
            || p.threads.iter().filter_map(|&t| self.tasks.thread(t)).any(|t| t.pending.queue.iter().any(mine))
    }
}

/// The notification a struct sigevent asks for (good_sigevent): None if
/// it is not one Linux takes.
pub(crate) fn notify_of(k: &KernelState, pid: Pid, notify: i32, signo: i32, tid: i32) -> Option<Notify> {
    let signal_ok = (1..=super::signal::NSIG).contains(&signo);
    match notify {
        n if n == SIGEV_SIGNAL | SIGEV_THREAD_ID => {
            let t = k.tasks.thread(u32::try_from(tid).ok()?)?;
            (t.pid == pid && signal_ok).then_some(Notify::Thread { signo, tid: t.tid })
        }
        // SIGEV_THREAD is the C library's: the kernel sends its signal.
        SIGEV_SIGNAL | super::abi::epoll::SIGEV_THREAD => signal_ok.then_some(Notify::Process { signo }),
        SIGEV_NONE => Some(Notify::None),
        _ => None,
    }
}
