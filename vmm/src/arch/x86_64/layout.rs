//! Where the VMM puts its own structures, in guest-physical and
//! guest-virtual space.
//!
//! Guest-physical space has two memslots:
//! - the *system* slot at GPA 0: page tables, GDT, IDT, TSS, the shim and its
//!   IST stack. The VMM fills it before the guest runs; it is never
//!   registered with userfaultfd.
//! - the *RAM* slot at [`RAM_GPA_BASE`]: the guest's memory, backed lazily
//!   through userfaultfd.
//!
//! Guest-virtual space: the program owns the lower half as on Linux; the
//! shim lives in the last PML4 slot, supervisor-only.

/// GPA of the first byte of guest RAM. Above 4 GiB so the slot never meets
/// the legacy holes KVM may reserve below it (TSS, identity map).
pub const RAM_GPA_BASE: u64 = 0x1_0000_0000;

/// Size of the system slot: page tables for large address spaces and the
/// shim's few pages. Anonymous, so untouched table pages cost nothing.
pub const SYS_SLOT_SIZE: u64 = 64 << 20;

/// GPA offsets inside the system slot.
pub const SYS_SHIM_GPA: u64 = 0x0000;
pub const SYS_GDT_GPA: u64 = 0x1000;
pub const SYS_IDT_GPA: u64 = 0x2000;
pub const SYS_TSS_GPA: u64 = 0x3000;
/// The IST stack: 4 pages.
pub const SYS_IST_GPA: u64 = 0x4000;
pub const IST_PAGES: u64 = 4;
/// Page-table pages are allocated from here to the end of the slot.
pub const SYS_TABLES_GPA: u64 = 0x100000;

/// Guest-virtual base of the shim area (last PML4 slot).
pub const SHIM_VA: u64 = 0xffff_ff80_0000_0000;
pub const GDT_VA: u64 = SHIM_VA + 0x1000;
pub const IDT_VA: u64 = SHIM_VA + 0x2000;
pub const TSS_VA: u64 = SHIM_VA + 0x3000;
/// IST stack: one unmapped guard page, then the stack pages.
pub const IST_BASE_VA: u64 = SHIM_VA + 0x5000;
pub const IST_TOP_VA: u64 = IST_BASE_VA + IST_PAGES * crate::arch::PAGE_SIZE;
/// LSTAR: canonical, supervisor half, and deliberately never mapped.
pub const SYSCALL_TRAP_VA: u64 = SHIM_VA + 0x10_0000;
/// CSTAR, where `syscall` from 32-bit code goes: another address never
/// mapped, so the VMM tells the two apart by the faulting RIP. Some CPUs
/// (and PVM) enter at CSTAR's low 32 bits instead, in ring 0: those bits
/// (0xf000) lie below mmap_min_addr, which no guest mapping may reach, so
/// that entry faults too, whatever the guest maps.
pub const COMPAT_SYSCALL_TRAP_VA: u64 = SHIM_VA + 0xf000;

/// The shim's exception stub for vector `v` (see guest/x86_64/shim.S).
pub const fn stub_va(vector: u8) -> u64 {
    SHIM_VA + vector as u64 * 16
}
/// Each stub reports itself with `out $(TRAP_PORT_BASE + vector)`.
pub const TRAP_PORT_BASE: u16 = 0xE0;
pub const VECTORS: u8 = 32;

/// Highest user address + 1, as Linux's TASK_SIZE with 4-level paging.
pub const USER_TOP: u64 = 0x7fff_ffff_f000;
