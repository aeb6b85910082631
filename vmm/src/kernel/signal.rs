//! Signals: dispositions, masks, pending sets, sending one to a process
//! or a thread (queued within RLIMIT_SIGPENDING) and taking the next.
//! Delivery, and frames for handlers, live in `sigframe.rs`.

use std::collections::VecDeque;

use super::errno::{Errno, EAGAIN};
use super::process::{ExitStatus, Pid, Tid};
use super::KernelState;
use crate::mm::Kmem;

// Linux's constants and layouts for signals, named through here by the
// signal code and its callers.
pub(crate) use super::abi::signal::*;

/// A set of signals: bit `n - 1` for signal `n`.
pub(crate) type SigSet = u64;

pub(crate) const fn bit(sig: i32) -> SigSet {
    1u64 << (sig - 1)
}

/// The signals faults raise, delivered before any other (SYNCHRONOUS_MASK).
pub(crate) const SYNCHRONOUS: SigSet =
    bit(SIGSEGV) | bit(SIGBUS) | bit(SIGILL) | bit(SIGTRAP) | bit(SIGFPE) | bit(SIGSYS);

/// SIGKILL and SIGSTOP can be neither blocked nor caught.
pub(crate) const UNBLOCKABLE: SigSet = bit(SIGKILL) | bit(SIGSTOP);

/// struct sigaction as the kernel takes it (handler, flags, restorer, mask).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct SigAction {
    pub(crate) handler: u64,
    pub(crate) flags: u64,
    pub(crate) restorer: u64,
    pub(crate) mask: SigSet,
}

/// What a signal does by default.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Action {
    Terminate,
    /// Terminate with a core dump (see `coredump`).
    Core,
    Ignore,
    Stop,
    Continue,
}

pub(crate) fn default_action(sig: i32) -> Action {
    match sig {
        SIGCHLD | SIGURG | SIGWINCH => Action::Ignore,
        SIGCONT => Action::Continue,
        SIGSTOP | SIGTSTP | SIGTTIN | SIGTTOU => Action::Stop,
        SIGQUIT | SIGILL | SIGTRAP | SIGABRT | SIGBUS | SIGFPE | SIGSEGV | SIGXCPU | SIGXFSZ | SIGSYS => Action::Core,
        _ => Action::Terminate,
    }
}

/// A process's handlers (Linux's sighand_struct): shared by its threads
/// and by the processes clone made with CLONE_SIGHAND, copied by fork,
/// reset to default by exec where they were caught.
pub(crate) type SigHand = super::process::Shared<SigActions>;

#[derive(Clone, Debug)]
pub(crate) struct SigActions([SigAction; NSIG as usize]);

impl Default for SigActions {
    fn default() -> Self {
        SigActions([SigAction::default(); NSIG as usize])
    }
}

impl SigHand {
    pub(crate) fn get(&self, sig: i32) -> SigAction {
        self.lock().0[(sig - 1) as usize]
    }

    pub(crate) fn set(&self, sig: i32, a: SigAction) {
        self.lock().0[(sig - 1) as usize] = a;
    }

    /// Whether `sig` is ignored (explicitly, or by default).
    pub(crate) fn ignored(&self, sig: i32) -> bool {
        match self.get(sig).handler {
            SIG_IGN => true,
            // sig_kernel_ignore(): SIGCONT too (it has continued the
            // process when it is sent; nothing stops here).
            SIG_DFL => matches!(default_action(sig), Action::Ignore | Action::Continue),
            _ => false,
        }
    }

    /// What exec leaves: caught signals go back to their default.
    pub(crate) fn reset_for_exec(&self) {
        for a in self.lock().0.iter_mut() {
            if a.handler != SIG_IGN {
                *a = SigAction::default();
            }
        }
    }
}

/// What the kernel tells a handler (siginfo_t's useful fields).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct SigInfo {
    pub(crate) signo: i32,
    pub(crate) code: i32,
    pub(crate) errno: i32,
    /// Sender (kill), or child (SIGCHLD).
    pub(crate) pid: u32,
    pub(crate) uid: u32,
    /// Faulting address (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP).
    pub(crate) addr: u64,
    /// SIGCHLD: exit code or signal.
    pub(crate) status: i32,
    /// sigqueue's value.
    pub(crate) value: u64,
    /// SIGIO's poll bits and descriptor (an F_SETSIG signal's).
    pub(crate) band: u64,
    pub(crate) fd: i32,
}

impl SigInfo {
    pub(crate) fn kernel(signo: i32) -> Self {
        SigInfo { signo, code: SI_KERNEL, ..Default::default() }
    }

    /// A signal a process sent: its pid and real uid.
    pub(crate) fn user(signo: i32, from: u32, uid: u32, code: i32) -> Self {
        SigInfo { signo, code, pid: from, uid, ..Default::default() }
    }

    pub(crate) fn fault(signo: i32, code: i32, addr: u64) -> Self {
        SigInfo { signo, code, addr, ..Default::default() }
    }
}

/// Signals waiting to be delivered: standard signals once each, real-time
/// ones queued.
#[derive(Clone, Debug, Default)]
pub(crate) struct SigPending {
    pub(crate) set: SigSet,
    pub(crate) queue: VecDeque<SigInfo>,
}

impl SigPending {
    /// Queues `info` (a standard signal already pending is not queued
    /// twice, as Linux's legacy_queue).
    pub(crate) fn add(&mut self, info: SigInfo) {
        if info.signo < SIGRTMIN && self.set & bit(info.signo) != 0 {
            return;
        }
        self.set |= bit(info.signo);
        self.queue.push_back(info);
    }

    /// Takes the lowest pending signal not in `blocked`; a synchronous one
    /// (a fault's) first, as Linux's next_signal().
    pub(crate) fn take(&mut self, blocked: SigSet) -> Option<SigInfo> {
        let mut ready = self.set & !blocked;
        if ready == 0 {
            return None;
        }
        if ready & SYNCHRONOUS != 0 {
            ready &= SYNCHRONOUS;
        }
        let sig = ready.trailing_zeros() as i32 + 1;
        self.take_signal(sig)
    }

    /// Marks `sig` pending with no siginfo (no queue entry could be had:
    /// RLIMIT_SIGPENDING, or memory); it is taken with a zeroed one.
    fn add_without_info(&mut self, sig: i32) {
        self.set |= bit(sig);
    }

    /// Takes one instance of `sig`.
    fn take_signal(&mut self, sig: i32) -> Option<SigInfo> {
        let Some(i) = self.queue.iter().position(|s| s.signo == sig) else {
            // collect_signal(): pending but not queued, its info lost.
            if self.set & bit(sig) == 0 {
                return None;
            }
            self.set &= !bit(sig);
            return Some(SigInfo { signo: sig, code: SI_USER, ..Default::default() });
        };
        let info = self.queue.remove(i)?;
        if !self.queue.iter().any(|s| s.signo == sig) {
            self.set &= !bit(sig);
        }
        Some(info)
    }

    /// Drops every pending instance of `sig`.
    pub(crate) fn discard(&mut self, sig: i32) {
        self.queue.retain(|s| s.signo != sig);
        self.set &= !bit(sig);
    }
}

/// A signal's name, as reports print it.
pub(crate) fn name(sig: i32) -> String {
    match super::abi::name_of(SIGNALS, sig) {
        Some(n) => n.to_string(),
        None if sig == 0 => "SIG0".into(),
        // As glibc numbers them: its own threads take the first two.
        None if (SIGRTMIN + 2..=NSIG).contains(&sig) => format!("SIGRT{}", sig - (SIGRTMIN + 2)),
        None => format!("signal {sig}"),
    }
}

impl KernelState {
    /// Queues `info` for process `pid` (any thread that does not block it
    /// takes it).
    pub(crate) fn send_process_signal(&mut self, pid: Pid, info: SigInfo) {
        let _ = self.try_send_process_signal(pid, info);
    }

    /// The same, with EAGAIN for a real-time signal from sigqueue that
    /// finds no room in the queues (RLIMIT_SIGPENDING).
    pub(crate) fn try_send_process_signal(&mut self, pid: Pid, info: SigInfo) -> Result<(), Errno> {
        let Some(p) = self.tasks.proc(pid) else { return Ok(()) };
        if p.is_zombie() {
            return Ok(());
        }
        if info.signo == SIGKILL {
            self.kill_process(pid, ExitStatus::Killed(SIGKILL));
            return Ok(());
        }
        self.jobctl_on_send(pid, info.signo);
        let Some(p) = self.tasks.proc(pid) else { return Ok(()) };
        // Ignored signals are dropped at once (SIGCONT has continued),
        // unless blocked (sig_ignored: the handler may change by the time
        // it is unblocked, and a signalfd may take it).
        let leader_blocks = self.tasks.thread(pid).is_some_and(|t| t.sigmask & bit(info.signo) != 0);
        if p.sig.ignored(info.signo) && !leader_blocks {
            return Ok(());
        }
        let legacy = info.signo < SIGRTMIN && p.shared_pending.set & bit(info.signo) != 0;
        let queue = legacy || self.sigqueue_admit(pid, &info)?;
        let p = self.tasks.proc_mut(pid).expect("just found");
        if queue {
            p.shared_pending.add(info);
        } else {
            p.shared_pending.add_without_info(info.signo);
        }
        let threads = p.threads.clone();
        // Wake a thread that can take it (or all: each re-checks).
        for tid in threads {
            if let Some(t) = self.tasks.thread(tid) {
                if t.sigmask & bit(info.signo) == 0 {
                    t.wake();
                    break;
                }
            }
        }
        self.procfs.changed();
        self.files.events().signal_wq.wake_all();
        Ok(())
    }

    /// Queues `info` for thread `tid` alone.
    pub(crate) fn send_thread_signal(&mut self, tid: Tid, info: SigInfo) {
        let _ = self.try_send_thread_signal(tid, info);
    }

    /// The same, with EAGAIN as [`KernelState::try_send_process_signal`].
    pub(crate) fn try_send_thread_signal(&mut self, tid: Tid, info: SigInfo) -> Result<(), Errno> {
        let Some(t) = self.tasks.thread(tid) else { return Ok(()) };
        if info.signo == SIGKILL {
            let pid = t.pid;
            self.kill_process(pid, ExitStatus::Killed(SIGKILL));
            return Ok(());
        }
        let pid = t.pid;
        self.jobctl_on_send(pid, info.signo);
        let Some(t) = self.tasks.thread(tid) else { return Ok(()) };
        let blocked = t.sigmask & bit(info.signo) != 0;
        if !blocked && self.tasks.proc(pid).is_some_and(|p| p.sig.ignored(info.signo)) {
            return Ok(());
        }
        let legacy = info.signo < SIGRTMIN && t.pending.set & bit(info.signo) != 0;
        let queue = legacy || self.sigqueue_admit(pid, &info)?;
        let t = self.tasks.thread_mut(tid).expect("just found");
        if queue {
            t.pending.add(info);
        } else {
            t.pending.add_without_info(info.signo);
        }
        t.wake();
        self.files.events().signal_wq.wake_all();
        Ok(())
    }

    /// __sigqueue_alloc() for a signal to process `pid`: true if `info`
    /// gets a queue entry (within the target's RLIMIT_SIGPENDING, counted
    /// over the sandbox's user, and with kernel memory for it). A standard
    /// signal from the kernel or kill() goes past the limit; one that
    /// finds no entry is pending without its info (false), except a
    /// real-time one not from kill(): EAGAIN, as __send_signal_locked().
    fn sigqueue_admit(&mut self, pid: Pid, info: &SigInfo) -> Result<bool, Errno> {
        let limit = self.tasks.proc(pid).map_or(0, |p| p.limits.cur(super::abi::resource::RLIMIT_SIGPENDING));
        let override_rlimit = info.signo < SIGRTMIN && info.code >= 0;
        let queued = self.tasks.sigqueued();
        self.tasks.sigqueue_sync();
        if override_rlimit || queued < limit {
            let charged = match self.tasks.take_sigqueue_charge() {
                Some(mut c) => {
                    let r = self.kmem_grow(&mut c, Kmem::SigQueue);
                    self.tasks.put_sigqueue_charge(c);
                    r
                }
                None => self.kmem_charge(Kmem::SigQueue, 1).map(|c| self.tasks.put_sigqueue_charge(c)),
            };
            if charged.is_ok() {
                return Ok(true);
            }
        }
        if info.signo >= SIGRTMIN && info.code != SI_USER {
            return Err(EAGAIN);
        }
        Ok(false)
    }

    /// The next signal thread `tid` should take, if any.
    pub(crate) fn next_signal(&mut self, tid: Tid) -> Option<SigInfo> {
        let t = self.tasks.thread_mut(tid)?;
        let mask = t.sigmask;
        let pid = t.pid;
        let info = match t.pending.take(mask) {
            Some(i) => Some(i),
            None => self.tasks.proc_mut(pid)?.shared_pending.take(mask),
        };
        if info.is_some() {
            self.tasks.sigqueue_sync();
        }
        info.map(|i| self.timer_signal_taken(pid, i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_signals_pend_once_realtime_ones_queue() {
        let mut p = SigPending::default();
        p.add(SigInfo::kernel(SIGUSR1));
        p.add(SigInfo::kernel(SIGUSR1));
        p.add(SigInfo::kernel(40));
        p.add(SigInfo::kernel(40));
        assert_eq!(p.queue.len(), 3);
        // Lowest first; a blocked one waits.
        assert_eq!(p.take(bit(SIGUSR1)).unwrap().signo, 40);
        assert_eq!(p.take(0).unwrap().signo, SIGUSR1);
        assert_eq!(p.take(0).unwrap().signo, 40);
        assert_eq!(p.take(0), None);
        assert_eq!(p.set, 0);
        // A fault's signal goes first, whatever its number.
        p.add(SigInfo::kernel(SIGINT));
        p.add(SigInfo::fault(SIGSEGV, SEGV_MAPERR, 0));
        assert_eq!(p.take(0).unwrap().signo, SIGSEGV);
        assert_eq!(p.take(0).unwrap().signo, SIGINT);
    }

    #[test]
    fn defaults_are_linuxs() {
        assert_eq!(default_action(SIGCHLD), Action::Ignore);
        assert_eq!(default_action(SIGSEGV), Action::Core);
        assert_eq!(default_action(SIGPIPE), Action::Terminate);
        assert_eq!(name(SIGSEGV), "SIGSEGV");
        assert_eq!(name(35), "SIGRT1");
    }
}
