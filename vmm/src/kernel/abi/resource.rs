//! Resources: getrlimit's RLIMIT_ and struct rlimit64
//! (`include/uapi/asm-generic/resource.h`, `linux/resource.h`),
//! getpriority's PRIO_, getrusage's RUSAGE_ and struct rusage
//! (`linux/resource.h`).

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use super::linux_consts;
use super::time::Timeval;

linux_consts! {
    /// The resources, in their order.
    pub(crate) RLIMITS: usize {
        RLIMIT_CPU = 0,
        RLIMIT_FSIZE = 1,
        RLIMIT_DATA = 2,
        RLIMIT_STACK = 3,
        RLIMIT_CORE = 4,
        RLIMIT_RSS = 5,
        RLIMIT_NPROC = 6,
        RLIMIT_NOFILE = 7,
        RLIMIT_MEMLOCK = 8,
        RLIMIT_AS = 9,
        RLIMIT_LOCKS = 10,
        RLIMIT_SIGPENDING = 11,
        RLIMIT_MSGQUEUE = 12,
        RLIMIT_NICE = 13,
        RLIMIT_RTPRIO = 14,
        RLIMIT_RTTIME = 15,
    }

    /// getpriority's `which`.
    _: u64 {
        PRIO_USER = 2,
    }

    /// getrusage's `who`.
    _: i32 {
        RUSAGE_SELF = 0,
        RUSAGE_CHILDREN = -1,
        RUSAGE_THREAD = 1,
    }
}

/// How many resources there are.
pub(crate) const RLIM_NLIMITS: usize = 16;
/// No limit.
pub(crate) const RLIM_INFINITY: u64 = u64::MAX;

/// struct rlimit64: the soft limit, then the hard one.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub(crate) struct Rlimit {
    pub(crate) cur: u64,
    pub(crate) max: u64,
}
const _: () = assert!(size_of::<Rlimit>() == 16);

/// struct rusage.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub(crate) struct Rusage {
    pub(crate) ru_utime: Timeval,
    pub(crate) ru_stime: Timeval,
    /// KiB.
    pub(crate) ru_maxrss: i64,
    pub(crate) ru_ixrss: i64,
    pub(crate) ru_idrss: i64,
    pub(crate) ru_isrss: i64,
    pub(crate) ru_minflt: i64,
    pub(crate) ru_majflt: i64,
    pub(crate) ru_nswap: i64,
    pub(crate) ru_inblock: i64,
    pub(crate) ru_oublock: i64,
    pub(crate) ru_msgsnd: i64,
    pub(crate) ru_msgrcv: i64,
    pub(crate) ru_nsignals: i64,
    pub(crate) ru_nvcsw: i64,
    pub(crate) ru_nivcsw: i64,
}
const _: () = assert!(size_of::<Rusage>() == 144);
