//! Job control: stopping and continuing processes (kernel/signal.c's
//! prepare_signal, do_signal_stop and do_notify_parent_cldstop). A stop
//! signal whose action is the default stops every thread of the process
//! until SIGCONT (or SIGKILL); the parent hears by SIGCHLD (CLD_STOPPED,
//! CLD_CONTINUED, unless it asked SA_NOCLDSTOP) and by wait's WUNTRACED
//! and WCONTINUED, each change reported once. As in Linux, a stop is
//! reported only when it is complete: when every thread has stopped
//! (task_participate_group_stop, SIGNAL_STOP_STOPPED).

use super::abi::signal::SA_NOCLDSTOP;
use super::abi::wait::{CLD_CONTINUED, CLD_STOPPED};
use super::process::Pid;
use super::signal::{self, bit, Action, SigInfo, SigSet, SIGCHLD, SIGCONT, SIGSTOP};
use super::KernelState;

/// A change the parent's wait has not been told of yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Change {
    /// Stopped by this signal (WIFSTOPPED, WSTOPSIG).
    Stopped(i32),
    /// Continued by SIGCONT (WIFCONTINUED).
    Continued,
}

impl Change {
    /// The status word wait4 stores.
    pub(crate) fn wait_status(self) -> i32 {
        match self {
            Change::Stopped(sig) => (sig << 8) | 0x7f,
            Change::Continued => 0xffff,
        }
    }

    /// waitid's si_code and si_status.
    pub(crate) fn cld(self) -> (i32, i32) {
        match self {
            Change::Stopped(sig) => (CLD_STOPPED, sig),
            Change::Continued => (CLD_CONTINUED, SIGCONT),
        }
    }
}

/// A process's job-control state (signal_struct's SIGNAL_STOP_* flags and
/// group_exit_code).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct JobCtl {
    /// The signal that stopped it, while it is stopped.
    pub(crate) stopped: Option<i32>,
    /// Whether every thread has stopped (SIGNAL_STOP_STOPPED): until
    /// then the stop is in progress and nobody has been told.
    pub(crate) complete: bool,
    /// What its parent's wait has not reported yet.
    pub(crate) unreported: Option<Change>,
}

/// The signals whose default action stops (sig_kernel_stop).
fn stop_signals() -> SigSet {
    (1..=signal::NSIG).filter(|&s| signal::default_action(s) == Action::Stop).fold(0, |m, s| m | bit(s))
}

impl KernelState {
    /// prepare_signal()'s job control, for `sig` sent to process `pid`
    /// whether or not it is blocked or ignored: a stop signal cancels a
    /// pending SIGCONT; SIGCONT cancels pending stops and continues the
    /// process if it is stopped.
    pub(crate) fn jobctl_on_send(&mut self, pid: Pid, sig: i32) {
        let drop: SigSet = match sig {
            SIGCONT => stop_signals(),
            s if signal::default_action(s) == Action::Stop => bit(SIGCONT),
            _ => return,
        };
        let Some(p) = self.tasks.proc_mut(pid) else { return };
        for s in (1..=signal::NSIG).filter(|&s| drop & bit(s) != 0) {
            p.shared_pending.discard(s);
        }
        let (threads, was_stopped) = (p.threads.clone(), p.jobctl.stopped.is_some());
        for tid in &threads {
            if let Some(t) = self.tasks.thread_mut(*tid) {
                for s in (1..=signal::NSIG).filter(|&s| drop & bit(s) != 0) {
                    t.pending.discard(s);
                }
            }
        }
        if sig == SIGCONT && was_stopped {
            let p = self.tasks.proc_mut(pid).expect("just found");
            let complete = p.jobctl.complete;
            p.jobctl = JobCtl { stopped: None, complete: false, unreported: Some(Change::Continued) };
            for tid in threads {
                if let Some(t) = self.tasks.thread(tid) {
                    t.wake();
                }
            }
            self.procfs.changed();
            // A stop cut short before it completed is told as CLD_STOPPED
            // with the exit code already cleared (prepare_signal's
            // SIGNAL_CLD_STOPPED with group_exit_code 0).
            self.notify_parent_cldstop(pid, if complete { Change::Continued } else { Change::Stopped(0) });
        }
    }

    /// do_signal_stop(): process `pid` took stop signal `sig` with its
    /// default action. False if the signal is discarded instead: SIGTSTP,
    /// SIGTTIN and SIGTTOU in an orphaned process group (no one is there
    /// to continue it), and any stop for pid 1, which as the namespace's
    /// init ignores signals it has no handler for (SIGNAL_UNKILLABLE).
    pub(crate) fn jobctl_stop(&mut self, pid: Pid, sig: i32) -> bool {
        let Some(p) = self.tasks.proc(pid) else { return false };
        if pid == 1 || (sig != SIGSTOP && self.pgrp_orphaned(p.pgid)) {
            return false;
        }
        let p = self.tasks.proc_mut(pid).expect("just found");
        p.jobctl = JobCtl { stopped: Some(sig), complete: false, unreported: None };
        // Every thread stops at its next chance (a blocked one is
        // interrupted, see Ctx::interrupted); the last to stop tells the
        // parent (jobctl_participate).
        for tid in p.threads.clone() {
            if let Some(t) = self.tasks.thread(tid) {
                t.wake();
            }
        }
        self.procfs.changed();
        true
    }

    /// task_participate_group_stop(): a thread of `pid` has stopped or
    /// exited; if it was the last one running of a stop in progress, the
    /// stop is complete and the parent hears of it.
    pub(crate) fn jobctl_participate(&mut self, pid: Pid) {
        let Some(p) = self.tasks.proc(pid) else { return };
        let Some(sig) = p.jobctl.stopped.filter(|_| !p.jobctl.complete) else { return };
        if p.is_zombie() || !p.threads.iter().all(|&t| self.tasks.thread(t).is_none_or(|t| t.stopped || t.exited)) {
            return;
        }
        let p = self.tasks.proc_mut(pid).expect("just found");
        p.jobctl.complete = true;
        p.jobctl.unreported = Some(Change::Stopped(sig));
        self.procfs.changed();
        self.notify_parent_cldstop(pid, Change::Stopped(sig));
    }

    /// Whether process `pid` is stopped.
    pub(crate) fn is_stopped(&self, pid: Pid) -> bool {
        self.tasks.proc(pid).is_some_and(|p| p.jobctl.stopped.is_some())
    }

    /// do_notify_parent_cldstop(): SIGCHLD to the parent unless its
    /// handler said SA_NOCLDSTOP; its waiters are woken either way.
    fn notify_parent_cldstop(&mut self, pid: Pid, change: Change) {
        let Some(p) = self.tasks.proc(pid) else { return };
        let (ppid, uid) = (p.ppid, p.cred.uid);
        let Some(parent) = self.tasks.proc(ppid) else { return };
        if parent.sig.get(SIGCHLD).flags & SA_NOCLDSTOP == 0 {
            let (code, status) = change.cld();
            let info = SigInfo { signo: SIGCHLD, code, pid, uid, status, ..Default::default() };
            self.send_process_signal(ppid, info);
        }
        if let Some(parent) = self.tasks.proc(ppid) {
            parent.child_wait.wake_all();
        }
    }

    /// will_become_orphaned_pgrp(): no member of group `pgid` has a parent
    /// in another group of the same session.
    fn pgrp_orphaned(&self, pgid: Pid) -> bool {
        !self
            .tasks
            .procs()
            .filter(|p| p.pgid == pgid && !p.is_zombie())
            .any(|p| self.tasks.proc(p.ppid).is_some_and(|parent| parent.pgid != pgid && parent.sid == p.sid))
    }
}
