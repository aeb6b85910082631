//! timerfd, as fs/timerfd.c: a timer on CLOCK_REALTIME, MONOTONIC or
//! BOOTTIME whose expirations a read returns (8 bytes, the count since the
//! last read or settime) and blocks for while there are none. Expirations
//! are counted from the clock when asked, not by a firing thread: the
//! count a read, poll or gettime sees is the one Linux's hrtimer would
//! have made by then, and a waiter sleeps until the next one is due.

use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::kernel::abi::epoll::*;
use crate::kernel::abi::time::*;
use crate::kernel::wait::WaitQueue;
use crate::mm::KmemCharge;

/// struct timerfd_ctx (kzalloc'd, with its hrtimer).
pub(crate) const TIMERFD_CTX_BYTES: u64 = 232;

const NS: i128 = 1_000_000_000;

/// The clock's time now, in nanoseconds.
pub(crate) fn clock_ns(clock: u64) -> i128 {
    let id = match clock {
        CLOCK_REALTIME | CLOCK_REALTIME_ALARM => libc::CLOCK_REALTIME,
        CLOCK_BOOTTIME | CLOCK_BOOTTIME_ALARM => libc::CLOCK_BOOTTIME,
        _ => libc::CLOCK_MONOTONIC,
    };
    let (s, ns) = crate::kernel::syscalls::time::host_clock(id);
    s as i128 * NS + ns as i128
}

pub(crate) fn ts_ns(t: Timespec) -> i128 {
    t.tv_sec as i128 * NS + t.tv_nsec as i128
}

pub(crate) fn ns_ts(ns: i128) -> Timespec {
    let ns = ns.max(0);
    Timespec { tv_sec: (ns / NS).min(i64::MAX as i128) as i64, tv_nsec: (ns % NS) as i64 }
}

/// A timer's arithmetic on a clock's nanoseconds: when it is next due, its
/// interval, and the expirations counted and not yet taken. Shared by
/// timerfd and the POSIX timers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Timer {
    /// When it is next due (clock time), if armed.
    pub next: Option<i128>,
    /// Its period (0: it fires once).
    pub interval: i128,
    /// Expirations not yet taken.
    pub ticks: u64,
}

impl Timer {
    /// Arms it (or disarms it, for a zero value): due at `value` (clock
    /// time if `abs`, else from `now`), then every `interval`.
    pub(crate) fn set(&mut self, now: i128, value: i128, interval: i128, abs: bool) {
        self.ticks = 0;
        self.interval = interval;
        self.next = if value == 0 {
            None
        } else if abs {
            Some(value)
        } else {
            Some(now.saturating_add(value))
        };
    }

    /// Counts the expirations due by `now`: how many were new.
    pub(crate) fn advance(&mut self, now: i128) -> u64 {
        let Some(next) = self.next else { return 0 };
        if now < next {
            return 0;
        }
        let n = if self.interval > 0 {
            let n = (now - next) / self.interval + 1;
            self.next = Some(next.saturating_add(n.saturating_mul(self.interval)));
            n.min(u64::MAX as i128) as u64
        } else {
            self.next = None;
            1
        };
        self.ticks = self.ticks.saturating_add(n);
        n
    }

    /// What is left until it is due (0 if disarmed).
    pub(crate) fn remaining(&self, now: i128) -> i128 {
        self.next.map_or(0, |n| (n - now).max(0))
    }

    /// When it is due as the host's monotonic time, if armed.
    pub(crate) fn due_at(&self, now: i128) -> Option<Instant> {
        let left = self.next? - now;
        let left = Duration::from_nanos(left.clamp(0, u64::MAX as i128) as u64);
        Some(Instant::now().checked_add(left).unwrap_or_else(|| Instant::now() + Duration::from_secs(1 << 32)))
    }
}

pub(crate) struct TimerFd {
    pub clock: u64,
    pub state: Mutex<TimerFdState>,
    /// Waiters, woken when it is set again (a blocked reader must look).
    pub wq: WaitQueue,
    _kmem: KmemCharge,
}

pub(crate) struct TimerFdState {
    pub timer: Timer,
    /// timerfd_settime's flags of the last settime.
    pub flags: u32,
    /// Expirations counted ever, for edge-triggered epoll.
    pub total: u64,
}

impl TimerFd {
    pub(crate) fn new(clock: u64, kmem: KmemCharge) -> Self {
        TimerFd {
            clock,
            state: Mutex::new(TimerFdState { timer: Timer::default(), flags: 0, total: 0 }),
            wq: WaitQueue::default(),
            _kmem: kmem,
        }
    }

    /// The state, with the expirations due by now counted.
    pub(crate) fn now(&self) -> (parking_lot::MutexGuard<'_, TimerFdState>, i128) {
        let now = clock_ns(self.clock);
        let mut s = self.state.lock();
        let n = s.timer.advance(now);
        s.total = s.total.wrapping_add(n);
        (s, now)
    }

    /// timerfd_poll: EPOLLIN once it has expired; when it will.
    pub(crate) fn mask(&self) -> (u32, Option<Instant>, u64) {
        let (s, now) = self.now();
        let r = if s.timer.ticks > 0 { EPOLLIN } else { 0 };
        (r, s.timer.due_at(now), s.total)
    }

    /// Takes the expirations counted (a read), if any.
    pub(crate) fn take(&self) -> Option<u64> {
        let (mut s, _) = self.now();
        (s.timer.ticks > 0).then(|| std::mem::take(&mut s.timer.ticks))
    }

    /// timerfd_show's lines.
    pub(crate) fn fdinfo(&self) -> String {
        let (s, now) = self.now();
        let v = ns_ts(s.timer.remaining(now));
        let i = ns_ts(s.timer.interval);
        format!(
            "clockid: {}\nticks: {}\nsettime flags: 0{:o}\nit_value: ({}, {})\nit_interval: ({}, {})\n",
            self.clock, s.timer.ticks, s.flags, v.tv_sec, v.tv_nsec, i.tv_sec, i.tv_nsec
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expirations_count_from_the_clock() {
        let mut t = Timer::default();
        t.set(1000, 100, 50, false);
        assert_eq!(t.advance(1099), 0);
        assert_eq!(t.advance(1100), 1);
        assert_eq!(t.remaining(1100), 50);
        // Three more periods have passed by 1260: 1150, 1200, 1250.
        assert_eq!(t.advance(1260), 3);
        assert_eq!(t.ticks, 4);
        assert_eq!(t.next, Some(1300));
        // A one-shot timer fires once, then is disarmed.
        t.set(0, 10, 0, true);
        assert_eq!(t.ticks, 0);
        assert_eq!(t.advance(5000), 1);
        assert_eq!(t.next, None);
        assert_eq!(t.remaining(6000), 0);
        // A zero value disarms.
        t.set(0, 0, 10, false);
        assert_eq!(t.advance(1 << 40), 0);
    }
}
