//! Signals: their numbers and fault codes (from `crate::arch::signal`,
//! where the trap decoder reaches them), the other si_codes
//! (`include/uapi/asm-generic/siginfo.h`), sigaction's flags and handlers,
//! sigprocmask's `how` and sigaltstack's flags
//! (`asm-generic/signal-defs.h`, x86's `asm/signal.h`), and the layouts of
//! struct sigaction, stack_t and siginfo_t.

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

pub(crate) use crate::arch::signal::*;

use super::{linux_consts, name_table};

/// The standard signals' names.
pub(crate) const SIGNALS: &[(i32, &str)] = name_table![i32:
    SIGHUP, SIGINT, SIGQUIT, SIGILL, SIGTRAP, SIGABRT, SIGBUS, SIGFPE, SIGKILL, SIGUSR1, SIGSEGV, SIGUSR2, SIGPIPE,
    SIGALRM, SIGTERM, SIGSTKFLT, SIGCHLD, SIGCONT, SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU, SIGURG, SIGXCPU, SIGXFSZ,
    SIGVTALRM, SIGPROF, SIGWINCH, SIGIO, SIGPWR, SIGSYS,
];

linux_consts! {
    /// si_codes of signals a process sent.
    _: i32 {
        SI_USER = 0,
        SI_QUEUE = -1,
        SI_TKILL = -6,
    }

    /// si_codes of SIGIO (and of an F_SETSIG signal): what the file
    /// became; NSIGPOLL of them.
    _: i32 {
        POLL_IN = 1,
        POLL_OUT = 2,
        POLL_MSG = 3,
        POLL_ERR = 4,
        POLL_PRI = 5,
        POLL_HUP = 6,
        NSIGPOLL = 6,
    }

    /// sigaction's `sa_flags`.
    _: u64 {
        SA_NOCLDSTOP = 1,
        SA_NOCLDWAIT = 2,
        SA_SIGINFO = 4,
        SA_RESTORER = 0x0400_0000,
        SA_ONSTACK = 0x0800_0000,
        SA_RESTART = 0x1000_0000,
        SA_NODEFER = 0x4000_0000,
        SA_RESETHAND = 0x8000_0000,
    }

    /// sigaction's special handlers.
    _: u64 {
        SIG_DFL = 0,
        SIG_IGN = 1,
    }

    /// sigprocmask's `how`.
    pub(crate) SIG_HOWS: u64 {
        SIG_BLOCK = 0,
        SIG_UNBLOCK = 1,
        SIG_SETMASK = 2,
    }

    /// stack_t's `ss_flags`.
    _: u32 {
        SS_ONSTACK = 1,
        SS_DISABLE = 2,
        SS_AUTODISARM = 1 << 31,
    }
}

/// The size of the kernel's sigset_t (_NSIG bits), the only one the
/// rt_sig* calls take.
pub(crate) const SIGSET_SIZE: u64 = 8;

/// The smallest alternate stack sigaltstack takes: x86-64's
/// (`arch/x86/include/uapi/asm/signal.h`).
#[cfg(target_arch = "x86_64")]
pub(crate) const MINSIGSTKSZ: u64 = 2048;
/// The smallest alternate stack sigaltstack takes: arm64's
/// (`arch/arm64/include/uapi/asm/signal.h`).
#[cfg(target_arch = "aarch64")]
pub(crate) const MINSIGSTKSZ: u64 = 5120;

/// AT_MINSIGSTKSZ: what a signal frame needs here. x86-64 reports
/// MINSIGSTKSZ; arm64 the frame's own size for a CPU without SVE or SME
/// (`minsigstksz_setup()`), which is what faultline's vCPU offers.
#[cfg(target_arch = "x86_64")]
pub(crate) const AT_MINSIGSTKSZ: u64 = MINSIGSTKSZ;
#[cfg(target_arch = "aarch64")]
pub(crate) const AT_MINSIGSTKSZ: u64 = crate::arch::aarch64::sigframe::AT_MINSIGSTKSZ;

/// struct sigaction as the kernel takes it (with sa_restorer, the mask
/// last and 8 bytes: x86-64 and arm64 both define SA_RESTORER).
#[repr(C)]
#[derive(Clone, Copy, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub(crate) struct KSigAction {
    pub(crate) handler: u64,
    pub(crate) flags: u64,
    pub(crate) restorer: u64,
    pub(crate) mask: u64,
}
const _: () = assert!(size_of::<KSigAction>() == 32);

/// stack_t.
#[repr(C)]
#[derive(Clone, Copy, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub(crate) struct StackT {
    pub(crate) sp: u64,
    pub(crate) flags: i32,
    pub(crate) pad: u32,
    pub(crate) size: u64,
}
const _: () = assert!(size_of::<StackT>() == 24);

/// siginfo_t: the number, errno and code, then a union whose 64-bit words
/// are, by signal and code: `_kill`/`_rt` (pid | uid << 32, then the
/// value), `_sigchld` (pid | uid << 32, then the status) or `_sigfault`
/// (the address).
#[repr(C)]
#[derive(Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub(crate) struct SigInfoRaw {
    pub(crate) signo: i32,
    pub(crate) errno: i32,
    pub(crate) code: i32,
    pub(crate) pad: i32,
    pub(crate) fields: [u64; 14],
}
const _: () = assert!(size_of::<SigInfoRaw>() == 128);
