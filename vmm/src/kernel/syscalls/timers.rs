//! getitimer and setitimer for the three interval timers, and the POSIX
//! timers: timer_create, timer_settime, timer_gettime, timer_getoverrun
//! and timer_delete (kernel/time/itimer.c, posix-timers.c).

use std::time::Duration;

use super::super::abi::capability::CAP_WAKE_ALARM;
use super::super::abi::epoll::{Itimerspec, Sigevent, SIGEV_SIGNAL};
use super::super::abi::time::*;
use super::super::errno::*;
use super::super::files::timerfd::{clock_ns, ns_ts, ts_ns};
use super::super::signal::SIGALRM;
use super::super::task::Ctx;
use super::super::timers::{notify_of, CpuItimer, PosixTimer, K_ITIMER_BYTES, MAX_POSIX_TIMERS};
use crate::mm::Kmem;

/// A jiffy at HZ=250: what set_cpu_itimer adds to a CPU timer's first
/// expiry (TICK_NSEC).
const TICK_NSEC: u64 = 4_000_000;

fn tv(d: Duration) -> Timeval {
    Timeval { tv_sec: d.as_secs() as i64, tv_usec: d.subsec_micros() as i64 }
}

fn tv_ns(ns: u64) -> Timeval {
    tv(Duration::from_nanos(ns))
}

/// The timer `which` now: its interval and what is left.
fn itimer_now(ctx: &Ctx, which: u64) -> Result<Itimerval, Errno> {
    let cpu = |t: &CpuItimer, now: u64| Itimerval {
        it_interval: tv_ns(t.interval),
        it_value: tv_ns(t.expires.map_or(0, |e| e.saturating_sub(now))),
    };
    let (user, total) = ctx.k.cpu_times(ctx.pid);
    Ok(match which {
        ITIMER_REAL => {
            let (left, every) = super::time::itimer_left(ctx);
            Itimerval { it_interval: tv(every), it_value: tv(left) }
        }
        ITIMER_VIRTUAL => cpu(&ctx.proc().timers.virt, user),
        ITIMER_PROF => cpu(&ctx.proc().timers.prof, total),
        _ => return Err(EINVAL),
    })
}

pub(crate) fn getitimer(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let v = itimer_now(ctx, a[0] as i32 as i64 as u64)?;
    ctx.write_struct(a[1], &v)?;
    Ok(0)
}

fn valid_tv(t: &Timeval) -> bool {
    t.tv_sec >= 0 && (0..1_000_000).contains(&t.tv_usec)
}

fn tv_duration(t: &Timeval) -> Duration {
    Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000)
}

/// setitimer: the new value read and checked first (a NULL one disarms,
/// as Linux has done since 5.x), then `which`; the old value written after.
pub(crate) fn setitimer(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let (which, new, old) = (a[0] as i32 as i64 as u64, a[1], a[2]);
    let v: Itimerval = if new != 0 { ctx.read_struct(new)? } else { Itimerval::default() };
    if !valid_tv(&v.it_value) || !valid_tv(&v.it_interval) {
        return Err(EINVAL);
    }
    let before = itimer_now(ctx, which)?;
    let (value, interval) = (tv_duration(&v.it_value), tv_duration(&v.it_interval));
    match which {
        ITIMER_REAL => super::time::set_itimer(ctx, value, interval),
        _ => {
            let (user, total) = ctx.k.cpu_times(ctx.pid);
            let now = if which == ITIMER_VIRTUAL { user } else { total };
            let ns = value.as_nanos() as u64;
            let t = CpuItimer {
                expires: (ns > 0).then(|| now.saturating_add(ns).saturating_add(TICK_NSEC)),
                interval: interval.as_nanos() as u64,
            };
            let timers = &mut ctx.proc_mut().timers;
            if which == ITIMER_VIRTUAL {
                timers.virt = t;
            } else {
                timers.prof = t;
            }
            ctx.wake_supervisor();
        }
    }
    if old != 0 {
        ctx.write_struct(old, &before)?;
    }
    Ok(0)
}

/// Clocks a POSIX timer may run on: the others have no timers
/// (EOPNOTSUPP: CLOCK_MONOTONIC_RAW, the coarse clocks) or no clock
/// (EINVAL).
fn timer_clock(ctx: &Ctx, clock: i32) -> Result<u64, Errno> {
    let c = u64::try_from(clock).map_err(|_| EINVAL)?;
    match c {
        CLOCK_REALTIME
        | CLOCK_MONOTONIC
        | CLOCK_BOOTTIME
        | CLOCK_TAI
        | CLOCK_PROCESS_CPUTIME_ID
        | CLOCK_THREAD_CPUTIME_ID => Ok(c),
        CLOCK_REALTIME_ALARM | CLOCK_BOOTTIME_ALARM => {
            if ctx.proc().cred.capable(CAP_WAKE_ALARM) {
                Ok(c)
            } else {
                Err(EPERM)
            }
        }
        CLOCK_MONOTONIC_RAW | CLOCK_REALTIME_COARSE | CLOCK_MONOTONIC_COARSE => Err(EOPNOTSUPP),
        _ => Err(EINVAL),
    }
}

pub(crate) fn timer_create(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let clock = timer_clock(ctx, a[0] as i32)?;
    let ev: Option<Sigevent> = if a[1] != 0 { Some(ctx.read_struct(a[1])?) } else { None };
    let pid = ctx.pid;
    let timers = &ctx.proc().timers;
    if timers.posix.len() >= MAX_POSIX_TIMERS {
        return Err(EAGAIN);
    }
    // The lowest id from next_id on that is free (ids wrap at INT_MAX).
    let mut id = timers.next_id;
    while timers.posix.contains_key(&id) {
        id = id.checked_add(1).unwrap_or(0);
    }
    let (notify, value) = match ev {
        Some(e) => {
            let n = notify_of(&ctx.k, pid, e.sigev_notify, e.sigev_signo, e.sigev_notify_thread_id);
            (n.ok_or(EINVAL)?, e.sigev_value)
        }
        None => (notify_of(&ctx.k, pid, SIGEV_SIGNAL, SIGALRM, 0).ok_or(EINVAL)?, id as u64),
    };
    let mut kmem = ctx.k.kmem_charge(Kmem::Kmalloc(K_ITIMER_BYTES), 1)?;
    kmem.absorb(ctx.k.kmem_charge(Kmem::Kmalloc(crate::mm::kmem::SIGQUEUE_BYTES), 1)?);
    ctx.write_u32(a[2], id as u32)?;
    let timers = &mut ctx.proc_mut().timers;
    timers.posix.insert(id, PosixTimer::new(clock, notify, value, kmem));
    timers.next_id = id.checked_add(1).unwrap_or(0);
    Ok(0)
}

/// The timer's clock now, in nanoseconds (CPU clocks: the process's CPU
/// time).
fn timer_now(ctx: &Ctx, clock: u64) -> i128 {
    match clock {
        CLOCK_PROCESS_CPUTIME_ID | CLOCK_THREAD_CPUTIME_ID => ctx.k.cpu_times(ctx.pid).1 as i128,
        c => clock_ns(c),
    }
}

fn timer_value(ctx: &Ctx, id: i32) -> Result<Itimerspec, Errno> {
    let t = ctx.proc().timers.posix.get(&id).ok_or(EINVAL)?;
    let now = timer_now(ctx, t.clock);
    Ok(Itimerspec { it_interval: ns_ts(t.timer.interval), it_value: ns_ts(t.timer.remaining(now)) })
}

pub(crate) fn timer_settime(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let (id, flags, new, old) = (a[0] as i32, a[1] as i32, a[2], a[3]);
    if new == 0 {
        return Err(EINVAL);
    }
    let v: Itimerspec = ctx.read_struct(new)?;
    let ok = |t: &Timespec| t.tv_sec >= 0 && (0..1_000_000_000).contains(&t.tv_nsec);
    if !ok(&v.it_value) || !ok(&v.it_interval) {
        return Err(EINVAL);
    }
    let before = timer_value(ctx, id)?;
    let clock = ctx.proc().timers.posix.get(&id).ok_or(EINVAL)?.clock;
    let now = timer_now(ctx, clock);
    let abs = flags as u64 & TIMER_ABSTIME != 0;
    let value = super::time::host_deadline(ctx, clock, ts_ns(v.it_value), abs);
    let t = ctx.proc_mut().timers.posix.get_mut(&id).ok_or(EINVAL)?;
    t.timer.set(now, value, ts_ns(v.it_interval), abs);
    t.overrun = 0;
    ctx.wake_supervisor();
    if old != 0 {
        ctx.write_struct(old, &before)?;
    }
    Ok(0)
}

pub(crate) fn timer_gettime(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let v = timer_value(ctx, a[0] as i32)?;
    ctx.write_struct(a[1], &v)?;
    Ok(0)
}

pub(crate) fn timer_getoverrun(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let t = ctx.proc().timers.posix.get(&(a[0] as i32)).ok_or(EINVAL)?;
    Ok(t.overrun_last.min(i32::MAX as u64) as i64)
}

pub(crate) fn timer_delete(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    ctx.proc_mut().timers.posix.remove(&(a[0] as i32)).ok_or(EINVAL)?;
    Ok(0)
}
