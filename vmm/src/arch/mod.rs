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
//!   registers by DWARF number) and how it is read from and written back
//!   to a vCPU stopped in a trap; the thread's TLS registers (`Tls`);
//! - `trap`: decoding a trap into a syscall, a page fault or an exception,
//!   and the signal Linux sends for it;
//! - `sigframe`: the signal frame's format, its placement on the stack,
//!   the registers a handler starts with, and what sigreturn restores;
//! - `prctl`: arch_prctl's codes;
//! - [`signal`] (one for every architecture): the signal numbers and
//!   fault si_codes traps raise;
//! - `cpu`: the initial state of a vCPU (control registers, MSRs, FPU);
//! - `tables`: descriptor tables, one set per vCPU;
//! - [`SYSCALL_ABI`]: which syscall table numbers the guest's calls, and
//!   clone's argument order (`CLONE_CHILD_TID_ARG`, `CLONE_TLS_ARG`).
//!
//! `aarch64/` holds arm64's formats so far (page tables, exception
//! syndromes, registers, signal frames), unit-tested on every host; its
//! vCPU side (KVM_ARM_VCPU_INIT, the EL1 vector stub) is not written yet.

#[cfg(target_arch = "x86_64")]
#[path = "x86_64/mod.rs"]
mod imp;

/// What every architecture's page tables share; each `paging` is a format
/// for it.
mod pgtable;

pub mod signal;

/// arm64's formats. On other hosts they are built only for their unit
/// tests, which is why nothing there uses them.
#[cfg(any(target_arch = "aarch64", test))]
#[cfg_attr(not(target_arch = "aarch64"), allow(dead_code, unused_imports))]
pub mod aarch64;

pub use imp::{
    cpu, layout, paging, prctl, regs, ring, sigframe, tables, trap, CLONE_CHILD_TID_ARG, CLONE_TLS_ARG, SYSCALL_ABI,
};

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
