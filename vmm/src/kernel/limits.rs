//! Resource limits (struct rlimit per resource). A process may lower
//! limits and raise a soft limit up to its hard limit; raising a hard
//! limit takes CAP_SYS_RESOURCE.

use super::errno::{Errno, EINVAL, EPERM};

pub const RLIMIT_CPU: usize = 0;
pub const RLIMIT_FSIZE: usize = 1;
pub const RLIMIT_DATA: usize = 2;
pub const RLIMIT_STACK: usize = 3;
pub const RLIMIT_CORE: usize = 4;
pub const RLIMIT_NPROC: usize = 6;
pub const RLIMIT_NOFILE: usize = 7;
pub const RLIMIT_MEMLOCK: usize = 8;
pub const RLIMIT_AS: usize = 9;
pub const RLIM_NLIMITS: usize = 16;
pub const RLIM_INFINITY: u64 = u64::MAX;
/// fs.nr_open: the most RLIMIT_NOFILE may be.
pub const NR_OPEN: u64 = 1_048_576;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rlimit {
    pub cur: u64,
    pub max: u64,
}

#[derive(Clone, Debug)]
pub struct Limits {
    table: [Rlimit; RLIM_NLIMITS],
}

impl Limits {
    /// Linux's defaults for a login session, with the sandbox's stack,
    /// locked-memory and process limits.
    pub fn new(stack: u64, memlock: u64, nproc: u64) -> Self {
        let inf = Rlimit { cur: RLIM_INFINITY, max: RLIM_INFINITY };
        let mut table = [inf; RLIM_NLIMITS];
        table[RLIMIT_CORE] = Rlimit { cur: 0, max: RLIM_INFINITY };
        table[RLIMIT_NPROC] = Rlimit { cur: nproc, max: nproc };
        table[RLIMIT_NOFILE] = Rlimit { cur: 1024, max: 1_048_576 };
        table[RLIMIT_STACK] = Rlimit { cur: stack, max: RLIM_INFINITY };
        table[RLIMIT_MEMLOCK] = Rlimit { cur: memlock, max: memlock };
        table[11] = Rlimit { cur: 4096, max: 4096 }; // SIGPENDING
        table[12] = Rlimit { cur: 819_200, max: 819_200 }; // MSGQUEUE
        table[13] = Rlimit { cur: 0, max: 0 }; // NICE
        table[14] = Rlimit { cur: 0, max: 0 }; // RTPRIO
        Limits { table }
    }

    pub fn cur(&self, r: usize) -> u64 {
        self.table[r].cur
    }

    pub fn get(&self, r: usize) -> Rlimit {
        self.table[r]
    }

    /// do_prlimit(): `privileged` is CAP_SYS_RESOURCE.
    pub fn set(&mut self, r: usize, new: Rlimit, privileged: bool) -> Result<(), Errno> {
        if new.cur > new.max {
            return Err(EINVAL);
        }
        if new.max > self.table[r].max && !privileged {
            return Err(EPERM);
        }
        // fs.nr_open caps RLIMIT_NOFILE for everyone.
        if r == RLIMIT_NOFILE && new.max > NR_OPEN {
            return Err(EPERM);
        }
        self.table[r] = new;
        Ok(())
    }
}
