//! Page tables, arch-neutral: the part of x86-64's 4-level tables and
//! arm64's stage-1 tables (4 KiB granule, 48-bit VA) that is the same, as
//! Linux's `include/linux/pgtable.h` is beside each `asm/pgtable.h`. Both
//! are a radix tree of 512-entry tables, four deep, built and edited by the
//! VMM in the system slot; the guest never writes them, its CPU only
//! records accessed and dirty state in the leaves.
//!
//! Every entry is reached through [`HostMapping::atomic_u64`], which checks
//! bounds and alignment, and every table address read out of an entry is
//! checked against the tables this address space owns before it is
//! followed. A corrupt entry is an error for the walk, never a host access.
//!
//! Table pages come from one [`TablePool`] for every process. A table a
//! process no longer needs is *retired*, never handed out again: KVM may
//! still keep shadow pages for its guest-physical address (a vCPU's walk
//! caches may hold it), and a table reused elsewhere would be read through
//! them.
//!
//! What differs, each architecture says once in its [`Format`]: how an
//! entry is encoded, which root slots are the kernel's and the ring's, and
//! how many pages a root is (arm64's is two: TTBR0's and TTBR1's). The
//! code here is generic over it, so each format's walk is compiled with
//! its constants (no dynamic dispatch). The permissions and the user leaf
//! are `entry.rs`, the pool `pool.rs`, an address space's tables and their
//! walks `tables.rs`, the syscall ring's per-vCPU views `view.rs`.
//!
//! [`HostMapping::atomic_u64`]: crate::memory::HostMapping::atomic_u64

mod entry;
mod pool;
mod tables;
#[cfg(test)]
pub mod testing;
mod view;

pub use entry::{entry_at, peek_dirty, take_accessed_dirty, Perms, Pte};
pub use pool::TablePool;
pub use tables::{Leaf, PageTables};
pub use view::RingPage;

/// Entries in a table, at every level of both formats.
const ENTRIES: u64 = 512;

/// An architecture's page-table format: constants and a few pure
/// functions on raw entries. Implemented by a unit type per architecture.
pub trait Format: Copy + Eq + Default + std::fmt::Debug + std::hash::Hash + 'static {
    /// The level numbers of the root's table down to the leaf's, as the
    /// architecture's manual numbers them (errors report these).
    const LEVELS: [u8; 4];
    /// The first address each page of a root translates: a root is this
    /// many consecutive pages, the first for address 0 (the program's
    /// half), the last holding [`Format::KERNEL_SLOT`] and
    /// [`Format::RING_SLOT`].
    const HALVES: &'static [u64];
    /// The end of the program's half: its leaves are below.
    const USER_END: u64;
    /// The first address of the kernel's half; ring pages are at or above.
    const KERNEL_START: u64;
    /// Slot of the last root page holding the kernel half every process
    /// shares.
    const KERNEL_SLOT: u64;
    /// Slot of the last root page holding the syscall ring's pages, which
    /// each vCPU's view owns.
    const RING_SLOT: u64;

    /// Present (x86) or valid (arm64), in every entry.
    const VALID: u64;
    /// The next table's or the frame's address.
    const ADDR_MASK: u64;
    /// What an intermediate entry has besides the next table's address.
    /// Intermediate entries restrict nothing: the leaf decides, as on Linux.
    const TABLE: u64;
    /// The accessed bit (arm64's access flag), set by the CPU.
    const ACCESSED: u64;
    /// In a valid leaf: the program (x86 ring 3, arm64 EL0) may access it.
    const USER: u64;
    /// Software bit: a frame is assigned but the page allows no access
    /// (PROT_NONE). The frame's address stays in an entry that is not
    /// valid, so the data survives until the page is accessible again.
    const SOFT_NOACCESS: u64;
    /// Software bit, alone in an entry that is not valid: a guard marker
    /// (MADV_GUARD_INSTALL, Linux's PTE_MARKER_GUARD). No frame; any access
    /// faults, and the fault is SIGSEGV.
    const SOFT_GUARD: u64;
    /// Software bit, as Linux's _PAGE_SOFT_DIRTY: written since clear_refs
    /// last cleaned it. An entry is soft-dirty if it is dirty or has this,
    /// and whoever cleans the dirty state (reclaim) keeps it here.
    const SOFT_DIRTY: u64;
    /// The page's history: the accessed bit, dirty state and soft-dirty.
    const HISTORY: u64;

    /// The root page that translates `va` in the root at `root`; an error
    /// if `va` is in neither half (not canonical).
    fn half_root(root: u64, va: u64) -> Result<u64, PagingError>;
    /// Whether a valid intermediate entry is a well-formed table entry
    /// (faultline makes no huge pages or blocks).
    fn is_table(e: u64) -> bool;
    /// A valid user leaf's bits besides its frame.
    fn user_page(write: bool, exec: bool) -> u64;
    /// Whether a leaf allows a write now.
    fn writable(v: u64) -> bool;
    /// Whether the leaf is dirty.
    fn is_dirty(v: u64) -> bool;
    /// `v` made dirty, as Linux's pte_mkdirty().
    fn with_dirty(v: u64) -> u64;
    /// `v` made clean, so the CPU records the next write.
    fn clean(v: u64) -> u64;
    /// `v` made read-only, so the next write faults.
    fn write_protect(v: u64) -> u64;
    /// Whether `old` and `new` translate alike, history aside. If not, a
    /// TLB's copy of `old` is stale.
    fn same_translation(old: u64, new: u64) -> bool {
        (old ^ new) & !Self::HISTORY == 0
    }
    /// A supervisor leaf's bits besides its frame (the shim's structures),
    /// or an error if `va` is not where the kernel's pages may go.
    fn kernel_page(va: u64, writable: bool, exec: bool) -> Result<u64, PagingError>;
    /// A supervisor page of device memory (an MMIO doorbell the guest's
    /// kernel mode writes), where the format tells device memory apart.
    fn kernel_device_page(va: u64) -> Result<u64, PagingError> {
        Self::kernel_page(va, true, false)
    }
    /// A ring page's bits besides its frame; `user` when the stub runs in
    /// user mode.
    fn ring_page(page: RingPage, user: bool) -> u64;
    /// What the MMU does to a leaf on an access it allows (tests play it).
    #[cfg(test)]
    fn cpu_access(v: u64, write: bool) -> u64;
}

/// Errors while walking or editing page tables.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum PagingError {
    #[error("the page-table pool is exhausted ({0} pages)")]
    PoolExhausted(u64),
    #[error("guest address {0:#x} is not canonical")]
    NonCanonical(u64),
    /// `level` is the format's ([`Format::LEVELS`]): x86's 4 for the PML4
    /// to 1, Arm's 0 for L0 to 3.
    #[error("corrupt page table for {va:#x} at level {level}: entry {entry:#x}")]
    Corrupt { va: u64, level: u8, entry: u64 },
}
