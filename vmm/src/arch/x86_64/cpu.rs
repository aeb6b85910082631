//! Initial vCPU state: long mode, paging on, the program in ring 3.

use kvm_bindings::{kvm_dtable, kvm_fpu, kvm_msr_entry, kvm_regs, kvm_segment, kvm_sregs, Msrs};

use super::layout::{GDT_VA, IDT_VA, SYSCALL_TRAP_VA, TSS_VA, VECTORS};
use super::tables::{KERNEL_CS, TSS_LIMIT, TSS_SEL, USER32_CS, USER_CS, USER_DS};

const CR0_PE: u64 = 1 << 0;
const CR0_MP: u64 = 1 << 1;
const CR0_ET: u64 = 1 << 4;
const CR0_NE: u64 = 1 << 5;
const CR0_WP: u64 = 1 << 16;
const CR0_AM: u64 = 1 << 18;
const CR0_PG: u64 = 1 << 31;
const CR4_PAE: u64 = 1 << 5;
const CR4_OSFXSR: u64 = 1 << 9;
const CR4_OSXMMEXCPT: u64 = 1 << 10;
const CR4_OSXSAVE: u64 = 1 << 18;
const EFER_SCE: u64 = 1 << 0;
const EFER_LME: u64 = 1 << 8;
const EFER_LMA: u64 = 1 << 10;
const EFER_NXE: u64 = 1 << 11;

const MSR_STAR: u32 = 0xc000_0081;
const MSR_LSTAR: u32 = 0xc000_0082;
const MSR_CSTAR: u32 = 0xc000_0083;
const MSR_SFMASK: u32 = 0xc000_0084;
const MSR_KERNEL_GS_BASE: u32 = 0xc000_0102;

/// RFLAGS of a fresh Linux process: IF set, reserved bit 1.
pub const USER_RFLAGS: u64 = 0x202;
/// Flags a program may change (CF PF AF ZF SF TF DF OF AC ID).
const USER_FLAGS_MASK: u64 = 0x0025_0dd5;

fn segment(selector: u16, code: bool, dpl: u8) -> kvm_segment {
    kvm_segment {
        base: 0,
        limit: 0xffff_ffff,
        selector,
        type_: if code { 0xb } else { 0x3 },
        present: 1,
        dpl,
        db: if code { 0 } else { 1 },
        s: 1,
        l: if code { 1 } else { 0 },
        g: 1,
        avl: 0,
        unusable: 0,
        padding: 0,
    }
}

/// Special registers for the first entry into the program.
/// `xsave`: whether the CPU has XSAVE (then CR4.OSXSAVE is set, as Linux
/// does, so libc may use AVX).
pub fn initial_sregs(mut sregs: kvm_sregs, cr3: u64, xsave: bool) -> kvm_sregs {
    sregs.cr0 = CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_WP | CR0_AM | CR0_PG;
    sregs.cr3 = cr3;
    sregs.cr4 = CR4_PAE | CR4_OSFXSR | CR4_OSXMMEXCPT | if xsave { CR4_OSXSAVE } else { 0 };
    sregs.efer = EFER_SCE | EFER_LME | EFER_LMA | EFER_NXE;
    sregs.cs = segment(USER_CS, true, 3);
    let data = segment(USER_DS, false, 3);
    sregs.ss = data;
    sregs.ds = data;
    sregs.es = data;
    sregs.fs = data;
    sregs.gs = data;
    sregs.gdt = kvm_dtable { base: GDT_VA, limit: (10 * 8 - 1) as u16, padding: [0; 3] };
    sregs.idt = kvm_dtable { base: IDT_VA, limit: (VECTORS as u16) * 16 - 1, padding: [0; 3] };
    sregs.tr = kvm_segment {
        base: TSS_VA,
        limit: TSS_LIMIT,
        selector: TSS_SEL,
        type_: 0xb,
        present: 1,
        dpl: 0,
        db: 0,
        s: 0,
        l: 0,
        g: 0,
        avl: 0,
        unusable: 0,
        padding: 0,
    };
    sregs
}

/// General registers at the program's entry, as Linux's ELF loader leaves
/// them: RSP at argc, everything else zero (RDX = 0: no atexit hook).
pub fn initial_regs(entry: u64, sp: u64) -> kvm_regs {
    kvm_regs { rip: entry, rsp: sp, rflags: USER_RFLAGS, ..Default::default() }
}

/// An MSR list for KVM_SET_MSRS.
pub fn msrs(entries: &[(u32, u64)]) -> Msrs {
    let entries: Vec<kvm_msr_entry> =
        entries.iter().map(|&(index, data)| kvm_msr_entry { index, data, ..Default::default() }).collect();
    Msrs::from_entries(&entries).expect("a handful of MSRs fits")
}

/// The syscall MSRs. LSTAR and CSTAR point at an unmapped address so that
/// `syscall` always ends in a #PF the shim reports (see shim.S).
pub fn syscall_msrs() -> Msrs {
    let star = ((USER32_CS as u64) << 48) | ((KERNEL_CS as u64) << 32);
    let entries = [
        (MSR_STAR, star),
        (MSR_LSTAR, SYSCALL_TRAP_VA),
        (MSR_CSTAR, SYSCALL_TRAP_VA),
        // TF DF IF IOPL AC NT masked on entry, as Linux.
        (MSR_SFMASK, 0x47700),
        (MSR_KERNEL_GS_BASE, 0),
    ];
    msrs(&entries)
}

/// XCR0 to enable: the user-mode state components the CPU supports (x87,
/// SSE, AVX, AVX-512), without AMX, which needs a permission dance.
pub fn xcr0(supported: u64) -> u64 {
    const USER_STATES: u64 = 0x1 | 0x2 | 0x4 | 0x20 | 0x40 | 0x80;
    (supported & USER_STATES) | 0x3
}

/// x87/SSE state after `finit` + `ldmxcsr 0x1f80`, what a new Linux
/// process starts with.
pub fn initial_fpu() -> kvm_fpu {
    kvm_fpu { fcw: 0x37f, mxcsr: 0x1f80, ..Default::default() }
}

/// RFLAGS to return to the program with after a syscall: R11's flags, with
/// only what user mode may set, IF on.
pub fn sanitize_user_rflags(r11: u64) -> u64 {
    (r11 & USER_FLAGS_MASK) | USER_RFLAGS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rflags_cannot_raise_iopl_or_clear_if() {
        assert_eq!(sanitize_user_rflags(0x3000), USER_RFLAGS);
        assert_eq!(sanitize_user_rflags(0x246), 0x246);
        assert_eq!(sanitize_user_rflags(0), USER_RFLAGS);
    }
}
