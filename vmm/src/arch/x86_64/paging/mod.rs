//! x86-64's 4-level page-table format (PML4, PDPT, PD, PT), built and
//! edited by the VMM in the system slot with the arch-neutral machinery
//! of `arch/pgtable` (walks, pool, views). The guest never writes them (no
//! guest code runs in ring 0 and the tables are mapped nowhere in its
//! address space); its CPU only sets accessed/dirty bits.
//!
//! One root, the PML4, translates both halves: the kernel half every
//! process shares is its slot `KERNEL_SLOT`, the syscall ring's pages its
//! slot `RING_SLOT`. The bits are below; how a leaf is made of them is
//! `entry.rs`.

mod entry;

use std::sync::atomic::AtomicU64;

use crate::arch::pgtable as generic;
pub use crate::arch::pgtable::{entry_at, PagingError, Perms, RingPage, TablePool};
pub use entry::X86_64;

/// A user leaf entry.
pub type Pte = generic::Pte<X86_64>;
/// A leaf entry found by a walk: its value and where it lives.
pub type Leaf = generic::Leaf<X86_64>;
/// One address space's tables.
pub type PageTables = generic::PageTables<X86_64>;

/// Reads and clears the accessed and dirty bits of an entry; a dirty one
/// stays soft-dirty.
pub fn take_accessed_dirty(entry: &AtomicU64) -> (bool, bool) {
    generic::take_accessed_dirty::<X86_64>(entry)
}

/// Whether an entry is dirty, without clearing it.
pub fn peek_dirty(entry: &AtomicU64) -> bool {
    generic::peek_dirty::<X86_64>(entry)
}

const PRESENT: u64 = 1 << 0;
const WRITABLE: u64 = 1 << 1;
const USER: u64 = 1 << 2;
const ACCESSED: u64 = 1 << 5;
const DIRTY: u64 = 1 << 6;
/// PS in a PDPT or PD entry: a 1 GiB or 2 MiB page. faultline never makes
/// them, so an intermediate entry with it set is corrupt.
const HUGE: u64 = 1 << 7;
const NX: u64 = 1 << 63;
/// Software bit 9 (ignored by the CPU when P = 0): `SOFT_NOACCESS`.
const SOFT_NOACCESS: u64 = 1 << 9;
/// Software bit 10: `SOFT_GUARD`.
const SOFT_GUARD: u64 = 1 << 10;
/// Software bit 11, Linux's _PAGE_SOFT_DIRTY. The CPU sets only the dirty
/// bit; whoever clears it (reclaim) keeps it here.
const SOFT_DIRTY: u64 = 1 << 11;
const ADDR_MASK: u64 = 0x000f_ffff_ffff_f000;
/// PML4 slot of the kernel half every process shares.
const KERNEL_SLOT: u64 = 511;
/// PML4 slot of the syscall ring's pages, which each vCPU's view owns.
const RING_SLOT: u64 = 510;
/// The end of the program's half (47-bit user space). Above it, an
/// address is the kernel's or not canonical, which walks refuse.
const USER_END: u64 = 1 << 47;

#[cfg(test)]
mod tests;
