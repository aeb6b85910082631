//! Tasks: clone's flags and struct clone_args, and the scheduling
//! policies (`include/uapi/linux/sched.h`); rseq's flags and size
//! (`linux/rseq.h`).

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use super::linux_consts;

linux_consts! {
    /// clone's flags (the low byte is the exit signal, CSIGNAL).
    pub(crate) CLONE_FLAGS: u64 {
        /// unshare and clone3 only (clone's low byte is its exit signal):
        /// a new time namespace for the children.
        CLONE_NEWTIME = 0x80,
        CLONE_VM = 0x100,
        CLONE_FS = 0x200,
        CLONE_FILES = 0x400,
        CLONE_SIGHAND = 0x800,
        CLONE_PIDFD = 0x1000,
        CLONE_PTRACE = 0x2000,
        CLONE_VFORK = 0x4000,
        CLONE_PARENT = 0x8000,
        CLONE_THREAD = 0x10000,
        CLONE_NEWNS = 0x20000,
        CLONE_SYSVSEM = 0x40000,
        CLONE_SETTLS = 0x80000,
        CLONE_PARENT_SETTID = 0x100000,
        CLONE_CHILD_CLEARTID = 0x200000,
        CLONE_DETACHED = 0x400000,
        CLONE_UNTRACED = 0x800000,
        CLONE_CHILD_SETTID = 0x1000000,
        CLONE_NEWCGROUP = 0x2000000,
        CLONE_NEWUTS = 0x4000000,
        CLONE_NEWIPC = 0x8000000,
        CLONE_NEWUSER = 0x10000000,
        CLONE_NEWPID = 0x20000000,
        CLONE_NEWNET = 0x40000000,
        CLONE_IO = 0x80000000,
        /// clone3 only: the child's caught signals go back to SIG_DFL.
        CLONE_CLEAR_SIGHAND = 0x1_0000_0000,
        /// clone3 only: start the child in the cgroup `cgroup` names.
        CLONE_INTO_CGROUP = 0x2_0000_0000,
    }

    /// rseq's flags (`include/uapi/linux/rseq.h`).
    _: u64 {
        RSEQ_FLAG_UNREGISTER = 1,
    }

    /// The scheduling policies.
    _: u64 {
        SCHED_NORMAL = 0,
        SCHED_FIFO = 1,
        SCHED_RR = 2,
        SCHED_BATCH = 3,
        SCHED_IDLE = 5,
    }
}

/// The bits of clone's flags that hold the exit signal.
pub(crate) const CSIGNAL: u64 = 0xff;

/// struct clone_args (CLONE_ARGS_SIZE_VER2: up to `cgroup`).
#[repr(C)]
#[derive(Clone, Copy, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub(crate) struct CloneArgs {
    pub(crate) flags: u64,
    pub(crate) pidfd: u64,
    pub(crate) child_tid: u64,
    pub(crate) parent_tid: u64,
    pub(crate) exit_signal: u64,
    pub(crate) stack: u64,
    pub(crate) stack_size: u64,
    pub(crate) tls: u64,
    pub(crate) set_tid: u64,
    pub(crate) set_tid_size: u64,
    pub(crate) cgroup: u64,
}
const _: () = assert!(size_of::<CloneArgs>() == 88);
/// The first struct clone_args, without set_tid and cgroup: the smallest
/// clone3 takes.
pub(crate) const CLONE_ARGS_SIZE_VER0: u64 = 64;
/// The struct clone_args Linux knows: bytes past it must be zero.
pub(crate) const CLONE_ARGS_SIZE_VER2: u64 = 88;
/// The most pid namespaces deep (set_tid's longest array).
pub(crate) const MAX_PID_NS_LEVEL: u64 = 32;
/// The real-time policies' priorities.
pub(crate) const MAX_RT_PRIO: i64 = 100;
/// The first struct rseq's size, the smallest rseq takes (and its
/// alignment).
pub(crate) const ORIG_RSEQ_SIZE: u32 = 32;
