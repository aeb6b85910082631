//! Resource limits: prlimit64, getrlimit, setrlimit.

use super::super::abi::resource::{Rlimit, RLIMIT_CPU, RLIM_NLIMITS};
use super::super::errno::*;
use super::super::task::Ctx;

pub(crate) fn prlimit64(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let (pid, resource, new, old) = (a[0] as u32, a[1], a[2], a[3]);
    let target = if pid == 0 { ctx.pid } else { pid };
    if ctx.k.tasks.proc(target).is_none() {
        return Err(ESRCH);
    }
    let r = usize::try_from(resource).ok().filter(|&r| r < RLIM_NLIMITS).ok_or(EINVAL)?;
    let new: Option<Rlimit> = if new != 0 { Some(ctx.read_struct(new)?) } else { None };
    if old != 0 {
        let cur = ctx.k.tasks.proc(target).expect("live process").limits.get(r);
        ctx.write_struct(old, &cur)?;
    }
    if let Some(n) = new {
        let privileged = ctx.proc().cred.capable(super::super::cred::CAP_SYS_RESOURCE);
        ctx.k.tasks.proc_mut(target).expect("checked").limits.set(r, n, privileged)?;
        // RLIMIT_CPU is checked as CPU time is counted: the supervisor
        // starts kicking the process's vCPUs (update_rlimit_cpu).
        if r == RLIMIT_CPU {
            ctx.wake_supervisor();
        }
    }
    Ok(0)
}

pub(crate) fn getrlimit(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    prlimit64(ctx, [0, a[0], 0, a[1], 0, 0])
}

pub(crate) fn setrlimit(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    prlimit64(ctx, [0, a[0], a[1], 0, 0, 0])
}
