//! Clocks.

use super::errno::{SysResult, EINVAL};
use super::Task;

const CLOCK_REALTIME: u64 = 0;
const CLOCK_MONOTONIC: u64 = 1;
const CLOCK_PROCESS_CPUTIME_ID: u64 = 2;
const CLOCK_THREAD_CPUTIME_ID: u64 = 3;
const CLOCK_MONOTONIC_RAW: u64 = 4;
const CLOCK_REALTIME_COARSE: u64 = 5;
const CLOCK_MONOTONIC_COARSE: u64 = 6;
const CLOCK_BOOTTIME: u64 = 7;

fn host_clock(id: libc::clockid_t) -> (i64, i64) {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: valid clock id and out-pointer.
    unsafe { libc::clock_gettime(id, &mut ts) };
    (ts.tv_sec, ts.tv_nsec)
}

/// clock_gettime(2). Wall and monotonic clocks are the host's; the CPU
/// clocks count from the program's start.
pub fn clock_gettime(task: &mut Task, clock: u64, tp: u64) -> SysResult {
    let (sec, nsec) = match clock {
        CLOCK_REALTIME | CLOCK_REALTIME_COARSE => host_clock(libc::CLOCK_REALTIME),
        CLOCK_MONOTONIC | CLOCK_MONOTONIC_RAW | CLOCK_MONOTONIC_COARSE => host_clock(libc::CLOCK_MONOTONIC),
        CLOCK_BOOTTIME => host_clock(libc::CLOCK_BOOTTIME),
        CLOCK_PROCESS_CPUTIME_ID | CLOCK_THREAD_CPUTIME_ID => {
            let d = task.started.elapsed();
            (d.as_secs() as i64, d.subsec_nanos() as i64)
        }
        _ => return Err(EINVAL),
    };
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&sec.to_le_bytes());
    b[8..].copy_from_slice(&nsec.to_le_bytes());
    task.copy_to_user(tp, &b)?;
    Ok(0)
}
