//! Time namespaces (CONFIG_TIME_NS, kernel/time/namespace.c): offsets a
//! namespace adds to CLOCK_MONOTONIC and CLOCK_BOOTTIME for the processes
//! in it. `unshare(CLONE_NEWTIME)` makes one for the caller's children
//! (the caller stays where it is); its offsets are set through
//! /proc/PID/timens_offsets until a process enters it, by fork or by the
//! creator's next execve, and are frozen from then on.
//!
//! Clocks are read as the host's plus the offset; an absolute deadline on
//! such a clock (timerfd, POSIX timers, clock_nanosleep, futex) is turned
//! back into the host's by [`TimeNs::to_host`], as timens_ktime_to_host.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use super::abi::time::*;
use super::errno::*;

const NS: i128 = 1_000_000_000;
/// KTIME_SEC_MAX: the seconds a ktime_t can hold.
const KTIME_SEC_MAX: i64 = i64::MAX / 1_000_000_000;

/// A namespace's offsets, as (seconds, nanoseconds) like struct
/// timens_offsets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Offsets {
    monotonic: (i64, i64),
    boottime: (i64, i64),
}

pub(crate) struct TimeNs {
    offsets: Mutex<Offsets>,
    /// A process has entered it: /proc/PID/timens_offsets is EACCES.
    frozen: AtomicBool,
}

impl TimeNs {
    /// init_time_ns: no offsets, and none may be set.
    pub(crate) fn root() -> Arc<Self> {
        Arc::new(TimeNs { offsets: Mutex::new(Offsets::default()), frozen: AtomicBool::new(true) })
    }

    /// copy_time_ns(): a new namespace starting from `self`'s offsets.
    pub(crate) fn new_child(&self) -> Arc<Self> {
        Arc::new(TimeNs { offsets: Mutex::new(*self.offsets.lock()), frozen: AtomicBool::new(false) })
    }

    /// timens_commit(): a process enters it; its offsets stay as they are.
    pub(crate) fn enter(&self) {
        self.frozen.store(true, Ordering::Relaxed);
    }

    /// The offset of `clock` in this namespace, in nanoseconds (0 for the
    /// clocks a namespace does not move).
    pub(crate) fn offset_ns(&self, clock: u64) -> i128 {
        let o = *self.offsets.lock();
        let (s, ns) = match clock {
            CLOCK_MONOTONIC | CLOCK_MONOTONIC_RAW | CLOCK_MONOTONIC_COARSE => o.monotonic,
            CLOCK_BOOTTIME | CLOCK_BOOTTIME_ALARM => o.boottime,
            _ => return 0,
        };
        s as i128 * NS + ns as i128
    }

    /// The host's time for `t`, a time of `clock` in this namespace.
    pub(crate) fn to_host(&self, clock: u64, t: i128) -> i128 {
        t - self.offset_ns(clock)
    }

    /// /proc/PID/timens_offsets, as proc_timens_show_offsets.
    pub(crate) fn show(&self) -> String {
        let o = *self.offsets.lock();
        [("monotonic", o.monotonic), ("boottime", o.boottime)]
            .iter()
            .map(|(name, (s, ns))| format!("{name:<10} {s:>10} {ns:>9}\n"))
            .collect()
    }

    /// A write of /proc/PID/timens_offsets: lines of `CLOCK SECONDS
    /// NANOSECONDS`, the clock by name or number (timens_offsets_write,
    /// then proc_timens_set_offset). `now` reads the host's clock.
    pub(crate) fn set(&self, text: &[u8], now: impl Fn(u64) -> (i64, i64)) -> Result<(), Errno> {
        let text = std::str::from_utf8(text).map_err(|_| EINVAL)?;
        let text = text.split('\0').next().unwrap_or("");
        let mut new = Vec::new();
        // At most two lines count, as the kernel's array of two.
        for line in text.split('\n').filter(|l| !l.is_empty()).take(2) {
            let mut w = line.split_whitespace();
            let (Some(clock), Some(s), Some(ns)) = (w.next(), w.next(), w.next()) else { return Err(EINVAL) };
            let clock = match clock {
                "monotonic" | "1" => CLOCK_MONOTONIC,
                "boottime" | "7" => CLOCK_BOOTTIME,
                _ => return Err(EINVAL),
            };
            let s: i64 = s.parse().map_err(|_| EINVAL)?;
            let ns: u64 = ns.parse().map_err(|_| EINVAL)?;
            if ns >= NS as u64 {
                return Err(EINVAL);
            }
            new.push((clock, s, ns as i64));
        }
        if new.is_empty() {
            return Err(EINVAL);
        }
        for &(clock, s, ns) in &new {
            if !(-KTIME_SEC_MAX..=KTIME_SEC_MAX).contains(&s) {
                return Err(ERANGE);
            }
            // The clock with the offset must stay within half of ktime.
            let (hs, hns) = now(clock);
            let total = (hs as i128 * NS + hns as i128) + s as i128 * NS + ns as i128;
            if total < 0 || total / NS > (KTIME_SEC_MAX / 2) as i128 {
                return Err(ERANGE);
            }
        }
        let mut o = self.offsets.lock();
        if self.frozen.load(Ordering::Relaxed) {
            return Err(EACCES);
        }
        for (clock, s, ns) in new {
            match clock {
                CLOCK_MONOTONIC => o.monotonic = (s, ns),
                _ => o.boottime = (s, ns),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use zerocopy::IntoBytes;

    use super::*;

    fn host(_: u64) -> (i64, i64) {
        (1000, 0)
    }

    #[test]
    fn offsets_are_set_until_a_process_enters() {
        let root = TimeNs::root();
        assert_eq!(root.set(b"1 10 0", host), Err(EACCES), "init_time_ns is frozen");
        let ns = root.new_child();
        assert_eq!(ns.set(b"monotonic 10 5\n7 -20 0\n", host), Ok(()));
        assert_eq!(ns.offset_ns(CLOCK_MONOTONIC), 10 * NS + 5);
        assert_eq!(ns.offset_ns(CLOCK_BOOTTIME), -20 * NS);
        assert_eq!(ns.offset_ns(CLOCK_REALTIME), 0);
        assert_eq!(ns.to_host(CLOCK_MONOTONIC, 100 * NS), 90 * NS - 5);
        assert_eq!(ns.show(), "monotonic          10         5\nboottime          -20         0\n");
        ns.enter();
        assert_eq!(ns.set(b"1 1 0", host), Err(EACCES));
        // A child namespace starts from its parent's offsets.
        assert_eq!(ns.new_child().offset_ns(CLOCK_MONOTONIC), 10 * NS + 5);
    }

    #[test]
    fn a_child_reads_its_namespaces_clocks_and_arms_timers_on_them() {
        use crate::kernel::abi::mman::{PROT_READ, PROT_WRITE};
        use crate::kernel::abi::sched::{CLONE_NEWTIME, CLONE_VM};
        use crate::kernel::testing::{err, TestConfig, TestKernel};
        let secs = |b: Vec<u8>| i64::from_le_bytes(b[..8].try_into().unwrap());
        let host_mono = || crate::kernel::syscalls::time::host_clock(libc::CLOCK_MONOTONIC).0;

        let user = TestKernel::new();
        assert_eq!(user.sys("unshare", &[CLONE_NEWTIME]), err(EPERM), "needs CAP_SYS_ADMIN");

        let mut t = TestKernel::with(TestConfig { uid: 0, ..TestConfig::default() });
        let buf = t.mmap_anon(4096, PROT_READ | PROT_WRITE);
        let mono = |t: &TestKernel| {
            assert_eq!(t.sys("clock_gettime", &[CLOCK_MONOTONIC, buf]), 0);
            secs(t.peek(buf, 8))
        };
        let write_offsets = |t: &TestKernel, text: &[u8]| {
            let fd = t.open("/proc/self/timens_offsets", 1);
            assert!(fd >= 0, "{fd}");
            t.poke(buf, text);
            let r = t.sys("write", &[fd as u64, buf, text.len() as u64]);
            t.sys("close", &[fd as u64]);
            r
        };
        assert_eq!(write_offsets(&t, b"monotonic 1000 0\n"), err(EACCES), "the root namespace");
        assert_eq!(t.sys("unshare", &[CLONE_NEWTIME]), 0);
        assert_eq!(write_offsets(&t, b"1 1000 0\n"), 9);
        // The caller stays in its namespace; a child sharing its memory
        // could not be in another.
        assert!((mono(&t) - host_mono()).abs() <= 1);
        assert_eq!(t.sys("clone", &[CLONE_VM | 17, 0, 0, 0, 0]), err(EINVAL));
        let parent = t.pid;
        let child = t.sys("fork", &[]);
        assert!(child > 0, "{child}");
        assert_eq!(write_offsets(&t, b"1 5 0\n"), err(EACCES), "frozen once entered");
        t.become_process(child as u32);
        let now = mono(&t);
        assert!((now - host_mono() - 1000).abs() <= 1, "the child's clock: {now}");
        assert!(t.read_file("/proc/self/timens_offsets").unwrap().starts_with(b"monotonic        1000         0\n"));
        // An absolute timer on the child's clock is due in two seconds,
        // not in 1002.
        let fd = t.sys("timerfd_create", &[CLOCK_MONOTONIC, 0]);
        assert!(fd >= 0);
        let its: [i64; 4] = [0, 0, now + 2, 0];
        t.poke(buf, its.as_bytes());
        assert_eq!(t.sys("timerfd_settime", &[fd as u64, 1, buf, 0]), 0);
        assert_eq!(t.sys("timerfd_gettime", &[fd as u64, buf]), 0);
        let left = secs(t.peek(buf + 16, 8));
        assert!((0..=2).contains(&left), "{left} s left");
        t.become_process(parent);
        assert!((mono(&t) - host_mono()).abs() <= 1, "the parent's clock is the host's");
    }

    #[test]
    fn bad_offsets_are_linuxs_errors() {
        let ns = TimeNs::root().new_child();
        assert_eq!(ns.set(b"2 1 0", host), Err(EINVAL), "CLOCK_PROCESS_CPUTIME_ID");
        assert_eq!(ns.set(b"1 1 1000000000", host), Err(EINVAL));
        assert_eq!(ns.set(b"1 1", host), Err(EINVAL));
        assert_eq!(ns.set(b"1 -2000 0", host), Err(ERANGE), "before the clock's zero");
        assert_eq!(ns.set(b"1 9223372036 0", host), Err(ERANGE), "past half of ktime");
        assert_eq!(ns.offset_ns(CLOCK_MONOTONIC), 0, "nothing set by a failed write");
    }
}
