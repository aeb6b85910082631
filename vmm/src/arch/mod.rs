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
//! - `regs`: the user-visible register file ([`UserRegs`]) and how it is
//!   read from and written back to a vCPU stopped in a trap;
//! - `trap`: decoding a trap into a syscall, a page fault or an exception,
//!   and the signal Linux sends for it;
//! - `prctl`: arch_prctl's codes;
//! - `signal`: the signal numbers and fault si_codes traps raise;
//! - `cpu`: the initial state of a vCPU (control registers, MSRs, FPU);
//! - `tables`: descriptor tables, one set per vCPU;
//! - `xsave`: the FPU state's memory image, as signal frames hold it.

#[cfg(target_arch = "x86_64")]
#[path = "x86_64/mod.rs"]
mod imp;

pub use imp::{cpu, layout, paging, prctl, regs, ring, signal, tables, trap, xsave};
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
