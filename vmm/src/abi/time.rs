//! Clocks and sleeping.

use super::errno::*;
use super::Task;

const CLOCK_REALTIME: u64 = 0;
const CLOCK_MONOTONIC: u64 = 1;
const CLOCK_PROCESS_CPUTIME_ID: u64 = 2;
const CLOCK_THREAD_CPUTIME_ID: u64 = 3;
const CLOCK_MONOTONIC_RAW: u64 = 4;
const CLOCK_REALTIME_COARSE: u64 = 5;
const CLOCK_MONOTONIC_COARSE: u64 = 6;
const CLOCK_BOOTTIME: u64 = 7;
const TIMER_ABSTIME: u64 = 1;

fn host_clock(id: libc::clockid_t) -> (i64, i64) {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: valid clock id and out-pointer.
    unsafe { libc::clock_gettime(id, &mut ts) };
    (ts.tv_sec, ts.tv_nsec)
}

/// The host clock behind a guest clock id.
fn clock_now(task: &Task, clock: u64) -> Result<(i64, i64), Errno> {
    Ok(match clock {
        CLOCK_REALTIME | CLOCK_REALTIME_COARSE => host_clock(libc::CLOCK_REALTIME),
        CLOCK_MONOTONIC | CLOCK_MONOTONIC_RAW | CLOCK_MONOTONIC_COARSE => host_clock(libc::CLOCK_MONOTONIC),
        CLOCK_BOOTTIME => host_clock(libc::CLOCK_BOOTTIME),
        // CPU clocks count from the program's start.
        CLOCK_PROCESS_CPUTIME_ID | CLOCK_THREAD_CPUTIME_ID => {
            let d = task.started.elapsed();
            (d.as_secs() as i64, d.subsec_nanos() as i64)
        }
        _ => return Err(EINVAL),
    })
}

fn write_pair(task: &Task, at: u64, a: i64, b: i64) -> Result<(), Errno> {
    let mut buf = [0u8; 16];
    buf[..8].copy_from_slice(&a.to_le_bytes());
    buf[8..].copy_from_slice(&b.to_le_bytes());
    task.copy_to_user(at, &buf)
}

pub fn clock_gettime(task: &mut Task, clock: u64, tp: u64) -> SysResult {
    let (s, ns) = clock_now(task, clock)?;
    write_pair(task, tp, s, ns)?;
    Ok(0)
}

pub fn clock_getres(task: &mut Task, clock: u64, res: u64) -> SysResult {
    clock_now(task, clock)?;
    if res != 0 {
        write_pair(task, res, 0, 1)?;
    }
    Ok(0)
}

pub fn gettimeofday(task: &mut Task, tv: u64, tz: u64) -> SysResult {
    let (s, ns) = host_clock(libc::CLOCK_REALTIME);
    if tv != 0 {
        write_pair(task, tv, s, ns / 1000)?;
    }
    if tz != 0 {
        task.copy_to_user(tz, &[0u8; 8])?;
    }
    Ok(0)
}

pub fn time(task: &mut Task, tloc: u64) -> SysResult {
    let (s, _) = host_clock(libc::CLOCK_REALTIME);
    if tloc != 0 {
        task.write_u64(tloc, s as u64)?;
    }
    Ok(s)
}

fn read_timespec(task: &Task, at: u64) -> Result<(i64, i64), Errno> {
    let (s, ns) = (task.read_u64(at)? as i64, task.read_u64(at + 8)? as i64);
    if s < 0 || !(0..1_000_000_000).contains(&ns) {
        return Err(EINVAL);
    }
    Ok((s, ns))
}

/// Sleeps the vCPU thread. A watchdog kick ends it early with EINTR.
fn sleep(s: i64, ns: i64) -> Result<(), Errno> {
    let ts = libc::timespec { tv_sec: s, tv_nsec: ns };
    // SAFETY: valid timespec; no remainder wanted.
    if unsafe { libc::nanosleep(&ts, std::ptr::null_mut()) } != 0 {
        return Err(EINTR);
    }
    Ok(())
}

pub fn nanosleep(task: &mut Task, req: u64, _rem: u64) -> SysResult {
    let (s, ns) = read_timespec(task, req)?;
    sleep(s, ns)?;
    Ok(0)
}

pub fn clock_nanosleep(task: &mut Task, clock: u64, flags: u64, req: u64, _rem: u64) -> SysResult {
    let (mut s, mut ns) = read_timespec(task, req)?;
    let now = clock_now(task, clock)?;
    if flags & TIMER_ABSTIME != 0 {
        let total = (s as i128 * 1_000_000_000 + ns as i128) - (now.0 as i128 * 1_000_000_000 + now.1 as i128);
        if total <= 0 {
            return Ok(0);
        }
        s = (total / 1_000_000_000) as i64;
        ns = (total % 1_000_000_000) as i64;
    }
    sleep(s, ns)?;
    Ok(0)
}
