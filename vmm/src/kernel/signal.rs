//! Signals: dispositions, masks, pending sets, and what happens when one is
//! delivered. Frames for handlers live in `sigframe.rs`.

use std::collections::VecDeque;

// Linux's constants and layouts for signals, named through here by the
// signal code and its callers.
pub use super::abi::signal::*;

/// A set of signals: bit `n - 1` for signal `n`.
pub type SigSet = u64;

pub const fn bit(sig: i32) -> SigSet {
    1u64 << (sig - 1)
}

/// The signals faults raise, delivered before any other (SYNCHRONOUS_MASK).
pub const SYNCHRONOUS: SigSet = bit(SIGSEGV) | bit(SIGBUS) | bit(SIGILL) | bit(SIGTRAP) | bit(SIGFPE) | bit(SIGSYS);

/// SIGKILL and SIGSTOP can be neither blocked nor caught.
pub const UNBLOCKABLE: SigSet = bit(SIGKILL) | bit(SIGSTOP);

/// struct sigaction as the kernel takes it (handler, flags, restorer, mask).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SigAction {
    pub handler: u64,
    pub flags: u64,
    pub restorer: u64,
    pub mask: SigSet,
}

/// What a signal does by default.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Terminate,
    /// Terminate with a core dump (no core is written: RLIMIT_CORE is 0).
    Core,
    Ignore,
    Stop,
    Continue,
}

pub fn default_action(sig: i32) -> Action {
    match sig {
        SIGCHLD | SIGURG | SIGWINCH => Action::Ignore,
        SIGCONT => Action::Continue,
        SIGSTOP | SIGTSTP | SIGTTIN | SIGTTOU => Action::Stop,
        SIGQUIT | SIGILL | SIGTRAP | SIGABRT | SIGBUS | SIGFPE | SIGSEGV | SIGXCPU | SIGXFSZ | SIGSYS => Action::Core,
        _ => Action::Terminate,
    }
}

/// A process's handlers (shared by its threads, copied by fork, reset to
/// default by exec where they were caught).
#[derive(Clone, Debug)]
pub struct SigHand {
    pub actions: [SigAction; NSIG as usize],
}

impl Default for SigHand {
    fn default() -> Self {
        SigHand { actions: [SigAction::default(); NSIG as usize] }
    }
}

impl SigHand {
    pub fn get(&self, sig: i32) -> SigAction {
        self.actions[(sig - 1) as usize]
    }

    pub fn set(&mut self, sig: i32, a: SigAction) {
        self.actions[(sig - 1) as usize] = a;
    }

    /// Whether `sig` is ignored (explicitly, or by default).
    pub fn ignored(&self, sig: i32) -> bool {
        match self.get(sig).handler {
            SIG_IGN => true,
            // sig_kernel_ignore(): SIGCONT too (it has continued the
            // process when it is sent; nothing stops here).
            SIG_DFL => matches!(default_action(sig), Action::Ignore | Action::Continue),
            _ => false,
        }
    }

    /// What exec leaves: caught signals go back to their default.
    pub fn reset_for_exec(&mut self) {
        for a in self.actions.iter_mut() {
            if a.handler != SIG_IGN {
                *a = SigAction::default();
            }
        }
    }
}

/// What the kernel tells a handler (siginfo_t's useful fields).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SigInfo {
    pub signo: i32,
    pub code: i32,
    pub errno: i32,
    /// Sender (kill), or child (SIGCHLD).
    pub pid: u32,
    pub uid: u32,
    /// Faulting address (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP).
    pub addr: u64,
    /// SIGCHLD: exit code or signal.
    pub status: i32,
    /// sigqueue's value.
    pub value: u64,
}

impl SigInfo {
    pub fn kernel(signo: i32) -> Self {
        SigInfo { signo, code: SI_KERNEL, ..Default::default() }
    }

    /// A signal a process sent: its pid and real uid.
    pub fn user(signo: i32, from: u32, uid: u32, code: i32) -> Self {
        SigInfo { signo, code, pid: from, uid, ..Default::default() }
    }

    pub fn fault(signo: i32, code: i32, addr: u64) -> Self {
        SigInfo { signo, code, addr, ..Default::default() }
    }
}

/// Signals waiting to be delivered: standard signals once each, real-time
/// ones queued.
#[derive(Clone, Debug, Default)]
pub struct SigPending {
    pub set: SigSet,
    pub queue: VecDeque<SigInfo>,
}

impl SigPending {
    /// Queues `info` (a standard signal already pending is not queued
    /// twice, as Linux's legacy_queue).
    pub fn add(&mut self, info: SigInfo) {
        if info.signo < SIGRTMIN && self.set & bit(info.signo) != 0 {
            return;
        }
        self.set |= bit(info.signo);
        self.queue.push_back(info);
    }

    /// Takes the lowest pending signal not in `blocked`; a synchronous one
    /// (a fault's) first, as Linux's next_signal().
    pub fn take(&mut self, blocked: SigSet) -> Option<SigInfo> {
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
    pub fn add_without_info(&mut self, sig: i32) {
        self.set |= bit(sig);
    }

    /// Takes one instance of `sig`.
    pub fn take_signal(&mut self, sig: i32) -> Option<SigInfo> {
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
    pub fn discard(&mut self, sig: i32) {
        self.queue.retain(|s| s.signo != sig);
        self.set &= !bit(sig);
    }
}

/// A signal's name, as reports print it.
pub fn name(sig: i32) -> String {
    match super::abi::name_of(SIGNALS, sig) {
        Some(n) => n.to_string(),
        None if sig == 0 => "SIG0".into(),
        // As glibc numbers them: its own threads take the first two.
        None if (SIGRTMIN + 2..=NSIG).contains(&sig) => format!("SIGRT{}", sig - (SIGRTMIN + 2)),
        None => format!("signal {sig}"),
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
