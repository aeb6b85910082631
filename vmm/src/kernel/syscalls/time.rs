//! Clocks, sleeps and the real-time interval timer (alarm; setitimer is
//! with the other timers, in `timers.rs`).

use std::time::{Duration, Instant};

use super::super::abi::time::*;
use super::super::errno::*;
use super::super::task::{Ctx, Woken};
use super::super::thread::RestartBlock;
use super::super::Kernel;

pub(crate) fn host_clock(id: libc::clockid_t) -> (i64, i64) {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: valid clock id and out-pointer.
    unsafe { libc::clock_gettime(id, &mut ts) };
    (ts.tv_sec, ts.tv_nsec)
}

/// The host clock behind a guest clock id; CPU clocks count the process's
/// own time (in the guest and in faultline's kernel for it).
fn clock_now(ctx: &Ctx, clock: u64) -> Result<(i64, i64), Errno> {
    // The caller's time namespace moves the monotonic and boot clocks.
    let in_ns = |(s, ns): (i64, i64)| {
        let t = s as i128 * 1_000_000_000 + ns as i128 + ctx.proc().time_ns.offset_ns(clock);
        ((t.div_euclid(1_000_000_000)) as i64, t.rem_euclid(1_000_000_000) as i64)
    };
    Ok(match clock {
        CLOCK_REALTIME | CLOCK_REALTIME_COARSE | CLOCK_REALTIME_ALARM | CLOCK_TAI => host_clock(libc::CLOCK_REALTIME),
        CLOCK_MONOTONIC | CLOCK_MONOTONIC_RAW | CLOCK_MONOTONIC_COARSE => in_ns(host_clock(libc::CLOCK_MONOTONIC)),
        CLOCK_BOOTTIME | CLOCK_BOOTTIME_ALARM => in_ns(host_clock(libc::CLOCK_BOOTTIME)),
        CLOCK_PROCESS_CPUTIME_ID | CLOCK_THREAD_CPUTIME_ID => {
            let r = ctx.proc().rusage;
            let ns = r.utime_ns + r.stime_ns;
            ((ns / 1_000_000_000) as i64, (ns % 1_000_000_000) as i64)
        }
        _ => return Err(EINVAL),
    })
}

/// An armed timer's value on the host's clock: an absolute time given in
/// the caller's time namespace is moved back by its offset
/// (timens_ktime_to_host), and stays armed if that puts it in the past.
pub(super) fn host_deadline(ctx: &Ctx, clock: u64, value: i128, abs: bool) -> i128 {
    if !abs || value == 0 {
        return value;
    }
    ctx.proc().time_ns.to_host(clock, value).max(1)
}

fn write_timespec(ctx: &mut Ctx, at: u64, tv_sec: i64, tv_nsec: i64) -> Result<(), Errno> {
    ctx.write_struct(at, &Timespec { tv_sec, tv_nsec })
}

pub(crate) fn read_timespec(ctx: &mut Ctx, at: u64) -> Result<(i64, i64), Errno> {
    let Timespec { tv_sec: s, tv_nsec: ns } = ctx.read_struct(at)?;
    if s < 0 || !(0..1_000_000_000).contains(&ns) {
        return Err(EINVAL);
    }
    Ok((s, ns))
}

pub(crate) fn clock_gettime(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let (s, ns) = clock_now(ctx, a[0])?;
    write_timespec(ctx, a[1], s, ns)?;
    Ok(0)
}

pub(crate) fn clock_getres(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    clock_now(ctx, a[0])?;
    if a[1] != 0 {
        let coarse = matches!(a[0], CLOCK_REALTIME_COARSE | CLOCK_MONOTONIC_COARSE);
        write_timespec(ctx, a[1], 0, if coarse { 4_000_000 } else { 1 })?;
    }
    Ok(0)
}

pub(crate) fn gettimeofday(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let (s, ns) = host_clock(libc::CLOCK_REALTIME);
    if a[0] != 0 {
        ctx.write_struct(a[0], &Timeval { tv_sec: s, tv_usec: ns / 1000 })?;
    }
    if a[1] != 0 {
        ctx.write_struct(a[1], &Timezone::default())?;
    }
    Ok(0)
}

pub(crate) fn time(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let (s, _) = host_clock(libc::CLOCK_REALTIME);
    if a[0] != 0 {
        ctx.write_u64(a[0], s as u64)?;
    }
    Ok(s)
}

/// Sleeps until `deadline`, interruptibly. A relative sleep (`relative`)
/// a signal interrupts writes what is left to `rem` (if given) and returns
/// ERESTART_RESTARTBLOCK: EINTR if a handler runs, else restart_syscall
/// sleeps the rest. An absolute one returns ERESTARTNOHAND: it simply runs
/// again if no handler does.
fn sleep_until(ctx: &mut Ctx, deadline: Instant, relative: bool, rem: u64) -> SysResult {
    loop {
        if Instant::now() >= deadline {
            return Ok(0);
        }
        if let Some(w) = ctx.interrupted() {
            if w != Woken::Signal {
                return Err(EINTR);
            }
            if !relative {
                return Err(ERESTARTNOHAND);
            }
            if rem != 0 {
                let left = deadline.saturating_duration_since(Instant::now());
                write_timespec(ctx, rem, left.as_secs() as i64, left.subsec_nanos() as i64)?;
            }
            ctx.thread_mut().restart_block = Some(RestartBlock::Sleep { deadline, rem });
            return Err(ERESTART_RESTARTBLOCK);
        }
        ctx.sleep(Some(deadline));
    }
}

/// restart_syscall(2): continues what the thread's restart block holds;
/// with none, EINTR (do_no_restart_syscall).
pub(crate) fn restart_syscall(ctx: &mut Ctx, _: [u64; 6]) -> SysResult {
    match ctx.thread_mut().restart_block.take() {
        Some(RestartBlock::Sleep { deadline, rem }) => sleep_until(ctx, deadline, true, rem),
        Some(RestartBlock::Futex { addr, val, deadline, bitset, private }) => {
            super::super::futex::wait(ctx, addr, val, Some(deadline), bitset, private)
        }
        None => Err(EINTR),
    }
}

pub(crate) fn nanosleep(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let (s, ns) = read_timespec(ctx, a[0])?;
    let deadline = Instant::now() + Duration::new(s as u64, ns as u32);
    sleep_until(ctx, deadline, true, a[1])
}

pub(crate) fn clock_nanosleep(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let (clock, flags, req, rem) = (a[0], a[1], a[2], a[3]);
    if matches!(clock, CLOCK_THREAD_CPUTIME_ID) {
        return Err(EINVAL);
    }
    let (s, ns) = read_timespec(ctx, req)?;
    let now = clock_now(ctx, clock)?;
    let d = if flags & TIMER_ABSTIME != 0 {
        let total = (s as i128 * 1_000_000_000 + ns as i128) - (now.0 as i128 * 1_000_000_000 + now.1 as i128);
        if total <= 0 {
            return Ok(0);
        }
        Duration::from_nanos(total.min(u64::MAX as i128) as u64)
    } else {
        Duration::new(s as u64, ns as u32)
    };
    let deadline = Instant::now().checked_add(d).unwrap_or_else(|| Instant::now() + Duration::from_secs(1 << 32));
    let relative = flags & TIMER_ABSTIME == 0;
    sleep_until(ctx, deadline, relative, if relative { rem } else { 0 })
}

/// The real-time timer: what is left of it (in µs) and its interval.
pub(super) fn itimer_left(ctx: &Ctx) -> (Duration, Duration) {
    match ctx.proc().itimer_real {
        Some((at, every)) => (at.saturating_duration_since(Instant::now()), every),
        None => (Duration::ZERO, Duration::ZERO),
    }
}

pub(super) fn set_itimer(ctx: &mut Ctx, value: Duration, interval: Duration) {
    ctx.proc_mut().itimer_real = if value.is_zero() { None } else { Some((Instant::now() + value, interval)) };
    // The supervisor sleeps until the next timer: tell it.
    ctx.wake_supervisor();
}

pub(crate) fn alarm(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let (left, _) = itimer_left(ctx);
    set_itimer(ctx, Duration::from_secs(a[0] as u32 as u64), Duration::ZERO);
    // Seconds left, rounded to the nearest (at least 1 if any was left).
    let secs = left.as_secs() + u64::from(left.subsec_micros() >= 500_000);
    Ok(if left.is_zero() { 0 } else { secs.max(1) as i64 })
}

impl Kernel {
    /// Fires the interval timers that are due (SIGALRM); returns when the
    /// next one is due.
    pub(crate) fn fire_timers(&self) -> Option<Instant> {
        let mut k = self.lock();
        // What changed before now is looked at here.
        k.supervisor_poked = false;
        let now = Instant::now();
        let due: Vec<u32> = k
            .tasks
            .procs()
            .filter(|p| !p.is_zombie() && p.itimer_real.is_some_and(|(at, _)| at <= now))
            .map(|p| p.pid)
            .collect();
        for pid in due {
            let p = k.tasks.proc_mut(pid).expect("just found");
            let (_, every) = p.itimer_real.expect("due");
            p.itimer_real = if every.is_zero() { None } else { Some((now + every, every)) };
            k.send_process_signal(pid, super::super::signal::SigInfo::kernel(super::super::signal::SIGALRM));
        }
        let real = k.tasks.procs().filter_map(|p| p.itimer_real.map(|(at, _)| at)).min();
        let others = k.fire_process_timers();
        [real, others].into_iter().flatten().min()
    }
}
