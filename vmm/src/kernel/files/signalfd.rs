//! signalfd, as fs/signalfd.c: a descriptor a read of which dequeues the
//! reader's pending signals that are in its mask (the thread's own first,
//! then the process's), each as a struct signalfd_siginfo, and which polls
//! readable while one is pending. Sending a signal wakes its waiters.

use parking_lot::Mutex;

use crate::kernel::abi::epoll::SignalfdSiginfo;
use crate::kernel::process::Tid;
use crate::kernel::signal::*;
use crate::kernel::KernelState;
use crate::mm::KmemCharge;
use zerocopy::FromZeros;

/// struct signalfd_ctx (a sigset_t, kmalloc'd).
pub(crate) const SIGNALFD_CTX_BYTES: u64 = 8;

/// SI_TIMER: a POSIX timer's si_code.
pub(crate) const SI_TIMER: i32 = -2;
/// SI_SIGIO.
pub(crate) const SI_SIGIO: i32 = -5;

pub(crate) struct SignalFd {
    /// The signals it takes (never SIGKILL or SIGSTOP).
    pub mask: Mutex<SigSet>,
    _kmem: KmemCharge,
}

impl SignalFd {
    pub(crate) fn new(mask: SigSet, kmem: KmemCharge) -> Self {
        SignalFd { mask: Mutex::new(mask & !UNBLOCKABLE), _kmem: kmem }
    }

    pub(crate) fn mask(&self) -> SigSet {
        *self.mask.lock()
    }

    /// signalfd_show_fdinfo's line.
    pub(crate) fn fdinfo(&self) -> String {
        format!("sigmask:\t{:016x}\n", self.mask())
    }
}

/// signalfd_copyinfo: `i` as a read of a signalfd shows it, by the layout
/// its code gives it (siginfo_layout).
pub(crate) fn to_signalfd_siginfo(i: &SigInfo) -> SignalfdSiginfo {
    let mut s = SignalfdSiginfo::new_zeroed();
    s.ssi_signo = i.signo as u32;
    s.ssi_errno = i.errno;
    s.ssi_code = i.code;
    let fault = matches!(i.signo, SIGSEGV | SIGBUS | SIGILL | SIGFPE | SIGTRAP);
    if i.code > 0 && i.code != SI_KERNEL && fault {
        s.ssi_addr = i.addr;
    } else if i.code > 0 && i.code != SI_KERNEL && i.signo == SIGCHLD {
        s.ssi_pid = i.pid;
        s.ssi_uid = i.uid;
        s.ssi_status = i.status;
    } else if i.code == SI_TIMER {
        // The timer's id and overrun ride in the pid and uid fields, where
        // siginfo's _timer puts them.
        s.ssi_tid = i.pid;
        s.ssi_overrun = i.uid;
        s.ssi_ptr = i.value;
        s.ssi_int = i.value as i32;
    } else if i.code < 0 && i.code != SI_SIGIO {
        s.ssi_pid = i.pid;
        s.ssi_uid = i.uid;
        s.ssi_ptr = i.value;
        s.ssi_int = i.value as i32;
    } else {
        s.ssi_pid = i.pid;
        s.ssi_uid = i.uid;
    }
    s
}

impl KernelState {
    /// Whether thread `tid` (or its process) has a signal of `mask`
    /// pending.
    pub(crate) fn signal_pending_in(&self, tid: Tid, mask: SigSet) -> bool {
        let Some(t) = self.tasks.thread(tid) else { return false };
        let shared = self.tasks.proc(t.pid).map_or(0, |p| p.shared_pending.set);
        (t.pending.set | shared) & mask != 0
    }

    /// dequeue_signal() for a signalfd: the next signal of `mask` pending
    /// for thread `tid`, its own first, then its process's.
    pub(crate) fn dequeue_signal_in(&mut self, tid: Tid, mask: SigSet) -> Option<SigInfo> {
        let t = self.tasks.thread_mut(tid)?;
        let pid = t.pid;
        let info = match t.pending.take(!mask) {
            Some(i) => Some(i),
            None => self.tasks.proc_mut(pid)?.shared_pending.take(!mask),
        };
        if info.is_some() {
            self.tasks.sigqueue_sync();
            self.procfs.changed();
        }
        info.map(|i| self.timer_signal_taken(pid, i))
    }
}
