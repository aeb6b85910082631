//! Initial vCPU state: long mode, paging on, the program in ring 3.

use kvm_bindings::{kvm_dtable, kvm_fpu, kvm_msr_entry, kvm_segment, kvm_sregs, Msrs};

use super::layout::{
    cpu_area_va, COMPAT_SYSCALL_TRAP_VA, CPU_GDT_OFFSET, CPU_TSS_OFFSET, IDT_VA, SYSCALL_TRAP_VA, VECTORS,
};
use super::tables::{GDT_ENTRIES, KERNEL_CS, TSS_LIMIT, TSS_SEL, USER32_CS, USER_CS, USER_DS};

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
const CR4_UMIP: u64 = 1 << 11;
const CR4_OSXSAVE: u64 = 1 << 18;
const CR4_SMEP: u64 = 1 << 20;
const CR4_SMAP: u64 = 1 << 21;
const EFER_SCE: u64 = 1 << 0;
const EFER_LME: u64 = 1 << 8;
const EFER_LMA: u64 = 1 << 10;
const EFER_NXE: u64 = 1 << 11;

const MSR_SYSENTER_CS: u32 = 0x174;
const MSR_SYSENTER_ESP: u32 = 0x175;
const MSR_SYSENTER_EIP: u32 = 0x176;
const MSR_STAR: u32 = 0xc000_0081;
pub const MSR_LSTAR: u32 = 0xc000_0082;
const MSR_CSTAR: u32 = 0xc000_0083;
const MSR_SFMASK: u32 = 0xc000_0084;
const MSR_KERNEL_GS_BASE: u32 = 0xc000_0102;
pub const MSR_FS_BASE: u32 = 0xc000_0100;
pub const MSR_GS_BASE: u32 = 0xc000_0101;

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

/// What the CPU the guest sees offers, of what the VMM turns on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CpuFeatures {
    /// XSAVE: CR4.OSXSAVE is set, as Linux does, so libc may use AVX.
    pub xsave: bool,
    /// Supervisor-mode execution/access prevention: ring 0 may neither run
    /// nor touch user pages. Defence in depth: no guest code runs in ring 0.
    pub smep: bool,
    pub smap: bool,
    /// User-mode instruction prevention: sgdt, sidt, sldt, smsw and str
    /// fault in ring 3, as on a Linux machine whose CPU has UMIP.
    pub umip: bool,
}

impl CpuFeatures {
    /// Reads the features from the CPUID table the guest will see.
    pub fn from_cpuid(entries: &[kvm_bindings::kvm_cpuid_entry2]) -> Self {
        let leaf = |f: u32, i: u32| entries.iter().find(|e| e.function == f && e.index == i);
        let l1 = leaf(1, 0);
        let l7 = leaf(7, 0);
        CpuFeatures {
            xsave: l1.is_some_and(|e| e.ecx & (1 << 26) != 0),
            smep: l7.is_some_and(|e| e.ebx & (1 << 7) != 0),
            smap: l7.is_some_and(|e| e.ebx & (1 << 20) != 0),
            umip: l7.is_some_and(|e| e.ecx & (1 << 2) != 0),
        }
    }
}

/// Special registers for vCPU `cpu` entering a program in ring 3 with
/// paging rooted at `cr3`.
pub fn user_sregs(mut sregs: kvm_sregs, cpu: u32, cr3: u64, features: CpuFeatures) -> kvm_sregs {
    sregs.cr0 = CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_WP | CR0_AM | CR0_PG;
    sregs.cr3 = cr3;
    let on = |b: bool, bit: u64| if b { bit } else { 0 };
    sregs.cr4 = CR4_PAE
        | CR4_OSFXSR
        | CR4_OSXMMEXCPT
        | on(features.xsave, CR4_OSXSAVE)
        | on(features.smep, CR4_SMEP)
        | on(features.smap, CR4_SMAP)
        | on(features.umip, CR4_UMIP);
    sregs.efer = EFER_SCE | EFER_LME | EFER_LMA | EFER_NXE;
    sregs.cs = segment(USER_CS, true, 3);
    let data = segment(USER_DS, false, 3);
    sregs.ss = data;
    sregs.ds = data;
    sregs.es = data;
    sregs.fs = data;
    sregs.gs = data;
    let area = cpu_area_va(cpu);
    sregs.gdt = kvm_dtable { base: area + CPU_GDT_OFFSET, limit: (GDT_ENTRIES * 8 - 1) as u16, padding: [0; 3] };
    sregs.idt = kvm_dtable { base: IDT_VA, limit: (VECTORS as u16) * 16 - 1, padding: [0; 3] };
    sregs.tr = kvm_segment {
        base: area + CPU_TSS_OFFSET,
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

/// An MSR list for KVM_SET_MSRS.
pub fn msrs(entries: &[(u32, u64)]) -> Msrs {
    let entries: Vec<kvm_msr_entry> =
        entries.iter().map(|&(index, data)| kvm_msr_entry { index, data, ..Default::default() }).collect();
    Msrs::from_entries(&entries).expect("a handful of MSRs fits")
}

/// The syscall MSRs. LSTAR and CSTAR point at two different unmapped
/// addresses so that `syscall` always ends in a #PF the shim reports (see
/// shim.S), and the VMM can tell a 64-bit call from a 32-bit one. SYSENTER
/// gets a null code selector, so it raises #GP (SIGSEGV), as on a Linux
/// built without IA32 emulation.
pub fn syscall_msrs() -> Msrs {
    let star = ((USER32_CS as u64) << 48) | ((KERNEL_CS as u64) << 32);
    let entries = [
        (MSR_STAR, star),
        (MSR_LSTAR, SYSCALL_TRAP_VA),
        (MSR_CSTAR, COMPAT_SYSCALL_TRAP_VA),
        (MSR_SYSENTER_CS, 0),
        (MSR_SYSENTER_ESP, 0),
        (MSR_SYSENTER_EIP, 0),
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
    fn protections_follow_the_cpu() {
        let all = CpuFeatures { xsave: true, smep: true, smap: true, umip: true };
        let s = user_sregs(kvm_sregs::default(), 0, 0x1000, all);
        assert_eq!(
            s.cr4 & (CR4_SMEP | CR4_SMAP | CR4_UMIP | CR4_OSXSAVE),
            CR4_SMEP | CR4_SMAP | CR4_UMIP | CR4_OSXSAVE
        );
        let none = user_sregs(kvm_sregs::default(), 1, 0x1000, CpuFeatures::default());
        assert_ne!(none.gdt.base, s.gdt.base);
        assert_eq!(none.cr4 & (CR4_SMEP | CR4_SMAP | CR4_UMIP | CR4_OSXSAVE), 0);
        // Leaf 7: SMEP (EBX 7), SMAP (EBX 20), UMIP (ECX 2); leaf 1 XSAVE (ECX 26).
        let l7 = kvm_bindings::kvm_cpuid_entry2 {
            function: 7,
            ebx: (1 << 7) | (1 << 20),
            ecx: 1 << 2,
            ..Default::default()
        };
        let l1 = kvm_bindings::kvm_cpuid_entry2 { function: 1, ecx: 1 << 26, ..Default::default() };
        assert_eq!(CpuFeatures::from_cpuid(&[l1, l7]), all);
        assert_eq!(CpuFeatures::from_cpuid(&[]), CpuFeatures::default());
    }

    #[test]
    fn rflags_cannot_raise_iopl_or_clear_if() {
        assert_eq!(sanitize_user_rflags(0x3000), USER_RFLAGS);
        assert_eq!(sanitize_user_rflags(0x246), 0x246);
        assert_eq!(sanitize_user_rflags(0), USER_RFLAGS);
    }
}
