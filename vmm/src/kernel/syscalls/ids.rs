//! Who a task is among the others: its process and thread ids, its
//! parent, and the process group and session it belongs to (kernel/sys.c).

use super::super::errno::*;
use super::super::process::Pid;
use super::super::task::Ctx;

pub(super) fn getpid(ctx: &mut Ctx, _: [u64; 6]) -> SysResult {
    Ok(ctx.pid as i64)
}

pub(super) fn gettid(ctx: &mut Ctx, _: [u64; 6]) -> SysResult {
    Ok(ctx.tid as i64)
}

pub(super) fn getppid(ctx: &mut Ctx, _: [u64; 6]) -> SysResult {
    Ok(if ctx.pid == 1 { 0 } else { ctx.proc().ppid as i64 })
}

pub(super) fn getpgrp(ctx: &mut Ctx, _: [u64; 6]) -> SysResult {
    Ok(ctx.proc().pgid as i64)
}

pub(super) fn getpgid(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let pid = if a[0] == 0 { ctx.pid } else { a[0] as Pid };
    ctx.k.tasks.proc(pid).map(|p| p.pgid as i64).ok_or(ESRCH)
}

pub(super) fn getsid(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let pid = if a[0] == 0 { ctx.pid } else { a[0] as Pid };
    ctx.k.tasks.proc(pid).map(|p| p.sid as i64).ok_or(ESRCH)
}

/// setpgid(2), with its rules: the caller or a child of it, in the
/// caller's session, not a session leader; the group must exist there or
/// be the process's own.
pub(super) fn setpgid(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let pid = if a[0] == 0 { ctx.pid } else { a[0] as i32 as Pid };
    if (a[1] as i64) < 0 {
        return Err(EINVAL);
    }
    let pgid = if a[1] == 0 { pid } else { a[1] as Pid };
    let me = ctx.pid;
    let sid = ctx.proc().sid;
    let p = ctx.k.tasks.proc(pid).ok_or(ESRCH)?;
    if pid != me && p.ppid != me {
        return Err(ESRCH);
    }
    // A child: in the caller's session, and not since exec'd.
    if pid != me && p.sid != sid {
        return Err(EPERM);
    }
    if pid != me && p.did_exec {
        return Err(EACCES);
    }
    if p.sid == pid {
        return Err(EPERM);
    }
    if pgid != pid && !ctx.k.tasks.procs().any(|q| q.pgid == pgid && q.sid == sid) {
        return Err(EPERM);
    }
    ctx.k.tasks.proc_mut(pid).expect("just found").pgid = pgid;
    Ok(0)
}

pub(super) fn setsid(ctx: &mut Ctx, _: [u64; 6]) -> SysResult {
    let pid = ctx.pid;
    if ctx.k.tasks.procs().any(|p| p.pgid == pid) {
        return Err(EPERM);
    }
    let p = ctx.proc_mut();
    p.sid = pid;
    p.pgid = pid;
    Ok(pid as i64)
}
