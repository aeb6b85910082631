//! prctl's options (`include/uapi/linux/prctl.h`), and the names of
//! arch_prctl's codes (x86-64's, in `crate::arch::prctl`).

#[cfg(target_arch = "x86_64")]
pub(crate) use crate::arch::prctl::*;

use super::linux_consts;
#[cfg(target_arch = "x86_64")]
use super::name_table;

linux_consts! {
    /// prctl's options.
    _: u64 {
        PR_SET_PDEATHSIG = 1,
        PR_GET_PDEATHSIG = 2,
        PR_GET_DUMPABLE = 3,
        PR_SET_DUMPABLE = 4,
        PR_SET_NAME = 15,
        PR_GET_NAME = 16,
        PR_CAPBSET_READ = 23,
        PR_SET_TIMERSLACK = 29,
        PR_GET_TIMERSLACK = 30,
        PR_SET_NO_NEW_PRIVS = 38,
        PR_GET_NO_NEW_PRIVS = 39,
        PR_SET_THP_DISABLE = 41,
        PR_GET_THP_DISABLE = 42,
        PR_SET_VMA = 0x5356_4d41,
    }

    /// PR_SET_DUMPABLE's values (`linux/sched/coredump.h`).
    _: u64 {
        SUID_DUMP_DISABLE = 0,
        SUID_DUMP_USER = 1,
    }

    /// PR_SET_VMA's attributes.
    _: u64 {
        PR_SET_VMA_ANON_NAME = 0,
    }
}

/// The longest task name, with its NUL (TASK_COMM_LEN).
pub(crate) const TASK_COMM_LEN: usize = 16;

/// arch_prctl's codes (an x86-64 call; asm-generic's table has none).
#[cfg(not(target_arch = "x86_64"))]
pub(crate) const ARCH_PRCTL_CODES: &[(u64, &str)] = &[];
#[cfg(target_arch = "x86_64")]
pub(crate) const ARCH_PRCTL_CODES: &[(u64, &str)] = name_table![u64:
    ARCH_SET_GS, ARCH_SET_FS, ARCH_GET_FS, ARCH_GET_GS, ARCH_GET_CPUID, ARCH_SET_CPUID, ARCH_CET_STATUS,
];
