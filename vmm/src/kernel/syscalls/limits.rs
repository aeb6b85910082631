//! Resource limits: prlimit64, getrlimit, setrlimit.

use super::super::errno::*;
use super::super::limits::{Rlimit, RLIM_NLIMITS};
use super::super::task::Ctx;

fn read_rlimit(ctx: &mut Ctx, addr: u64) -> Result<Rlimit, Errno> {
    Ok(Rlimit { cur: ctx.read_u64(addr)?, max: ctx.read_u64(addr + 8)? })
}

fn write_rlimit(ctx: &mut Ctx, addr: u64, r: Rlimit) -> Result<(), Errno> {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&r.cur.to_le_bytes());
    b[8..].copy_from_slice(&r.max.to_le_bytes());
    ctx.write_user(addr, &b)
}

pub fn prlimit64(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let (pid, resource, new, old) = (a[0] as u32, a[1], a[2], a[3]);
    let target = if pid == 0 { ctx.pid } else { pid };
    if !ctx.k.procs.contains_key(&target) {
        return Err(ESRCH);
    }
    let r = usize::try_from(resource).ok().filter(|&r| r < RLIM_NLIMITS).ok_or(EINVAL)?;
    let new = if new != 0 { Some(read_rlimit(ctx, new)?) } else { None };
    if old != 0 {
        let cur = ctx.k.procs[&target].limits.get(r);
        write_rlimit(ctx, old, cur)?;
    }
    if let Some(n) = new {
        let privileged = ctx.proc().cred.capable(super::super::cred::CAP_SYS_RESOURCE);
        ctx.k.procs.get_mut(&target).expect("checked").limits.set(r, n, privileged)?;
    }
    Ok(0)
}

pub fn getrlimit(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    prlimit64(ctx, [0, a[0], 0, a[1], 0, 0])
}

pub fn setrlimit(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    prlimit64(ctx, [0, a[0], a[1], 0, 0, 0])
}
