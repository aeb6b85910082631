//! Signal syscalls: rt_sigaction, rt_sigprocmask, rt_sigreturn,
//! rt_sigpending, rt_sigsuspend, rt_sigtimedwait, pause, sigaltstack,
//! rt_sigqueueinfo and rt_tgsigqueueinfo (kernel/signal.c).

use std::time::{Duration, Instant};

use zerocopy::IntoBytes;

use super::super::errno::*;
use super::super::sigframe;
use super::super::signal::*;
use super::super::task::{Ctx, Woken};
use super::super::thread::AltStack;

pub(crate) fn rt_sigaction(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let (sig, act, oact, size) = (a[0] as i32, a[1], a[2], a[3]);
    if size != SIGSET_SIZE || !(1..=NSIG).contains(&sig) {
        return Err(EINVAL);
    }
    if act != 0 && (sig == SIGKILL || sig == SIGSTOP) {
        return Err(EINVAL);
    }
    let new: Option<KSigAction> = if act != 0 { Some(ctx.read_struct(act)?) } else { None };
    let old = ctx.proc().sig.get(sig);
    if oact != 0 {
        let o = KSigAction { handler: old.handler, flags: old.flags, restorer: old.restorer, mask: old.mask };
        ctx.write_struct(oact, &o)?;
    }
    if let Some(n) = new {
        let a = SigAction { handler: n.handler, flags: n.flags, restorer: n.restorer, mask: n.mask & !UNBLOCKABLE };
        ctx.proc_mut().sig.set(sig, a);
        // Setting a signal to be ignored discards what is pending of it.
        if ctx.proc().sig.ignored(sig) {
            ctx.proc_mut().shared_pending.discard(sig);
            let threads = ctx.proc().threads.clone();
            for t in threads {
                if let Some(t) = ctx.k.tasks.thread_mut(t) {
                    t.pending.discard(sig);
                }
            }
        }
    }
    Ok(0)
}

pub(crate) fn rt_sigprocmask(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let (how, set, oset, size) = (a[0], a[1], a[2], a[3]);
    if size != SIGSET_SIZE {
        return Err(EINVAL);
    }
    let old = ctx.thread().sigmask;
    if set != 0 {
        let s = ctx.read_u64(set)?;
        let new = match how {
            SIG_BLOCK => old | s,
            SIG_UNBLOCK => old & !s,
            SIG_SETMASK => s,
            _ => return Err(EINVAL),
        };
        ctx.thread_mut().sigmask = new & !UNBLOCKABLE;
    } else if how > SIG_SETMASK {
        return Err(EINVAL);
    }
    if oset != 0 {
        ctx.write_u64(oset, old)?;
    }
    Ok(0)
}

pub(crate) fn rt_sigreturn(ctx: &mut Ctx, _: [u64; 6]) -> SysResult {
    sigframe::rt_sigreturn(ctx)
}

pub(crate) fn rt_sigpending(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    if a[1] > SIGSET_SIZE {
        return Err(EINVAL);
    }
    let t = ctx.thread();
    let set = (t.pending.set | ctx.proc().shared_pending.set) & t.sigmask;
    ctx.write_user(a[0], &set.as_bytes()[..a[1] as usize])?;
    Ok(0)
}

/// Waits, with `mask` in force, until a signal is delivered: the handler
/// runs with the old mask saved in its frame; the call returns EINTR.
/// (A thread killed meanwhile never returns to see it.)
fn suspend(ctx: &mut Ctx, mask: u64) -> SysResult {
    let old = ctx.thread().sigmask;
    let t = ctx.thread_mut();
    t.saved_mask = Some(old);
    t.sigmask = mask & !UNBLOCKABLE;
    loop {
        if ctx.interrupted().is_some() {
            break;
        }
        ctx.sleep(None);
    }
    // EINTR once a handler has run; if none does (another thread took
    // the signal), the old mask comes back on the way out and the call
    // runs again.
    Err(ERESTARTNOHAND)
}

pub(crate) fn rt_sigsuspend(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    if a[1] != SIGSET_SIZE {
        return Err(EINVAL);
    }
    let mask = ctx.read_u64(a[0])?;
    suspend(ctx, mask)
}

pub(crate) fn pause(ctx: &mut Ctx, _: [u64; 6]) -> SysResult {
    let mask = ctx.thread().sigmask;
    suspend(ctx, mask)
}

pub(crate) fn rt_sigtimedwait(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let (set, info, timeout, size) = (a[0], a[1], a[2], a[3]);
    if size != SIGSET_SIZE {
        return Err(EINVAL);
    }
    let want = ctx.read_u64(set)? & !UNBLOCKABLE;
    let deadline = if timeout != 0 {
        let (s, ns) = super::time::read_timespec(ctx, timeout)?;
        Some(Instant::now() + Duration::new(s as u64, ns as u32))
    } else {
        None
    };
    // do_sigtimedwait(): the waited-for signals are unblocked while it
    // sleeps (real_blocked keeps the mask), so a signal sent to the
    // process (alarm's SIGALRM, kill) picks this thread to wake; the mask
    // is put back however the wait ends.
    let real_blocked = ctx.thread().sigmask;
    ctx.thread_mut().sigmask = real_blocked & !want;
    let r = sigwait_loop(ctx, want, info, deadline);
    if let Some(t) = ctx.k.tasks.thread_mut(ctx.tid) {
        t.sigmask = real_blocked;
    }
    r
}

/// rt_sigtimedwait's wait: takes a pending signal of `want` (writing its
/// siginfo to `info`), or sleeps for one until `deadline`.
fn sigwait_loop(ctx: &mut Ctx, want: u64, info: u64, deadline: Option<Instant>) -> SysResult {
    let tid = ctx.tid;
    loop {
        // Take a wanted signal, blocked or not.
        let t = ctx.k.tasks.thread_mut(tid).ok_or(EINTR)?;
        let pid = t.pid;
        let got = match t.pending.take(!want) {
            Some(i) => Some(i),
            None => ctx.k.tasks.proc_mut(pid).and_then(|p| p.shared_pending.take(!want)),
        };
        if let Some(i) = got {
            if info != 0 {
                ctx.write_struct(info, &SigInfoRaw::from(&i))?;
            }
            return Ok(i.signo as i64);
        }
        // Interrupted by a signal it does not wait for: EINTR, never a
        // restart (do_sigtimedwait).
        if ctx.interrupted().is_some() {
            return Err(EINTR);
        }
        if let Some(Woken::Timeout) = ctx.sleep(deadline) {
            return Err(EAGAIN);
        }
    }
}

pub(crate) fn sigaltstack(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let (ss, old) = (a[0], a[1]);
    let cur = ctx.thread().altstack;
    let sp = ctx.regs.sp();
    let new = if ss != 0 {
        let s: StackT = ctx.read_struct(ss)?;
        let flags = s.flags as u32;
        let mode = flags & !SS_AUTODISARM;
        if mode != 0 && mode != SS_DISABLE && mode != SS_ONSTACK {
            return Err(EINVAL);
        }
        // Not while running on it.
        if cur.contains(sp) {
            return Err(EPERM);
        }
        if mode == SS_DISABLE {
            Some(AltStack::default())
        } else if s.size < MINSIGSTKSZ {
            return Err(ENOMEM);
        } else {
            Some(AltStack { sp: s.sp, flags: flags & SS_AUTODISARM, size: s.size })
        }
    } else {
        None
    };
    if old != 0 {
        let flags = if cur.flags & SS_DISABLE != 0 {
            SS_DISABLE
        } else if cur.contains(sp) {
            SS_ONSTACK | (cur.flags & SS_AUTODISARM)
        } else {
            cur.flags & SS_AUTODISARM
        };
        ctx.write_struct(old, &StackT { sp: cur.sp, flags: flags as i32, pad: 0, size: cur.size })?;
    }
    if let Some(n) = new {
        ctx.thread_mut().altstack = n;
    }
    Ok(0)
}

/// The siginfo a sigqueue caller supplies: only negative codes (or its own
/// pid's SI_TKILL) are allowed from user space.
fn user_info(ctx: &mut Ctx, sig: i32, at: u64) -> Result<SigInfo, Errno> {
    let raw: SigInfoRaw = ctx.read_struct(at)?;
    if raw.code >= 0 || raw.code == SI_TKILL {
        return Err(EPERM);
    }
    Ok(SigInfo {
        signo: sig,
        code: raw.code,
        errno: raw.errno,
        pid: raw.fields[0] as u32,
        uid: (raw.fields[0] >> 32) as u32,
        value: raw.fields[1],
        ..Default::default()
    })
}

pub(crate) fn rt_sigqueueinfo(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let (pid, sig) = (a[0] as u32, a[1] as i32);
    if !(0..=NSIG).contains(&sig) {
        return Err(EINVAL);
    }
    let info = user_info(ctx, sig, a[2])?;
    if ctx.k.tasks.proc(pid).is_none() {
        return Err(ESRCH);
    }
    if sig != 0 {
        ctx.k.try_send_process_signal(pid, info)?;
    }
    Ok(0)
}

pub(crate) fn rt_tgsigqueueinfo(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let (tgid, tid, sig) = (a[0] as u32, a[1] as u32, a[2] as i32);
    if !(0..=NSIG).contains(&sig) {
        return Err(EINVAL);
    }
    let info = user_info(ctx, sig, a[3])?;
    if ctx.k.tasks.thread(tid).is_none_or(|t| t.pid != tgid) {
        return Err(ESRCH);
    }
    if sig != 0 {
        ctx.k.try_send_thread_signal(tid, info)?;
    }
    Ok(0)
}
