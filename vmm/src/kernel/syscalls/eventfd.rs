//! eventfd, eventfd2, timerfd_create, timerfd_settime, timerfd_gettime,
//! signalfd and signalfd4 (fs/eventfd.c, fs/timerfd.c, fs/signalfd.c),
//! and read and write on those files and on epoll's.

use std::sync::Arc;

use zerocopy::IntoBytes;

use super::super::abi::capability::CAP_WAKE_ALARM;
use super::super::abi::epoll::*;
use super::super::abi::fcntl::O_RDWR;
use super::super::abi::signal::SIGSET_SIZE;
use super::super::abi::time::*;
use super::super::errno::*;
use super::super::files::anon::{open_anon, Anon};
use super::super::files::eventfd::{EventFd, Step, EVENTFD_CTX_BYTES};
use super::super::files::signalfd::{to_signalfd_siginfo, SignalFd, SIGNALFD_CTX_BYTES};
use super::super::files::timerfd::{clock_ns, ns_ts, ts_ns, TimerFd, TIMERFD_CTX_BYTES};
use super::super::files::{FileKind, OpenFile};
use super::super::task::Ctx;
use crate::mm::Kmem;

/// do_eventfd: EFD_SEMAPHORE, EFD_NONBLOCK and EFD_CLOEXEC only.
fn make_eventfd(ctx: &mut Ctx, count: u32, flags: u32) -> SysResult {
    if flags & !(EFD_SEMAPHORE | EFD_CLOEXEC | EFD_NONBLOCK) != 0 {
        return Err(EINVAL);
    }
    let kmem = ctx.k.kmem_charge(Kmem::Kmalloc(EVENTFD_CTX_BYTES), 1)?;
    let e = EventFd::new(count as u64, flags & EFD_SEMAPHORE != 0, kmem);
    let f = open_anon(Anon::EventFd(e), O_RDWR | (flags & EFD_NONBLOCK));
    super::open::install(ctx, f, flags & EFD_CLOEXEC != 0)
}

pub(crate) fn eventfd(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    make_eventfd(ctx, a[0] as u32, 0)
}

pub(crate) fn eventfd2(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    make_eventfd(ctx, a[0] as u32, a[1] as u32)
}

pub(crate) fn timerfd_create(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let (clock, flags) = (a[0] as i32, a[1] as u32);
    let clocks = [CLOCK_MONOTONIC, CLOCK_REALTIME, CLOCK_REALTIME_ALARM, CLOCK_BOOTTIME, CLOCK_BOOTTIME_ALARM];
    if flags & !(TFD_CLOEXEC | TFD_NONBLOCK) != 0 || clock < 0 || !clocks.contains(&(clock as u64)) {
        return Err(EINVAL);
    }
    let clock = clock as u64;
    if matches!(clock, CLOCK_REALTIME_ALARM | CLOCK_BOOTTIME_ALARM) && !ctx.proc().cred.capable(CAP_WAKE_ALARM) {
        return Err(EPERM);
    }
    let kmem = ctx.k.kmem_charge(Kmem::Kmalloc(TIMERFD_CTX_BYTES), 1)?;
    let f = open_anon(Anon::TimerFd(TimerFd::new(clock, kmem)), O_RDWR | (flags & TFD_NONBLOCK));
    super::open::install(ctx, f, flags & TFD_CLOEXEC != 0)
}

fn valid(t: &Timespec) -> bool {
    t.tv_sec >= 0 && (0..1_000_000_000).contains(&t.tv_nsec)
}

/// The timerfd behind descriptor `fd`: EBADF, or EINVAL if it is none.
fn timerfd_file(ctx: &Ctx, fd: u64) -> Result<Arc<OpenFile>, Errno> {
    let f = ctx.proc().files.file(fd as i32)?;
    match &f.kind {
        FileKind::Anon(Anon::TimerFd(_)) => Ok(f),
        _ => Err(EINVAL),
    }
}

fn timerfd(f: &OpenFile) -> &TimerFd {
    match &f.kind {
        FileKind::Anon(Anon::TimerFd(t)) => t,
        _ => unreachable!("checked by timerfd_file"),
    }
}

/// The timer's value and interval now.
fn current(t: &TimerFd) -> Itimerspec {
    let (s, now) = t.now();
    Itimerspec { it_interval: ns_ts(s.timer.interval), it_value: ns_ts(s.timer.remaining(now)) }
}

pub(crate) fn timerfd_settime(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let flags = a[1] as i32;
    let new: Itimerspec = ctx.read_struct(a[2])?;
    if flags as u32 & !(TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET) != 0 || flags < 0 {
        return Err(EINVAL);
    }
    if !valid(&new.it_value) || !valid(&new.it_interval) {
        return Err(EINVAL);
    }
    let f = timerfd_file(ctx, a[0])?;
    let t = timerfd(&f);
    let old = current(t);
    let abs = flags as u32 & TFD_TIMER_ABSTIME != 0;
    let value = super::time::host_deadline(ctx, t.clock, ts_ns(new.it_value), abs);
    {
        let (mut s, now) = t.now();
        s.timer.set(now, value, ts_ns(new.it_interval), abs);
        // A timer past due at once counts now, as hrtimer_start would
        // fire it.
        let n = s.timer.advance(clock_ns(t.clock).max(now));
        s.total = s.total.wrapping_add(n);
        s.flags = flags as u32;
    }
    t.wq.wake_all();
    if a[3] != 0 {
        ctx.write_struct(a[3], &old)?;
    }
    Ok(0)
}

pub(crate) fn timerfd_gettime(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let f = timerfd_file(ctx, a[0])?;
    let cur = current(timerfd(&f));
    ctx.write_struct(a[1], &cur)?;
    Ok(0)
}

/// do_signalfd4: a new signalfd (`fd` -1) or a new mask for one.
fn do_signalfd(ctx: &mut Ctx, fd: i32, mask_at: u64, size: u64, flags: u32) -> SysResult {
    if flags & !(SFD_CLOEXEC | SFD_NONBLOCK) != 0 || size != SIGSET_SIZE {
        return Err(EINVAL);
    }
    let mask = ctx.read_u64(mask_at)?;
    if fd == -1 {
        let kmem = ctx.k.kmem_charge(Kmem::Kmalloc(SIGNALFD_CTX_BYTES), 1)?;
        let f = open_anon(Anon::SignalFd(SignalFd::new(mask, kmem)), O_RDWR | (flags & SFD_NONBLOCK));
        return super::open::install(ctx, f, flags & SFD_CLOEXEC != 0);
    }
    let f = ctx.proc().files.file(fd)?;
    let FileKind::Anon(Anon::SignalFd(s)) = &f.kind else { return Err(EINVAL) };
    *s.mask.lock() = mask & !super::super::signal::UNBLOCKABLE;
    ctx.k.files.events().signal_wq.wake_all();
    Ok(fd as i64)
}

pub(crate) fn signalfd(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    do_signalfd(ctx, a[0] as i32, a[1], a[2], 0)
}

pub(crate) fn signalfd4(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    do_signalfd(ctx, a[0] as i32, a[1], a[2], a[3] as u32)
}

/// Waits for `ready` to give a value: EAGAIN when non-blocking, an
/// interruption's errno when a signal comes. `wait` registers the thread
/// on what may change and says until when to sleep at most.
fn block_for<T>(
    ctx: &mut Ctx,
    nonblock: bool,
    mut ready: impl FnMut(&mut Ctx) -> Result<Option<T>, Errno>,
    mut wait: impl FnMut(&mut Ctx) -> Option<std::time::Instant>,
) -> Result<T, Errno> {
    loop {
        if let Some(v) = ready(ctx)? {
            return Ok(v);
        }
        if nonblock {
            return Err(EAGAIN);
        }
        if let Some(w) = ctx.interrupted() {
            return Err(ctx.woken_errno(w));
        }
        let until = wait(ctx);
        ctx.sleep(until);
    }
}

/// read() on an event file.
pub(crate) fn read(ctx: &mut Ctx, file: &Arc<OpenFile>, a: &Anon, buf: u64, count: u64) -> SysResult {
    let nonblock = file.nonblocking();
    match a {
        Anon::EventFd(e) => {
            if count < 8 {
                return Err(EINVAL);
            }
            let v = block_for(
                ctx,
                nonblock,
                |_| {
                    Ok(match e.read() {
                        Step::Done(v) => Some(v),
                        Step::WouldBlock => None,
                    })
                },
                |ctx| {
                    e.readable.register(&ctx.cond());
                    None
                },
            )?;
            ctx.write_u64(buf, v)?;
            Ok(8)
        }
        Anon::TimerFd(t) => {
            if count < 8 {
                return Err(EINVAL);
            }
            let v = block_for(
                ctx,
                nonblock,
                |_| Ok(t.take()),
                |ctx| {
                    t.wq.register(&ctx.cond());
                    t.mask().1
                },
            )?;
            ctx.write_u64(buf, v)?;
            Ok(8)
        }
        Anon::SignalFd(s) => {
            let n = count / size_of::<SignalfdSiginfo>() as u64;
            if n == 0 {
                return Err(EINVAL);
            }
            let mut done = 0u64;
            while done < n {
                let tid = ctx.tid;
                let got = block_for(
                    ctx,
                    nonblock || done > 0,
                    |ctx| Ok(ctx.k.dequeue_signal_in(tid, s.mask())),
                    |ctx| {
                        ctx.k.files.events().signal_wq.register(&ctx.cond());
                        None
                    },
                );
                let info = match got {
                    Ok(i) => i,
                    Err(e) if done == 0 => return Err(e),
                    Err(_) => break,
                };
                let at = buf + done * size_of::<SignalfdSiginfo>() as u64;
                if let Err(e) = ctx.write_user(at, to_signalfd_siginfo(&info).as_bytes()) {
                    if done == 0 {
                        return Err(e);
                    }
                    break;
                }
                done += 1;
            }
            Ok((done * size_of::<SignalfdSiginfo>() as u64) as i64)
        }
        // No read of its own (FMODE_CAN_READ unset).
        Anon::Epoll(_) => Err(EINVAL),
    }
}

/// write() on an event file.
pub(crate) fn write(ctx: &mut Ctx, file: &Arc<OpenFile>, a: &Anon, buf: u64, count: u64) -> SysResult {
    match a {
        Anon::EventFd(e) => {
            if count < 8 {
                return Err(EINVAL);
            }
            let v = ctx.read_u64(buf)?;
            block_for(
                ctx,
                file.nonblocking(),
                |_| {
                    Ok(match e.write(v)? {
                        Step::Done(_) => Some(()),
                        Step::WouldBlock => None,
                    })
                },
                |ctx| {
                    e.writable.register(&ctx.cond());
                    None
                },
            )?;
            Ok(8)
        }
        // No write of their own (FMODE_CAN_WRITE unset).
        Anon::TimerFd(_) | Anon::SignalFd(_) | Anon::Epoll(_) => Err(EINVAL),
    }
}
