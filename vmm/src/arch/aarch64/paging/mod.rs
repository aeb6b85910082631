//! AArch64 stage-1 page tables (4 KiB granule, 48-bit VA, levels L0 to
//! L3), built and edited by the VMM in the system slot, with the same API
//! as x86-64's. The guest never writes them (they are mapped nowhere in its
//! address space); with FEAT_HAFDBS its CPU only sets the access flag and
//! clears AP[2] of pages marked DBM (hardware dirty state).
//!
//! **Two halves, two roots.** TTBR0_EL1 translates the program's half (VA
//! below 1 << 48), TTBR1_EL1 the VMM's (VA from 0xffff_0000_0000_0000). The
//! VMM's half cannot live in TTBR0's top slots as x86's does in the PML4's:
//! arm64 Linux gives programs all of TTBR0's 256 TiB (the stack sits just
//! below 1 << 48), so that would shrink TASK_SIZE below native. The rest of
//! faultline passes one root per thread (x86's CR3), so a root here is two
//! consecutive table pages, L0 for TTBR0 then L0 for TTBR1: the vCPU loads
//! TTBR0_EL1 = root and TTBR1_EL1 = [`ttbr1`]`(root)`. The kernel half is
//! TTBR1's entry `KERNEL_SLOT`, shared by every address space as x86's
//! PML4 slot 511 is; a ring view (`arch/pgtable/view.rs`) is a pair of its own whose
//! TTBR1 page also maps the vCPU's ring pages in `RING_SLOT`.
//!
//! **Accessed and dirty.** A new user page has AF = 0; the CPU sets it on
//! the first access (TCR_EL1.HA). A page the program may write is mapped
//! with DBM = 1 and AP[2] = 1 (read-only) while clean, and the CPU clears
//! AP[2] on the first write (TCR_EL1.HD): dirty is DBM && !AP[2]. As on
//! Linux, a software dirty bit keeps that a page was written once it is no
//! longer writable (fork's copy-on-write, mprotect). Without FEAT_HAFDBS
//! the format is the same and the VMM does the CPU's part: HA/HD stay
//! clear, the first access to an AF = 0 page is an access-flag fault (ESR
//! FSC 0b0010xx) resolved by setting AF, and the first write to a clean
//! DBM page a permission fault (FSC 0b0011xx) resolved by clearing AP[2].
//! Neither is the program's fault (x86 takes none): no fault row.
//!
//! The walks, the pool and the views are the arch-neutral `arch/pgtable`;
//! this folder is the format: the bits below, and how a descriptor is made
//! of them (`entry.rs`).

mod entry;

use std::sync::atomic::AtomicU64;

use crate::arch::pgtable as generic;
pub use crate::arch::pgtable::{entry_at, PagingError, Perms, RingPage, TablePool};
use crate::arch::PAGE_SIZE;
pub use entry::Aarch64;

/// A user page descriptor (L3).
pub type Pte = generic::Pte<Aarch64>;
/// A leaf entry found by a walk: its value and where it lives.
pub type Leaf = generic::Leaf<Aarch64>;
/// One address space's tables.
pub type PageTables = generic::PageTables<Aarch64>;

/// Reads and clears the access flag and dirty state of a descriptor; a
/// dirty one stays soft-dirty.
pub fn take_accessed_dirty(entry: &AtomicU64) -> (bool, bool) {
    generic::take_accessed_dirty::<Aarch64>(entry)
}

/// Whether a descriptor is dirty, without cleaning it.
pub fn peek_dirty(entry: &AtomicU64) -> bool {
    generic::peek_dirty::<Aarch64>(entry)
}

const VALID: u64 = 1 << 0;
/// At L0 to L2 a table descriptor (clear: a block, which faultline never
/// makes, so corrupt); at L3 it must be set for a page.
const TABLE: u64 = 1 << 1;
/// AttrIndx[4:2] = 0: MAIR_EL1's Attr0, normal write-back memory.
const ATTR_NORMAL: u64 = 0 << 2;
/// AttrIndx = 1: MAIR_EL1's Attr1, Device-nGnRnE (the doorbells).
const ATTR_DEVICE: u64 = 1 << 2;
/// AP[1]: EL0 may access the page.
const AP_USER: u64 = 1 << 6;
/// AP[2]: read-only at every level.
const AP_RDONLY: u64 = 1 << 7;
/// SH[9:8] = 0b11: inner shareable, so every vCPU sees the same memory.
const SH_INNER: u64 = 3 << 8;
/// The access flag: clear, the first access sets it (HA) or faults.
const AF: u64 = 1 << 10;
/// Not global: the TLB tags the translation with the current ASID. User
/// and ring pages differ between roots; the kernel half is the same in all.
const NG: u64 = 1 << 11;
/// Dirty bit modifier: the CPU may clear AP[2] on a write (HD), which
/// makes a clean writable page dirty without a fault.
const DBM: u64 = 1 << 51;
/// EL1 may not execute: set on every user page (the EL1 stub never runs
/// the program's code).
const PXN: u64 = 1 << 53;
/// EL0 may not execute.
const UXN: u64 = 1 << 54;
/// Software bit 55, Linux's PTE_DIRTY: written, in an entry whose AP[2]
/// can no longer say so (no longer writable, or not valid).
const SW_DIRTY: u64 = 1 << 55;
/// Software bit 56 (ignored by the CPU in an invalid entry): `SOFT_NOACCESS`.
const SOFT_NOACCESS: u64 = 1 << 56;
/// Software bit 57: `SOFT_GUARD`.
const SOFT_GUARD: u64 = 1 << 57;
/// Software bit 58, as x86 Linux's _PAGE_SOFT_DIRTY.
const SOFT_DIRTY: u64 = 1 << 58;
/// Output address bits [47:12] (48-bit physical addresses).
const ADDR_MASK: u64 = 0x0000_ffff_ffff_f000;
/// TTBR1's L0 slot of the kernel half every process shares.
const KERNEL_SLOT: u64 = 511;
/// TTBR1's L0 slot of the syscall ring's pages, which each vCPU's view owns.
const RING_SLOT: u64 = 510;
/// The first address of TTBR1's half.
const UPPER_HALF: u64 = 0xffff_0000_0000_0000;
/// The end of TTBR0's half, the program's.
const USER_END: u64 = 1 << 48;

/// TTBR1_EL1 for a root (see the module's header): the page after TTBR0's.
pub const fn ttbr1(root: u64) -> u64 {
    root + PAGE_SIZE
}

/// MAIR_EL1 these tables assume: Attr0 normal memory, inner and outer
/// write-back, read/write-allocate; Attr1 (0x00) Device-nGnRnE.
pub const MAIR_EL1: u64 = 0x00ff;

/// TCR_EL1 these tables assume: T0SZ = T1SZ = 16 (48-bit halves), 4 KiB
/// granules (TG1's encoding differs from TG0's), walks write-back cacheable
/// and inner shareable, TBI0 (EL0's top byte ignored, as Linux's tagged
/// address ABI; fault addresses reach these tables untagged), HA and HD.
/// The vCPU code adds IPS from ID_AA64MMFR0_EL1.PARange, and clears HA/HD
/// where ID_AA64MMFR1_EL1.HAFDBS says the CPU lacks them (see above).
/// SCTLR_EL1.WXN must stay clear: programs may map pages rwx.
pub const TCR_EL1: u64 = 16 // T0SZ
    | 0b01 << 8 // IRGN0: write-back
    | 0b01 << 10 // ORGN0
    | 0b11 << 12 // SH0: inner shareable
    | 16 << 16 // T1SZ
    | 0b01 << 24 // IRGN1
    | 0b01 << 26 // ORGN1
    | 0b11 << 28 // SH1
    | 0b10 << 30 // TG1: 4 KiB
    | 1 << 37 // TBI0
    | TCR_HA
    | TCR_HD;
/// TCR_EL1.HA: the CPU sets the access flag.
pub const TCR_HA: u64 = 1 << 39;
/// TCR_EL1.HD: the CPU clears AP[2] of DBM pages on a write.
pub const TCR_HD: u64 = 1 << 40;

#[cfg(test)]
mod tests;
