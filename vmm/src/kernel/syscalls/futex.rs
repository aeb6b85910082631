//! futex(2): its operations decoded and checked here, the waiting and
//! waking done by `kernel::futex`.

use std::time::{Duration, Instant};

use super::super::abi::futex::*;
use super::super::errno::*;
use super::super::futex;
use super::super::task::Ctx;

/// A futex timeout: relative for FUTEX_WAIT, absolute for WAIT_BITSET.
fn futex_deadline(ctx: &mut Ctx, at: u64, absolute: bool, realtime: bool) -> Result<Option<Instant>, Errno> {
    if at == 0 {
        return Ok(None);
    }
    let (s, ns) = super::time::read_timespec(ctx, at)?;
    let d = Duration::new(s as u64, ns as u32);
    if !absolute {
        return Ok(Some(Instant::now() + d));
    }
    let clock = if realtime { libc::CLOCK_REALTIME } else { libc::CLOCK_MONOTONIC };
    let now = super::time::host_clock(clock);
    let now = Duration::new(now.0 as u64, now.1 as u32);
    // A monotonic deadline is in the caller's time namespace.
    let d = if realtime {
        d
    } else {
        let host = ctx.proc().time_ns.to_host(super::super::abi::time::CLOCK_MONOTONIC, d.as_nanos() as i128);
        Duration::from_nanos(host.clamp(0, u64::MAX as i128) as u64)
    };
    Ok(Some(Instant::now() + d.saturating_sub(now)))
}

/// FUTEX_WAKE_OP's operation on the second word; whether its comparison
/// holds.
fn wake_op(ctx: &mut Ctx, addr2: u64, encoded: u32) -> Result<bool, Errno> {
    let op = (encoded >> 28) & 7;
    let cmp = (encoded >> 24) & 15;
    let mut oparg = (encoded >> 12) & 0xfff;
    let cmparg = encoded & 0xfff;
    if encoded & (FUTEX_OP_OPARG_SHIFT << 28) != 0 {
        oparg = 1u32.checked_shl(oparg).unwrap_or(0);
    }
    let old = ctx.read_u32(addr2)?;
    let new = match op {
        FUTEX_OP_SET => oparg,
        FUTEX_OP_ADD => old.wrapping_add(oparg),
        FUTEX_OP_OR => old | oparg,
        FUTEX_OP_ANDN => old & !oparg,
        FUTEX_OP_XOR => old ^ oparg,
        _ => return Err(ENOSYS),
    };
    ctx.write_u32(addr2, new)?;
    let (o, c) = (old as i32, cmparg as i32);
    Ok(match cmp {
        FUTEX_OP_CMP_EQ => o == c,
        FUTEX_OP_CMP_NE => o != c,
        FUTEX_OP_CMP_LT => o < c,
        FUTEX_OP_CMP_LE => o <= c,
        FUTEX_OP_CMP_GT => o > c,
        FUTEX_OP_CMP_GE => o >= c,
        _ => return Err(ENOSYS),
    })
}

pub(super) fn futex(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let (addr, op, val, utime, addr2, val3) = (a[0], a[1], a[2] as u32, a[3], a[4], a[5] as u32);
    let private = op & FUTEX_PRIVATE_FLAG != 0;
    let realtime = op & FUTEX_CLOCK_REALTIME != 0;
    // The operation: the bits below the flags.
    let cmd = op & (FUTEX_PRIVATE_FLAG - 1);
    if realtime && !matches!(cmd, FUTEX_WAIT_BITSET | FUTEX_WAIT) {
        return Err(ENOSYS);
    }
    match cmd {
        FUTEX_WAIT => {
            let d = futex_deadline(ctx, utime, realtime, realtime)?;
            super::super::futex::wait(ctx, addr, val, d, FUTEX_BITSET_MATCH_ANY, private)
        }
        FUTEX_WAIT_BITSET => {
            let d = futex_deadline(ctx, utime, true, realtime)?;
            super::super::futex::wait(ctx, addr, val, d, val3, private)
        }
        FUTEX_WAKE | FUTEX_WAKE_BITSET => {
            let bits = if cmd == FUTEX_WAKE { FUTEX_BITSET_MATCH_ANY } else { val3 };
            if bits == 0 {
                return Err(EINVAL);
            }
            let key = futex::key(ctx, addr, private)?;
            Ok(ctx.k.futex_wake_key(key, val, bits) as i64)
        }
        FUTEX_REQUEUE | FUTEX_CMP_REQUEUE => {
            // futex_requeue(): the counts are ints (val2 is the timeout
            // argument's low half); then both keys, then the compare.
            let (nr_wake, nr_requeue) = (val as i32, utime as u32 as i32);
            if nr_wake < 0 || nr_requeue < 0 {
                return Err(EINVAL);
            }
            let key = futex::key(ctx, addr, private)?;
            let key2 = futex::key(ctx, addr2, private)?;
            if cmd == FUTEX_CMP_REQUEUE && ctx.read_u32(addr)? != val3 {
                return Err(EAGAIN);
            }
            let woken = ctx.k.futex_wake_key(key, val, FUTEX_BITSET_MATCH_ANY);
            let moved = ctx.k.futex_requeue(key, key2, nr_requeue as u32);
            Ok((woken + moved) as i64)
        }
        FUTEX_WAKE_OP => {
            let key = futex::key(ctx, addr, private)?;
            let key2 = futex::key(ctx, addr2, private)?;
            let hit = wake_op(ctx, addr2, val3)?;
            let mut n = ctx.k.futex_wake_key(key, val, FUTEX_BITSET_MATCH_ANY);
            if hit {
                n += ctx.k.futex_wake_key(key2, utime as u32, FUTEX_BITSET_MATCH_ANY);
            }
            Ok(n as i64)
        }
        _ => Err(ENOSYS),
    }
}

/// futex_waitv(2): the checks of sys_futex_waitv and futex_parse_waitv, in
/// their order, then the wait on all of them.
pub(super) fn futex_waitv(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    use super::super::abi::time::{CLOCK_MONOTONIC, CLOCK_REALTIME};
    let (waiters, nr, flags, timeout, clock) = (a[0], a[1] as u32, a[2] as u32, a[3], a[4] as i32 as u64);
    if flags != 0 || nr == 0 || nr > FUTEX_WAITV_MAX || waiters == 0 {
        return Err(EINVAL);
    }
    let deadline = if timeout != 0 {
        if clock != CLOCK_REALTIME && clock != CLOCK_MONOTONIC {
            return Err(EINVAL);
        }
        Some(futex_deadline(ctx, timeout, true, clock == CLOCK_REALTIME)?)
    } else {
        None
    }
    .flatten();
    let mut words = Vec::with_capacity(nr as usize);
    for i in 0..nr as u64 {
        let w: FutexWaitv = ctx.read_struct(waiters + i * std::mem::size_of::<FutexWaitv>() as u64)?;
        let valid = FUTEX2_SIZE_MASK | FUTEX2_NUMA | FUTEX2_PRIVATE;
        if w.flags & !valid != 0 || w.reserved != 0 || w.flags & FUTEX2_SIZE_MASK != FUTEX2_SIZE_U32 {
            return Err(EINVAL);
        }
        let val = u32::try_from(w.val).map_err(|_| EINVAL)?;
        words.push((w.uaddr, val, w.flags & FUTEX2_PRIVATE != 0));
    }
    super::super::futex::wait_multiple(ctx, &words, deadline)
}

#[cfg(test)]
mod tests {
    use crate::kernel::abi::futex::{FUTEX2_PRIVATE, FUTEX2_SIZE_U32};
    use crate::kernel::abi::mman::{PROT_READ, PROT_WRITE};
    use crate::kernel::abi::time::{CLOCK_MONOTONIC, CLOCK_REALTIME, CLOCK_TAI};
    use crate::kernel::errno::*;
    use crate::kernel::testing::{err, TestKernel};

    #[test]
    fn futex_waitv_checks_as_linux_and_times_out() {
        let t = TestKernel::new();
        let m = t.mmap_anon(4096, PROT_READ | PROT_WRITE);
        // Two waiters: words at m+512 (holding 7) and m+516 (holding 0).
        t.poke(m + 512, &7u32.to_le_bytes());
        let waiter = |at: u64, word: u64, val: u64, flags: u32| {
            let mut b = val.to_le_bytes().to_vec();
            b.extend(word.to_le_bytes());
            b.extend(flags.to_le_bytes());
            b.extend(0u32.to_le_bytes());
            t.poke(at, &b);
        };
        let f = FUTEX2_SIZE_U32 | FUTEX2_PRIVATE;
        waiter(m, m + 512, 7, f);
        waiter(m + 24, m + 516, 0, f);
        // An absolute timeout already past: 1 s after the clock's zero.
        t.poke(m + 256, &[1u64.to_le_bytes(), 0u64.to_le_bytes()].concat());
        let waitv = |n: u64, flags: u64, clock: u64| t.sys("futex_waitv", &[m, n, flags, m + 256, clock]);
        assert_eq!(waitv(2, 0, CLOCK_MONOTONIC), err(ETIMEDOUT));
        assert_eq!(waitv(2, 0, CLOCK_REALTIME), err(ETIMEDOUT));
        assert_eq!(waitv(2, 1, CLOCK_MONOTONIC), err(EINVAL), "flags");
        assert_eq!(waitv(0, 0, CLOCK_MONOTONIC), err(EINVAL), "none");
        assert_eq!(waitv(129, 0, CLOCK_MONOTONIC), err(EINVAL), "past FUTEX_WAITV_MAX");
        assert_eq!(waitv(2, 0, CLOCK_TAI), err(EINVAL), "clock");
        assert_eq!(t.sys("futex_waitv", &[0, 1, 0, m + 256, CLOCK_MONOTONIC]), err(EINVAL), "no array");
        waiter(m + 24, m + 516, 1, f);
        assert_eq!(waitv(2, 0, CLOCK_MONOTONIC), err(EAGAIN), "the second word differs");
        waiter(m + 24, m + 518, 0, f);
        assert_eq!(waitv(2, 0, CLOCK_MONOTONIC), err(EINVAL), "unaligned");
        waiter(m + 24, 0, 0, f);
        assert_eq!(waitv(2, 0, CLOCK_MONOTONIC), err(EFAULT), "unmapped");
        waiter(m + 24, m + 516, 0, FUTEX2_PRIVATE);
        assert_eq!(waitv(2, 0, CLOCK_MONOTONIC), err(EINVAL), "an 8-bit word");
        waiter(m + 24, m + 516, 1 << 32, f);
        assert_eq!(waitv(2, 0, CLOCK_MONOTONIC), err(EINVAL), "a value past 32 bits");
    }
}
