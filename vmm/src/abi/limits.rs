//! Resource limits: prlimit64, getrlimit, setrlimit. The program is an
//! unprivileged process: it may lower limits, and raise a soft limit up to
//! its hard limit, never the hard limit itself.

use super::errno::*;
use super::Task;

pub const RLIMIT_DATA: usize = 2;
pub const RLIMIT_STACK: usize = 3;
pub const RLIMIT_NOFILE: usize = 7;
pub const RLIMIT_MEMLOCK: usize = 8;
pub const RLIMIT_AS: usize = 9;
pub const RLIM_NLIMITS: usize = 16;
pub const RLIM_INFINITY: u64 = u64::MAX;

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
    /// Linux's defaults for a login session, with the sandbox's stack and
    /// locked-memory limits.
    pub fn new(stack: u64, memlock: u64) -> Self {
        let inf = Rlimit { cur: RLIM_INFINITY, max: RLIM_INFINITY };
        let mut table = [inf; RLIM_NLIMITS];
        table[4] = Rlimit { cur: 0, max: RLIM_INFINITY }; // CORE
        table[6] = Rlimit { cur: 4096, max: 4096 }; // NPROC
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

    fn set(&mut self, r: usize, new: Rlimit) -> Result<(), Errno> {
        if new.cur > new.max {
            return Err(EINVAL);
        }
        if new.max > self.table[r].max {
            return Err(EPERM);
        }
        self.table[r] = new;
        Ok(())
    }
}

fn read_rlimit(task: &Task, addr: u64) -> Result<Rlimit, Errno> {
    Ok(Rlimit { cur: task.read_u64(addr)?, max: task.read_u64(addr + 8)? })
}

fn write_rlimit(task: &Task, addr: u64, r: Rlimit) -> Result<(), Errno> {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&r.cur.to_le_bytes());
    b[8..].copy_from_slice(&r.max.to_le_bytes());
    task.copy_to_user(addr, &b)
}

pub fn prlimit64(task: &mut Task, pid: u64, resource: u64, new: u64, old: u64) -> SysResult {
    if pid != 0 && pid != 1 {
        return Err(ESRCH);
    }
    let r = usize::try_from(resource).ok().filter(|&r| r < RLIM_NLIMITS).ok_or(EINVAL)?;
    let new = if new != 0 { Some(read_rlimit(task, new)?) } else { None };
    if old != 0 {
        write_rlimit(task, old, task.limits.get(r))?;
    }
    if let Some(n) = new {
        task.limits.set(r, n)?;
    }
    Ok(0)
}

pub fn getrlimit(task: &mut Task, resource: u64, rlim: u64) -> SysResult {
    prlimit64(task, 0, resource, 0, rlim)
}

pub fn setrlimit(task: &mut Task, resource: u64, rlim: u64) -> SysResult {
    prlimit64(task, 0, resource, rlim, 0)
}
