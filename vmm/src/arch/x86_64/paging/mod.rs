//! 4-level x86-64 page tables, built and edited by the VMM in the system
//! slot. The guest never writes them (no guest code runs in ring 0 and the
//! tables are mapped nowhere in its address space); its CPU only sets
//! accessed/dirty bits.
//!
//! Every entry is reached through [`HostMapping::atomic_u64`], which checks
//! bounds and alignment, and every table address read out of an entry is
//! checked against the tables this address space owns before it is
//! followed. A corrupt entry is an error for the walk, never a host access.
//!
//! Table pages come from one [`TablePool`] for every process. A table a
//! process no longer needs is *retired*, never handed out again: KVM may
//! still keep shadow pages for its guest-physical address, and a table
//! reused elsewhere would be read through them.
//!
//! The entries' format is `entry.rs`, the pool of table pages `pool.rs`,
//! an address space's tables and their walks `tables.rs`, and the syscall
//! ring's per-vCPU views of them `view.rs`.

mod entry;
mod pool;
mod tables;
mod view;

pub use entry::{entry_at, peek_dirty, take_accessed_dirty, Perms, Pte};
pub use pool::TablePool;
pub use tables::{Leaf, PageTables};
pub use view::RingPage;

const PRESENT: u64 = 1 << 0;
const WRITABLE: u64 = 1 << 1;
const USER: u64 = 1 << 2;
const ACCESSED: u64 = 1 << 5;
const DIRTY: u64 = 1 << 6;
/// PS in a PDPT or PD entry: a 1 GiB or 2 MiB page. faultline never makes
/// them, so an intermediate entry with it set is corrupt.
const HUGE: u64 = 1 << 7;
const NX: u64 = 1 << 63;
/// Software bit (ignored by the CPU when P = 0): a frame is assigned but
/// the page allows no access (PROT_NONE). The frame's address stays in the
/// entry so the data survives until the page is made accessible again.
const SOFT_NOACCESS: u64 = 1 << 9;
/// Software bit 10, alone in a non-present entry: a guard marker
/// (MADV_GUARD_INSTALL, Linux's PTE_MARKER_GUARD). No frame; any access
/// faults, and the fault is SIGSEGV.
const SOFT_GUARD: u64 = 1 << 10;
/// Software bit 11, as Linux's _PAGE_SOFT_DIRTY: the page was written since
/// clear_refs last cleaned it. The CPU sets only the dirty bit; an entry is
/// soft-dirty if either is set, and whoever clears the dirty bit (reclaim)
/// keeps it here.
const SOFT_DIRTY: u64 = 1 << 11;
const ADDR_MASK: u64 = 0x000f_ffff_ffff_f000;
const ENTRIES: u64 = 512;
/// PML4 slot of the kernel half every process shares.
const KERNEL_SLOT: u64 = 511;
/// PML4 slot of the syscall ring's pages, which each vCPU's view owns.
const RING_SLOT: u64 = 510;

/// Errors while walking or editing page tables.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum PagingError {
    #[error("the page-table pool is exhausted ({0} pages)")]
    PoolExhausted(u64),
    #[error("guest address {0:#x} is not canonical")]
    NonCanonical(u64),
    #[error("corrupt page table for {va:#x} at level {level}: entry {entry:#x}")]
    Corrupt { va: u64, level: u8, entry: u64 },
}

#[cfg(test)]
mod tests;
