//! A thread: what the kernel keeps per schedulable entity (Linux's
//! task_struct minus what the process shares): its signal mask and pending
//! signals, TLS bases, the futex word to clear at exit, and how to reach the
//! vCPU thread running it.

use std::sync::Arc;

use parking_lot::Condvar;

use super::abi::signal::SS_DISABLE;
use super::process::{Pid, Tid};
use super::signal::{SigPending, SigSet};
use crate::arch::fpu::FpuState;
use crate::arch::UserRegs;
use crate::hv::Kicker;

/// Where a thread starts when its vCPU first runs it.
#[derive(Clone)]
pub(crate) struct StartState {
    pub(crate) regs: UserRegs,
    /// FPU/SSE/AVX state (a fork or clone copies its parent's); `None`: a
    /// fresh program's.
    pub(crate) fpu: Option<FpuState>,
}

/// sigaltstack(2)'s stack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct AltStack {
    pub(crate) sp: u64,
    pub(crate) flags: u32,
    pub(crate) size: u64,
}

impl Default for AltStack {
    fn default() -> Self {
        AltStack { sp: 0, flags: SS_DISABLE, size: 0 }
    }
}

impl AltStack {
    pub(crate) fn contains(&self, sp: u64) -> bool {
        self.flags & SS_DISABLE == 0 && sp > self.sp && sp - self.sp <= self.size
    }
}

/// What restart_syscall(2) continues (Linux's restart_block).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RestartBlock {
    /// A relative nanosleep or clock_nanosleep: until `deadline`, writing
    /// what is left to `rem` if interrupted again.
    Sleep { deadline: std::time::Instant, rem: u64 },
    /// A futex wait with a timeout: the same wait, to the same deadline.
    Futex { addr: u64, val: u32, deadline: std::time::Instant, bitset: u32, private: bool },
}

pub(crate) struct Thread {
    pub(crate) tid: Tid,
    pub(crate) pid: Pid,
    /// Set until its vCPU picks it up.
    pub(crate) start: Option<StartState>,
    pub(crate) tls: crate::arch::regs::Tls,
    /// set_tid_address / CLONE_CHILD_CLEARTID: zeroed and futex-woken at
    /// exit.
    pub(crate) clear_child_tid: u64,
    pub(crate) robust_list: (u64, u64),
    /// rseq area (address, length, signature).
    pub(crate) rseq: Option<(u64, u32, u32)>,
    pub(crate) sigmask: SigSet,
    /// The mask to restore after a sigsuspend-like call delivers a signal.
    pub(crate) saved_mask: Option<SigSet>,
    pub(crate) pending: SigPending,
    pub(crate) altstack: AltStack,
    pub(crate) restart_block: Option<RestartBlock>,
    /// Its own condition variable, paired with the kernel lock: a blocked
    /// thread sleeps on it.
    pub(crate) cond: Arc<Condvar>,
    /// How to stop its vCPU, while a vCPU thread runs it.
    pub(crate) kicker: Option<Kicker>,
    /// The host thread running it (userfaultfd reports faults by it).
    pub(crate) host_tid: Option<i32>,
    /// Must stop at the next chance (SIGKILL, exit_group, another thread's
    /// exec).
    pub killed: bool,
    /// Exited; waits only for its vCPU thread to see it.
    pub exited: bool,
    /// Blocked in the kernel (/proc shows `S (sleeping)`).
    pub(crate) sleeping: bool,
    /// Stopped by job control (/proc shows `T (stopped)`).
    pub(crate) stopped: bool,
    /// Time the syscall ring's server spent on this thread's calls since
    /// its vCPU last stopped: kernel time inside what looks like guest
    /// time (the vCPU waited in the stub meanwhile).
    pub(crate) ring_ns: u64,
    /// Its task_struct and kernel stack, given back when it goes.
    pub(crate) kmem: Option<[crate::mm::KmemCharge; 2]>,
    /// The process and region of the page fault its vCPU stopped for, until
    /// the vCPU goes back in: the time it was held is measured to then.
    pub(crate) held: Option<(Pid, crate::timeline::RegionId)>,
}

impl Thread {
    pub(crate) fn new(tid: Tid, pid: Pid, start: StartState) -> Self {
        Thread {
            tid,
            pid,
            start: Some(start),
            tls: Default::default(),
            clear_child_tid: 0,
            robust_list: (0, 0),
            rseq: None,
            sigmask: 0,
            saved_mask: None,
            pending: SigPending::default(),
            altstack: AltStack::default(),
            restart_block: None,
            cond: Arc::new(Condvar::new()),
            kicker: None,
            host_tid: None,
            killed: false,
            exited: false,
            sleeping: false,
            stopped: false,
            ring_ns: 0,
            kmem: None,
            held: None,
        }
    }

    /// Wakes the thread wherever it is: blocked in the kernel, or running
    /// in its vCPU.
    pub(crate) fn wake(&self) {
        self.cond.notify_all();
        if let Some(k) = &self.kicker {
            k.kick();
        }
    }
}
