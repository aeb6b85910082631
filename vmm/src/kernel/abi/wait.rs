//! Waiting for children: wait4's and waitid's options and waitid's id
//! types (`include/uapi/linux/wait.h`), and the si_codes of SIGCHLD
//! (`asm-generic/siginfo.h`).

use super::linux_consts;

linux_consts! {
    /// The options, in the order strace shows them.
    pub(crate) WAIT_OPTIONS: u64 {
        WNOHANG = 1,
        WUNTRACED = 2,
        WEXITED = 4,
        WCONTINUED = 8,
        WNOWAIT = 0x0100_0000,
        __WCLONE = 0x8000_0000,
        __WALL = 0x4000_0000,
        __WNOTHREAD = 0x2000_0000,
    }

    /// waitid's `idtype`.
    _: u64 {
        P_ALL = 0,
        P_PID = 1,
        P_PGID = 2,
    }

    /// SIGCHLD's si_code: how the child changed.
    _: i32 {
        CLD_EXITED = 1,
        CLD_KILLED = 2,
        CLD_DUMPED = 3,
        CLD_STOPPED = 5,
        CLD_CONTINUED = 6,
    }
}

/// The wait status bit of a child that dumped core (WCOREDUMP).
pub(crate) const WCOREFLAG: i32 = 0x80;
