//! What a process has used: getrusage and times, and the `struct rusage`
//! wait4 and waitid fill too.

use super::super::abi::resource;
use super::super::abi::time::{Timeval, Tms, USER_HZ};
use super::super::errno::*;
use super::super::process::Rusage;
use super::super::task::Ctx;

pub(super) fn write_rusage(ctx: &mut Ctx, at: u64, r: &Rusage) -> Result<(), Errno> {
    let tv = |ns: u64| Timeval { tv_sec: (ns / 1_000_000_000) as i64, tv_usec: ((ns % 1_000_000_000) / 1000) as i64 };
    let ru = resource::Rusage {
        ru_utime: tv(r.utime_ns),
        ru_stime: tv(r.stime_ns),
        ru_maxrss: (r.maxrss * 4) as i64,
        ru_minflt: r.minflt as i64,
        ru_majflt: r.majflt as i64,
        ru_nvcsw: r.nvcsw as i64,
        ru_nivcsw: r.nivcsw as i64,
        ..Default::default()
    };
    ctx.write_struct(at, &ru)
}

pub(super) fn getrusage(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let who = a[0] as i32;
    let p = ctx.proc();
    let mut r = match who {
        resource::RUSAGE_SELF | resource::RUSAGE_THREAD => p.rusage,
        resource::RUSAGE_CHILDREN => p.children_rusage,
        _ => return Err(EINVAL),
    };
    if who >= 0 {
        r.maxrss = r.maxrss.max(ctx.k.phys.mm_counters(p.mm).hiwater);
    }
    write_rusage(ctx, a[1], &r)?;
    Ok(0)
}

pub(super) fn times(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let ticks = |ns: u64| (ns / (1_000_000_000 / USER_HZ)) as i64;
    let p = ctx.proc();
    let v = Tms {
        tms_utime: ticks(p.rusage.utime_ns),
        tms_stime: ticks(p.rusage.stime_ns),
        tms_cutime: ticks(p.children_rusage.utime_ns),
        tms_cstime: ticks(p.children_rusage.stime_ns),
    };
    if a[0] != 0 {
        ctx.write_struct(a[0], &v)?;
    }
    Ok(ticks(ctx.k.booted.elapsed().as_nanos() as u64) + 100_000)
}
