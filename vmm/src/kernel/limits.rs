//! Resource limits (struct rlimit per resource). A process may lower
//! limits and raise a soft limit up to its hard limit; raising a hard
//! limit takes CAP_SYS_RESOURCE.

use super::abi::resource::*;
use super::errno::{Errno, EINVAL, EPERM};

/// systemd's RLIMIT_NOFILE for a session (DefaultLimitNOFILE=1024:524288).
pub(crate) const NOFILE_SOFT: u64 = 1024;
pub(crate) const NOFILE_HARD: u64 = 524_288;

#[derive(Clone, Debug)]
pub(crate) struct Limits {
    table: [Rlimit; RLIM_NLIMITS],
}

impl Limits {
    /// Linux's defaults for a login session, with the sandbox's stack,
    /// locked-memory, process and pending-signal limits. RLIMIT_NOFILE is
    /// systemd's (1024 soft, so select() works; 524288 hard).
    pub(crate) fn new(stack: u64, memlock: u64, nproc: u64, sigpending: u64) -> Self {
        let inf = Rlimit { cur: RLIM_INFINITY, max: RLIM_INFINITY };
        let mut table = [inf; RLIM_NLIMITS];
        table[RLIMIT_CORE] = Rlimit { cur: 0, max: RLIM_INFINITY };
        table[RLIMIT_NPROC] = Rlimit { cur: nproc, max: nproc };
        table[RLIMIT_NOFILE] = Rlimit { cur: NOFILE_SOFT, max: NOFILE_HARD };
        table[RLIMIT_STACK] = Rlimit { cur: stack, max: RLIM_INFINITY };
        table[RLIMIT_MEMLOCK] = Rlimit { cur: memlock, max: memlock };
        table[RLIMIT_SIGPENDING] = Rlimit { cur: sigpending, max: sigpending };
        table[RLIMIT_MSGQUEUE] = Rlimit { cur: 819_200, max: 819_200 };
        table[RLIMIT_NICE] = Rlimit { cur: 0, max: 0 };
        table[RLIMIT_RTPRIO] = Rlimit { cur: 0, max: 0 };
        Limits { table }
    }

    pub(crate) fn cur(&self, r: usize) -> u64 {
        self.table[r].cur
    }

    pub(crate) fn get(&self, r: usize) -> Rlimit {
        self.table[r]
    }

    /// Sets a soft limit as the kernel itself moves it (RLIMIT_CPU's after
    /// each SIGXCPU), unchecked.
    pub(crate) fn set_cur(&mut self, r: usize, cur: u64) {
        self.table[r].cur = cur;
    }

    /// do_prlimit(): `privileged` is CAP_SYS_RESOURCE.
    pub(crate) fn set(&mut self, r: usize, new: Rlimit, privileged: bool) -> Result<(), Errno> {
        if new.cur > new.max {
            return Err(EINVAL);
        }
        // do_prlimit(): RLIMIT_NOFILE never above fs.nr_open.
        if r == RLIMIT_NOFILE && new.max > super::mm::kmem::NR_OPEN {
            return Err(EPERM);
        }
        if new.max > self.table[r].max && !privileged {
            return Err(EPERM);
        }
        self.table[r] = new;
        Ok(())
    }
}
