//! x86-64.

pub mod cpu;
pub mod fpu;
pub mod layout;
pub mod paging;
pub mod prctl;
pub mod regs;
pub mod ring_stub;
pub mod sigframe;
pub mod tables;
pub mod trap;
pub mod vdso;
pub mod xsave;

/// x86-64's own syscall table (arch/x86/entry/syscalls/syscall_64.tbl).
pub const SYSCALL_ABI: super::SyscallAbi = super::SyscallAbi::X86_64;

/// clone(2)'s arguments holding child_tid and tls (flags, stack, parent_tid, child_tid, tls).
pub const CLONE_CHILD_TID_ARG: usize = 3;
pub const CLONE_TLS_ARG: usize = 4;
