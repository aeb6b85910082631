//! epoll_create, epoll_create1, epoll_ctl, epoll_wait, epoll_pwait and
//! epoll_pwait2, as fs/eventpoll.c checks and answers them.

use std::sync::Arc;
use std::time::{Duration, Instant};

use zerocopy::IntoBytes;

use super::super::abi::capability::CAP_BLOCK_SUSPEND;
use super::super::abi::epoll::*;
use super::super::abi::fcntl::{O_PATH, O_RDWR};
use super::super::abi::signal::SIGSET_SIZE;
use super::super::errno::*;
use super::super::files::anon::{open_anon, Anon};
use super::super::files::epoll::{epoll_of, Epoll, EVENTPOLL_BYTES};
use super::super::files::ready::{can_poll, PollTable};
use super::super::files::OpenFile;
use super::super::signal::UNBLOCKABLE;
use super::super::task::{Ctx, Woken};
use crate::arch::layout::USER_TOP;
use crate::mm::Kmem;

/// do_epoll_create: a new epoll file; only EPOLL_CLOEXEC may be asked.
fn create(ctx: &mut Ctx, flags: u32) -> SysResult {
    if flags & !EPOLL_CLOEXEC != 0 {
        return Err(EINVAL);
    }
    let kmem = ctx.k.kmem_charge(Kmem::Kmalloc(EVENTPOLL_BYTES), 1)?;
    let f = open_anon(Anon::Epoll(Arc::new(Epoll::new(kmem))), O_RDWR);
    super::open::install(ctx, f, flags & EPOLL_CLOEXEC != 0)
}

pub(crate) fn epoll_create(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    if a[0] as i32 <= 0 {
        return Err(EINVAL);
    }
    create(ctx, 0)
}

pub(crate) fn epoll_create1(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    create(ctx, a[0] as u32)
}

/// fdget: the open file at `fd`, EBADF for none or an O_PATH one.
fn fdget(ctx: &Ctx, fd: i32) -> Result<Arc<OpenFile>, Errno> {
    let f = ctx.proc().files.file(fd)?;
    if f.flags() & O_PATH != 0 {
        return Err(EBADF);
    }
    Ok(f)
}

/// do_epoll_ctl, its checks in Linux's order.
pub(crate) fn epoll_ctl(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let (epfd, op, fd) = (a[0] as i32, a[1] as i32, a[2] as i32);
    let has_event = op != EPOLL_CTL_DEL as i32;
    let ev: EpollEvent = if has_event { ctx.read_struct(a[3])? } else { EpollEvent::default() };
    let f = fdget(ctx, epfd)?;
    let tf = fdget(ctx, fd)?;
    if !can_poll(&tf) {
        return Err(EPERM);
    }
    let mut events = ev.events;
    // ep_take_care_of_epollwakeup: dropped without CAP_BLOCK_SUSPEND.
    if has_event && !ctx.proc().cred.capable(CAP_BLOCK_SUSPEND) {
        events &= !EPOLLWAKEUP;
    }
    let Some(ep) = epoll_of(&f).filter(|_| !Arc::ptr_eq(&f, &tf)).cloned() else {
        return Err(EINVAL);
    };
    if has_event && events & EPOLLEXCLUSIVE != 0 {
        if op == EPOLL_CTL_MOD as i32 {
            return Err(EINVAL);
        }
        if op == EPOLL_CTL_ADD as i32 && (epoll_of(&tf).is_some() || events & !EPOLLEXCLUSIVE_OK_BITS != 0) {
            return Err(EINVAL);
        }
    }
    if op == EPOLL_CTL_ADD as i32 {
        if let Some(to) = epoll_of(&tf) {
            ep.loop_check(to)?;
        }
    }
    let data = ev.data;
    match op as u64 {
        EPOLL_CTL_ADD => ep.insert(&mut ctx.k, &tf, fd, events, data)?,
        EPOLL_CTL_DEL => ep.remove(&tf, fd)?,
        EPOLL_CTL_MOD => match ep.events_of(&tf, fd) {
            Some(old) if old & EPOLLEXCLUSIVE == 0 => ep.modify(&tf, fd, events, data)?,
            Some(_) => return Err(EINVAL),
            None => return Err(ENOENT),
        },
        _ => return Err(EINVAL),
    }
    Ok(0)
}

/// ep_poll: waits until an item is ready, the deadline passes, or a
/// signal comes (EINTR: epoll waits are never restarted).
fn wait(ctx: &mut Ctx, ep: &Arc<Epoll>, max: usize, deadline: Option<Instant>) -> Result<Vec<EpollEvent>, Errno> {
    loop {
        let mut pt = PollTable::new(Some(ctx.cond()));
        let found = ep.ready(&ctx.k, ctx.tid, &mut pt, max, true);
        if !found.is_empty() {
            return Ok(found);
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Ok(found);
        }
        if let Some(w) = ctx.interrupted() {
            return Err(if w == Woken::Signal { EINTR } else { ctx.woken_errno(w) });
        }
        ctx.sleep(pt.sleep_until(deadline));
    }
}

/// do_epoll_wait: maxevents and the buffer checked, then the wait; the
/// events are copied out one by one (a fault after the first ends the
/// list there, as ep_send_events).
fn do_wait(ctx: &mut Ctx, epfd: u64, events: u64, maxevents: u64, deadline: Option<Instant>) -> SysResult {
    let max = maxevents as i32;
    if max <= 0 || max as u64 > EP_MAX_EVENTS {
        return Err(EINVAL);
    }
    let len = max as u64 * size_of::<EpollEvent>() as u64;
    if events.checked_add(len).is_none_or(|end| end > USER_TOP) {
        return Err(EFAULT);
    }
    let f = fdget(ctx, epfd as i32)?;
    let ep = epoll_of(&f).ok_or(EINVAL)?.clone();
    let found = wait(ctx, &ep, max as usize, deadline)?;
    for (i, e) in found.iter().enumerate() {
        let at = events + (i * size_of::<EpollEvent>()) as u64;
        if let Err(err) = ctx.write_user(at, e.as_bytes()) {
            return if i == 0 { Err(err) } else { Ok(i as i64) };
        }
    }
    Ok(found.len() as i64)
}

/// A timeout in milliseconds (negative: none).
fn ms_deadline(ms: u64) -> Option<Instant> {
    let ms = ms as i32;
    (ms >= 0).then(|| Instant::now() + Duration::from_millis(ms as u64))
}

pub(crate) fn epoll_wait(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    do_wait(ctx, a[0], a[1], a[2], ms_deadline(a[3]))
}

/// Runs `f` with the signal mask at `set` (of `size` bytes) in force, as
/// set_user_sigmask; the old mask comes back after, or after the handler
/// when `f` was interrupted (restore_saved_sigmask_unless(EINTR)).
fn with_sigmask(ctx: &mut Ctx, set: u64, size: u64, f: impl FnOnce(&mut Ctx) -> SysResult) -> SysResult {
    if set == 0 {
        return f(ctx);
    }
    if size != SIGSET_SIZE {
        return Err(EINVAL);
    }
    let mask = ctx.read_u64(set)?;
    let old = ctx.thread().sigmask;
    ctx.thread_mut().sigmask = mask & !UNBLOCKABLE;
    let r = f(ctx);
    if r == Err(EINTR) && ctx.k.tasks.signal_pending(ctx.tid) {
        ctx.thread_mut().saved_mask = Some(old);
    } else {
        ctx.thread_mut().sigmask = old;
    }
    r
}

pub(crate) fn epoll_pwait(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    with_sigmask(ctx, a[4], a[5], |ctx| do_wait(ctx, a[0], a[1], a[2], ms_deadline(a[3])))
}

pub(crate) fn epoll_pwait2(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let deadline = if a[3] != 0 {
        let (s, ns) = super::time::read_timespec(ctx, a[3])?;
        let d = Duration::new(s as u64, ns as u32);
        Some(Instant::now().checked_add(d).unwrap_or_else(|| Instant::now() + Duration::from_secs(1 << 32)))
    } else {
        None
    };
    with_sigmask(ctx, a[4], a[5], |ctx| do_wait(ctx, a[0], a[1], a[2], deadline))
}
