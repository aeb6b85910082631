//! Where the VMM puts its own structures, in guest-physical and
//! guest-virtual space.
//!
//! Guest-physical space has two regions:
//! - the *system* slot at GPA 0: the shim, the IDT, one area per vCPU (GDT,
//!   TSS, exception stack) and every page table. The VMM fills it; it is
//!   never registered with userfaultfd.
//! - *RAM* from [`RAM_GPA_BASE`]: the guest's memory, backed lazily
//!   through userfaultfd, and shown to KVM in slots as its frames come
//!   into use (`hv::RamSlots`).
//!
//! Guest-virtual space: the program owns the lower half as on Linux. The
//! shim and the per-vCPU areas live in the last PML4 slot, supervisor-only,
//! shared by every process. Only the shim's code (read-only), the
//! descriptor tables (read-only) and the exception stacks are mapped there:
//! the page tables themselves are mapped nowhere, so even code in ring 0
//! could not edit them (and no guest code ever runs there).

use crate::arch::PAGE_SIZE;

/// GPA of the first byte of guest RAM. Above 4 GiB so the slot never meets
/// the legacy holes KVM may reserve below it (TSS, identity map).
pub const RAM_GPA_BASE: u64 = 0x1_0000_0000;

/// Size of the system slot. Anonymous and never touched where unused, so
/// its size costs only KVM's per-page metadata (about 2 MiB per GiB).
pub const SYS_SLOT_SIZE: u64 = 1 << 30;

/// GPA of the shim's code and of the IDT (shared by every vCPU).
pub const SYS_SHIM_GPA: u64 = 0x0000;
pub const SYS_IDT_GPA: u64 = 0x1000;

/// Per-vCPU areas: GDT, TSS, a guard page, then the exception (IST) stack.
pub const SYS_CPU_AREAS_GPA: u64 = 0x10_0000;
pub const CPU_AREA_SIZE: u64 = 8 * PAGE_SIZE;
pub const CPU_GDT_OFFSET: u64 = 0;
pub const CPU_TSS_OFFSET: u64 = PAGE_SIZE;
pub const CPU_IST_OFFSET: u64 = 3 * PAGE_SIZE;
pub const IST_PAGES: u64 = 4;

/// Most vCPUs (threads running at once) one sandbox may have.
pub const MAX_VCPUS: u32 = 1024;
/// Page-table pages are allocated from here to the end of the slot.
pub const SYS_TABLES_GPA: u64 = SYS_CPU_AREAS_GPA + MAX_VCPUS as u64 * CPU_AREA_SIZE;

/// Guest-virtual base of the shim area (last PML4 slot).
pub const SHIM_VA: u64 = 0xffff_ff80_0000_0000;
pub const IDT_VA: u64 = SHIM_VA + 0x1000;
/// CSTAR, where `syscall` from 32-bit code goes: another address never
/// mapped, so the VMM tells the two apart by the faulting RIP. Some CPUs
/// (and PVM) enter at CSTAR's low 32 bits instead, in ring 0: those bits
/// (0xf000) lie below mmap_min_addr, which no guest mapping may reach, so
/// that entry faults too, whatever the guest maps.
pub const COMPAT_SYSCALL_TRAP_VA: u64 = SHIM_VA + 0xf000;
/// LSTAR: canonical, supervisor half, and deliberately never mapped.
pub const SYSCALL_TRAP_VA: u64 = SHIM_VA + 0x10_0000;
/// Per-vCPU areas, at the same offsets as in the system slot.
pub const CPU_AREAS_VA: u64 = SHIM_VA + 0x4000_0000;

/// The syscall ring's pages, per vCPU (PML4 slot 510, unlike the shared
/// slot 511): vCPU `n`'s stub code, its mailbox and the doorbell, at
/// `RING_VA + n * RING_STRIDE`. They are mapped only in vCPU `n`'s own
/// view of the address space of the thread it runs (`PageTables::
/// make_view`), so no thread sees another's mailbox, even its process's.
pub const RING_VA: u64 = 0xffff_ff00_0000_0000;
pub const RING_STRIDE: u64 = 4 * PAGE_SIZE;
/// The *ring* slot: the syscall ring stub's code, then one mailbox page
/// per vCPU. A slot of its own, apart from the page tables: under PVM's
/// shadow paging, host writes to a page in the slot that holds the page
/// tables were seen to stay invisible to guest reads after the vCPU had
/// run ring 0 code (the shim), while guest writes went through.
pub const RING_SLOT_GPA: u64 = 0x8000_0000;
pub const RING_SLOT_SIZE: u64 = (1 + MAX_VCPUS as u64) * PAGE_SIZE;
/// Guest-physical address of the doorbell: in no memory slot, so a write
/// there is MMIO, which an ioeventfd turns into a wake-up of the ring
/// server without an exit to the VMM.
pub const DOORBELL_GPA: u64 = 0xc000_0000;

/// Guest-virtual address of vCPU `cpu`'s ring stub page.
pub const fn ring_code_va(cpu: u32) -> u64 {
    RING_VA + cpu as u64 * RING_STRIDE
}

/// Guest-physical address of vCPU `cpu`'s area.
pub const fn cpu_area_gpa(cpu: u32) -> u64 {
    SYS_CPU_AREAS_GPA + cpu as u64 * CPU_AREA_SIZE
}

/// Guest-virtual address of vCPU `cpu`'s area.
pub const fn cpu_area_va(cpu: u32) -> u64 {
    CPU_AREAS_VA + cpu as u64 * CPU_AREA_SIZE
}

/// Top of vCPU `cpu`'s exception stack (guest-virtual).
pub const fn ist_top_va(cpu: u32) -> u64 {
    cpu_area_va(cpu) + CPU_IST_OFFSET + IST_PAGES * PAGE_SIZE
}

/// The shim's exception stub for vector `v` (see guest/x86_64/shim.S).
pub const fn stub_va(vector: u8) -> u64 {
    SHIM_VA + vector as u64 * 16
}
/// Whether the CPU pushes an error code for `vector` (the stub does not).
pub const fn has_error_code(vector: u8) -> bool {
    matches!(vector, 8 | 10..=14 | 17 | 21 | 29 | 30)
}

/// Whether `rip` lies in a stub past its report (`out`), on the way back
/// to the user: the frame on the exception stack is complete.
pub fn stub_after_report(rip: u64) -> bool {
    let Some(off) = rip.checked_sub(SHIM_VA) else { return false };
    let vector = off / 16;
    // pushq $0 (2 bytes, where the CPU pushed no error code), then outb
    // (2 bytes).
    let report_end = if has_error_code(vector as u8) { 2 } else { 4 };
    vector < VECTORS as u64 && off % 16 >= report_end
}

/// Each stub reports itself with `out $(TRAP_PORT_BASE + vector)`.
pub const TRAP_PORT_BASE: u16 = 0xE0;
pub const VECTORS: u8 = 32;

/// Highest user address + 1, as Linux's TASK_SIZE with 4-level paging.
pub const USER_TOP: u64 = 0x7fff_ffff_f000;
/// Where a PIE is loaded without randomisation (2/3 of the default map
/// window, DEFAULT_MAP_WINDOW / 3 * 2).
pub const ELF_ET_DYN_BASE: u64 = 0x5555_5555_4aaa;
/// Linux's mmap_min_addr default: nothing is ever mapped below it.
pub const MMAP_MIN_ADDR: u64 = 0x10000;

const _: () = assert!(COMPAT_SYSCALL_TRAP_VA & 0xffff_ffff < MMAP_MIN_ADDR);
const _: () = assert!(SYS_TABLES_GPA < SYS_SLOT_SIZE);
const _: () = assert!(RING_SLOT_GPA >= SYS_SLOT_SIZE && RING_SLOT_GPA + RING_SLOT_SIZE <= DOORBELL_GPA);
const _: () = assert!(DOORBELL_GPA >= SYS_SLOT_SIZE && DOORBELL_GPA + PAGE_SIZE <= RAM_GPA_BASE);
const _: () = assert!(ring_code_va(MAX_VCPUS) <= RING_VA + (1 << 39));
