//! arm64 (AArch64). The modules that describe the architecture's formats
//! (page tables, exception syndromes, the user register set, signal
//! frames) are plain data and compile on every host, so x86-64 CI runs
//! their unit tests; what talks to KVM's arm64 interface builds only for
//! aarch64.

pub mod cpu;
pub mod entry;
pub mod esr;
pub mod fpu;
pub mod layout;
pub mod paging;
pub mod regs;
pub mod ring_stub;
pub mod sigframe;
pub mod trap;
pub mod vdso;

/// asm-generic's syscall table (include/uapi/asm-generic/unistd.h).
pub const SYSCALL_ABI: super::SyscallAbi = super::SyscallAbi::Generic;

/// clone(2)'s arguments holding child_tid and tls (CONFIG_CLONE_BACKWARDS: flags, stack, parent_tid, tls, child_tid).
pub const CLONE_CHILD_TID_ARG: usize = 4;
pub const CLONE_TLS_ARG: usize = 3;
