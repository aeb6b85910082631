//! The contract between faultline and an instruction set. Everything that
//! depends on the guest CPU lives behind these names; an arm64 port adds a
//! sibling of `x86_64/` and a `cfg` here, and nothing above this module
//! changes.
//!
//! An architecture provides:
//! - `layout`: where the VMM's structures sit in guest-physical and
//!   guest-virtual space, and the top of user space;
//! - `paging`: the page-table format ([`PageTables`], [`TablePool`],
//!   [`Perms`]), with checked access to every entry;
//! - `regs`: the user-visible register file ([`UserRegs`]: the syscall's
//!   number, arguments and result, pc and sp, a syscall's restart, the
//!   registers by DWARF number) and the thread's TLS registers (`Tls`);
//! - `fpu`: a thread's FPU state (`FpuState`) and what the CPU makes of it
//!   (`FpuConfig`);
//! - `trap`: its page-fault syndrome and exceptions, decoded into the
//!   shared [`trap::Trap`], and the signal Linux sends for each;
//! - `sigframe`: the signal frame's format behind the shared
//!   [`sigframe`] interface (build one for a delivery, take one back at
//!   rt_sigreturn);
//! - `ring_stub`: the syscall ring's guest stub, if it has one (the
//!   protocol is the shared [`ring`]);
//! - [`signal`] (one for every architecture): the signal numbers and
//!   fault si_codes traps raise;
//! - [`SYSCALL_ABI`]: which syscall table numbers the guest's calls, and
//!   clone's argument order (`CLONE_CHILD_TID_ARG`, `CLONE_TLS_ARG`).
//!
//! x86-64 also has `cpu` (control registers, MSRs), `tables` (descriptor
//! tables) and `prctl` (arch_prctl's codes), which only its vCPU code and
//! arch_prctl use; arm64 has `cpu` (system registers, hwcaps) and `entry`
//! (the EL1 vector stub's save area), which only `hv/aarch64.rs` and
//! `sandbox/entry/aarch64.rs` use. arm64's formats are unit-tested on
//! every host.

#[cfg(target_arch = "x86_64")]
#[path = "x86_64/mod.rs"]
mod imp;
#[cfg(target_arch = "aarch64")]
use aarch64 as imp;

/// What every architecture's page tables share; each `paging` is a format
/// for it.
mod pgtable;

pub mod signal;

/// arm64's formats. On other hosts they are built only for their unit
/// tests, which is why nothing there uses them.
#[cfg(any(target_arch = "aarch64", test))]
#[cfg_attr(not(target_arch = "aarch64"), allow(dead_code, unused_imports))]
pub mod aarch64;

pub mod ring;
pub mod sigframe;
pub mod trap;
pub mod vdso;

/// x86-64 only: the vCPU's control registers and MSRs, arch_prctl, and
/// the descriptor tables (arm64 has none of them; its vCPU setup is
/// `hv`'s).
#[cfg(target_arch = "x86_64")]
pub use imp::{cpu, prctl, tables};
pub use imp::{fpu, layout, paging, regs, CLONE_CHILD_TID_ARG, CLONE_TLS_ARG, SYSCALL_ABI};

/// The syscall numbering a guest uses: x86-64 has its own table; arm64
/// (like riscv64) uses asm-generic's, which lacks the calls with an `*at`
/// or newer form (open, fork, dup2, poll, …).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyscallAbi {
    X86_64,
    #[cfg_attr(not(target_arch = "aarch64"), allow(dead_code))]
    Generic,
}
pub use paging::{PageTables, PagingError, Perms, RingPage, TablePool};
pub use regs::UserRegs;

/// Size of a guest page, in bytes.
pub const PAGE_SIZE: u64 = 4096;

/// Rounds `v` down to a page boundary.
pub const fn page_floor(v: u64) -> u64 {
    v & !(PAGE_SIZE - 1)
}

/// Rounds `v` up to a page boundary, or `None` if that overflows.
pub const fn page_ceil(v: u64) -> Option<u64> {
    match v.checked_add(PAGE_SIZE - 1) {
        Some(x) => Some(page_floor(x)),
        None => None,
    }
}
