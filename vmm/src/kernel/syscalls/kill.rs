//! Sending signals to processes and threads: kill, tkill and tgkill, with
//! check_kill_permission()'s rule. (The queued forms, rt_sigqueueinfo and
//! rt_tgsigqueueinfo, are with the other signal calls.)

use super::super::errno::*;
use super::super::process::Pid;
use super::super::signal::{self, SigInfo};
use super::super::task::Ctx;

pub(super) fn check_signal(sig: u64) -> Result<i32, Errno> {
    if sig > signal::NSIG as u64 {
        return Err(EINVAL);
    }
    Ok(sig as i32)
}

pub(super) fn kill(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    // -INT_MIN is no process group: ESRCH before anything else
    // (kill_something_info).
    if a[0] as i32 == i32::MIN {
        return Err(ESRCH);
    }
    let (pid, sig) = (a[0] as i32, check_signal(a[1])?);
    let me = ctx.pid;
    let targets: Vec<Pid> = match pid {
        p if p > 0 => vec![p as Pid],
        0 => {
            let g = ctx.proc().pgid;
            ctx.k.tasks.procs().filter(|p| p.pgid == g).map(|p| p.pid).collect()
        }
        -1 => ctx.k.tasks.pids().into_iter().filter(|&p| p != 1 && p != me).collect(),
        p => ctx.k.tasks.procs().filter(|q| q.pgid == (-p) as Pid).map(|q| q.pid).collect(),
    };
    let targets: Vec<Pid> = targets.into_iter().filter(|p| ctx.k.tasks.proc(*p).is_some()).collect();
    if targets.is_empty() {
        return Err(ESRCH);
    }
    // check_kill_permission(): a group send succeeds if any member takes it.
    let cred = ctx.proc().cred.clone();
    let allowed: Vec<Pid> =
        targets.into_iter().filter(|t| cred.may_signal(&ctx.k.tasks.proc(*t).expect("live process").cred)).collect();
    if allowed.is_empty() {
        return Err(EPERM);
    }
    if sig == 0 {
        return Ok(0);
    }
    for t in allowed {
        ctx.k.send_process_signal(t, SigInfo::user(sig, me, cred.uid, signal::SI_USER));
    }
    Ok(0)
}

fn thread_kill(ctx: &mut Ctx, tgid: Option<Pid>, tid: i32, sig: u64) -> SysResult {
    let sig = check_signal(sig)?;
    if tid <= 0 {
        return Err(EINVAL);
    }
    let tid = tid as u32;
    let t = ctx.k.tasks.thread(tid).filter(|t| !t.exited).ok_or(ESRCH)?;
    if tgid.is_some_and(|g| g != t.pid) {
        return Err(ESRCH);
    }
    let target = t.pid;
    let cred = ctx.proc().cred.clone();
    if !ctx.k.tasks.proc(target).is_some_and(|p| cred.may_signal(&p.cred)) {
        return Err(EPERM);
    }
    if sig == 0 {
        return Ok(0);
    }
    let me = ctx.pid;
    ctx.k.send_thread_signal(tid, SigInfo::user(sig, me, cred.uid, signal::SI_TKILL));
    Ok(0)
}

pub(super) fn tkill(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    thread_kill(ctx, None, a[0] as i32, a[1])
}

pub(super) fn tgkill(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    if (a[0] as i32) <= 0 {
        return Err(EINVAL);
    }
    thread_kill(ctx, Some(a[0] as Pid), a[1] as i32, a[2])
}
