//! Clocks and timers: `include/uapi/linux/time.h` (CLOCK_, TIMER_ABSTIME,
//! ITIMER_, struct itimerval), `linux/time_types.h` (struct timespec,
//! timeval in their 64-bit forms), `linux/times.h` (struct tms) and
//! `linux/time.h` (struct timezone), and struct utimbuf (`linux/utime.h`).

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use super::linux_consts;

linux_consts! {
    /// The clock ids.
    pub(crate) CLOCKS: u64 {
        CLOCK_REALTIME = 0,
        CLOCK_MONOTONIC = 1,
        CLOCK_PROCESS_CPUTIME_ID = 2,
        CLOCK_THREAD_CPUTIME_ID = 3,
        CLOCK_MONOTONIC_RAW = 4,
        CLOCK_REALTIME_COARSE = 5,
        CLOCK_MONOTONIC_COARSE = 6,
        CLOCK_BOOTTIME = 7,
        CLOCK_REALTIME_ALARM = 8,
        CLOCK_BOOTTIME_ALARM = 9,
        CLOCK_TAI = 11,
    }

    /// clock_nanosleep's and timer_settime's flags.
    _: u64 {
        TIMER_ABSTIME = 1,
    }

    /// The interval timers.
    _: u64 {
        ITIMER_REAL = 0,
        ITIMER_VIRTUAL = 1,
        ITIMER_PROF = 2,
    }
}

/// The clock ticks times(2) counts in.
pub(crate) const USER_HZ: u64 = 100;

/// struct timespec.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub(crate) struct Timespec {
    pub(crate) tv_sec: i64,
    pub(crate) tv_nsec: i64,
}
const _: () = assert!(size_of::<Timespec>() == 16);

/// struct timeval.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub(crate) struct Timeval {
    pub(crate) tv_sec: i64,
    pub(crate) tv_usec: i64,
}
const _: () = assert!(size_of::<Timeval>() == 16);

/// struct itimerval: the interval first, then what is left.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub(crate) struct Itimerval {
    pub(crate) it_interval: Timeval,
    pub(crate) it_value: Timeval,
}
const _: () = assert!(size_of::<Itimerval>() == 32);

/// struct tms, in clock ticks.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub(crate) struct Tms {
    pub(crate) tms_utime: i64,
    pub(crate) tms_stime: i64,
    pub(crate) tms_cutime: i64,
    pub(crate) tms_cstime: i64,
}
const _: () = assert!(size_of::<Tms>() == 32);

/// struct timezone (gettimeofday's second argument; always zero).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub(crate) struct Timezone {
    pub(crate) tz_minuteswest: i32,
    pub(crate) tz_dsttime: i32,
}
const _: () = assert!(size_of::<Timezone>() == 8);

/// struct utimbuf: utime(2)'s access and modification times.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub(crate) struct Utimbuf {
    pub(crate) actime: i64,
    pub(crate) modtime: i64,
}
const _: () = assert!(size_of::<Utimbuf>() == 16);
