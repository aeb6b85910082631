//! Where the VMM puts its own structures on arm64, in guest-physical and
//! guest-virtual space. The guest-physical map is x86-64's (the system
//! slot at 0, RAM above 4 GiB, the ring slot and the doorbells in between),
//! plus a trap doorbell: each vCPU's vector stub reports an exception by a
//! store there (MMIO: no slot backs it), whose offset names the vector.
//!
//! Guest-virtual space: the program owns all of TTBR0's 256 TiB, as on
//! arm64 Linux (the stack sits just below 1 << 48). The VMM's half is
//! TTBR1's, in L0 slot 511 (`KERNEL_VA`): the vector page, and each vCPU's
//! save area (the stub's stack, SP_EL1) with its trap doorbell page right
//! above it. Nothing else is mapped there, the page tables included.

use crate::arch::PAGE_SIZE;

pub const RAM_GPA_BASE: u64 = 0x1_0000_0000;
pub const SYS_SLOT_SIZE: u64 = 1 << 30;

/// GPA of the vector stub's code (two pages: the table is 2 KiB-aligned
/// and the handlers follow).
pub const SYS_VECTORS_GPA: u64 = 0x0000;
pub const VECTORS_PAGES: u64 = 2;

/// Per-vCPU save areas (one page each).
pub const SYS_CPU_AREAS_GPA: u64 = 0x10_0000;
pub const CPU_AREA_SIZE: u64 = PAGE_SIZE;

/// Most vCPUs one sandbox may have.
pub const MAX_VCPUS: u32 = 512;
/// Page-table pages are allocated from here to the end of the slot.
pub const SYS_TABLES_GPA: u64 = SYS_CPU_AREAS_GPA + MAX_VCPUS as u64 * CPU_AREA_SIZE;

/// TTBR1's L0 slot 511.
pub const KERNEL_VA: u64 = 0xffff_ff80_0000_0000;
/// VBAR_EL1.
pub const VECTORS_VA: u64 = KERNEL_VA;
/// Each vCPU's save area and trap doorbell: 8 KiB apart.
pub const CPU_AREAS_VA: u64 = KERNEL_VA + 0x4000_0000;
pub const CPU_STRIDE_VA: u64 = 2 * PAGE_SIZE;

/// The trap doorbells: one page per vCPU, in no slot. The stub stores to
/// `trap_doorbell_gpa(cpu) + 8 * vector`.
pub const TRAP_DOORBELL_GPA: u64 = 0xc001_0000;

/// The syscall ring's pages (unused until arm64 has a ring stub; the
/// kernel's ring module is written against these names).
pub const RING_VA: u64 = 0xffff_ff00_0000_0000;
pub const RING_STRIDE: u64 = 4 * PAGE_SIZE;
pub const RING_SLOT_GPA: u64 = 0x8000_0000;
pub const RING_SLOT_SIZE: u64 = (1 + MAX_VCPUS as u64) * PAGE_SIZE;
pub const DOORBELL_GPA: u64 = 0xc000_0000;

pub const fn ring_code_va(cpu: u32) -> u64 {
    RING_VA + cpu as u64 * RING_STRIDE
}

/// Guest-physical address of vCPU `cpu`'s save area.
pub const fn cpu_area_gpa(cpu: u32) -> u64 {
    SYS_CPU_AREAS_GPA + cpu as u64 * CPU_AREA_SIZE
}

/// Guest-virtual address of vCPU `cpu`'s save area (SP_EL1); its trap
/// doorbell is mapped at the next page.
pub const fn cpu_area_va(cpu: u32) -> u64 {
    CPU_AREAS_VA + cpu as u64 * CPU_STRIDE_VA
}

pub const fn trap_doorbell_gpa(cpu: u32) -> u64 {
    TRAP_DOORBELL_GPA + cpu as u64 * PAGE_SIZE
}

/// Highest user address + 1: TASK_SIZE with 48-bit VAs.
pub const USER_TOP: u64 = 1 << 48;
/// Where a PIE is loaded without randomisation (2 * DEFAULT_MAP_WINDOW_64
/// / 3).
pub const ELF_ET_DYN_BASE: u64 = 0xaaaa_aaaa_aaaa;
/// Debian's arm64 kernels set DEFAULT_MMAP_MIN_ADDR to 4096 (x86-64's
/// 65536), as checked on the emulated machine.
pub const MMAP_MIN_ADDR: u64 = 0x1000;

const _: () = assert!(SYS_TABLES_GPA < SYS_SLOT_SIZE);
const _: () = assert!(SYS_VECTORS_GPA + VECTORS_PAGES * PAGE_SIZE <= SYS_CPU_AREAS_GPA);
const _: () = assert!(RING_SLOT_GPA >= SYS_SLOT_SIZE && RING_SLOT_GPA + RING_SLOT_SIZE <= DOORBELL_GPA);
const _: () = assert!(trap_doorbell_gpa(MAX_VCPUS) <= RAM_GPA_BASE);
const _: () = assert!(DOORBELL_GPA + PAGE_SIZE <= TRAP_DOORBELL_GPA);
