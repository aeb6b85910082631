//! The scheduler as a program sees it: sched_yield, CPU affinity, nice
//! values and the policies' priorities. Every thread is SCHED_OTHER at
//! nice 0 on the host's CPUs.

use super::super::abi::resource;
use super::super::abi::sched;
use super::super::errno::*;
use super::super::task::Ctx;

pub(super) fn sched_yield(ctx: &mut Ctx, _: [u64; 6]) -> SysResult {
    ctx.unlocked(std::thread::yield_now);
    Ok(0)
}

/// The CPUs a thread may run on: every vCPU may run on any of the host's
/// CPUs faultline may use, so the guest has as many (at most 64, one mask
/// word).
pub(crate) fn online_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get()).min(64)
}

pub(super) fn sched_getaffinity(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let (pid, len, mask) = (a[0] as u32, a[1], a[2]);
    if pid != 0 && ctx.k.tasks.thread(pid).is_none() && ctx.k.tasks.proc(pid).is_none() {
        return Err(ESRCH);
    }
    if len < 8 || len % 8 != 0 {
        return Err(EINVAL);
    }
    let cpus = online_cpus();
    let bits: u64 = if cpus == 64 { u64::MAX } else { (1u64 << cpus) - 1 };
    ctx.write_u64(mask, bits)?;
    Ok(8)
}

pub(super) fn sched_setaffinity(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let (pid, len, mask) = (a[0] as u32, a[1], a[2]);
    if pid != 0 && ctx.k.tasks.thread(pid).is_none() {
        return Err(ESRCH);
    }
    if len == 0 {
        return Err(EINVAL);
    }
    let m = ctx.read_u64(mask).or_else(|_| ctx.read_u32(mask).map(u64::from))?;
    if m & 0xffff_ffff == 0 {
        return Err(EINVAL);
    }
    Ok(0)
}

pub(super) fn getpriority(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    if a[0] > resource::PRIO_USER {
        return Err(EINVAL);
    }
    let _ = ctx;
    Ok(20)
}

pub(super) fn setpriority(_: &mut Ctx, a: [u64; 6]) -> SysResult {
    if a[0] > resource::PRIO_USER {
        return Err(EINVAL);
    }
    // Lowering one's own priority is allowed; raising it needs privilege.
    if (a[2] as i32) < 0 {
        return Err(EACCES);
    }
    Ok(0)
}

pub(super) fn sched_getparam(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    ctx.write_u32(a[1], 0)?;
    Ok(0)
}

pub(super) fn sched_getscheduler(_: &mut Ctx, _: [u64; 6]) -> SysResult {
    Ok(0)
}

/// The priorities a policy has: 1 to 99 for the real-time ones, only 0
/// for the others.
fn sched_priorities(policy: u64) -> Result<(i64, i64), Errno> {
    match policy {
        sched::SCHED_NORMAL | sched::SCHED_BATCH | sched::SCHED_IDLE => Ok((0, 0)),
        sched::SCHED_FIFO | sched::SCHED_RR => Ok((1, sched::MAX_RT_PRIO - 1)),
        _ => Err(EINVAL),
    }
}

pub(super) fn sched_get_priority_max(_: &mut Ctx, a: [u64; 6]) -> SysResult {
    Ok(sched_priorities(a[0])?.1)
}

pub(super) fn sched_get_priority_min(_: &mut Ctx, a: [u64; 6]) -> SysResult {
    Ok(sched_priorities(a[0])?.0)
}
