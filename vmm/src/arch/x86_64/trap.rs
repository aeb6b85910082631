//! Decoding what the shim reports: which vector, its frame, and what a
//! Linux process would get for it.

use super::layout::{COMPAT_SYSCALL_TRAP_VA, SYSCALL_TRAP_VA, TRAP_PORT_BASE, VECTORS};
use super::regs::TrapFrame;
use crate::arch::trap::{Handled, Trap};

pub const UD: u8 = 6;
pub const GP: u8 = 13;
pub const DB: u8 = 1;
pub const PF: u8 = 14;

/// An exception other than a page fault: its vector.
pub type Exception = u8;

/// Page-fault error code bits, as the kernel prints them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PfError(pub u64);

impl PfError {
    pub const WRITE: u64 = 1 << 1;
    pub const USER: u64 = 1 << 2;
    pub const FETCH: u64 = 1 << 4;

    pub fn write(self) -> bool {
        self.0 & Self::WRITE != 0
    }
    pub fn fetch(self) -> bool {
        self.0 & Self::FETCH != 0
    }
}

/// The kernel's unit tests play the MMU: they make the error codes a
/// hardware page walk would.
#[cfg(test)]
impl PfError {
    pub const PRESENT: u64 = 1 << 0;

    /// A user-mode access's error code: a write or a read, to a page
    /// mapped (`present`) or not.
    pub fn user(write: bool, present: bool) -> Self {
        let mut e = Self::USER;
        if write {
            e |= Self::WRITE;
        }
        if present {
            e |= Self::PRESENT;
        }
        PfError(e)
    }
}

/// Classifies what the shim reported for `vector` with `frame`; `cr2`
/// reads the faulting address (only page faults need it).
///
/// A `syscall` that LSTAR sends to the trap address (always by exits, and
/// a thread's first call with the ring) ends as a #PF there: at CPL 0 on
/// bare metal, at CPL 3 under PVM; either way IF is clear (SFMASK masks
/// it). A jump there from ring 3 with IF set is no syscall. (Under PVM
/// ring 3 may run with IF clear after the ring stub's return, which cannot
/// set it there, so a program can make a jump look like a syscall: it gains
/// nothing it could not get from `syscall` itself.) A 32-bit `syscall`
/// ends at CSTAR, or at its low 32 bits where the CPU truncates.
pub fn classify(vector: u8, frame: &TrapFrame, cr2: impl FnOnce() -> u64) -> Trap {
    const IF: u64 = 1 << 9;
    if vector == PF && frame.rflags & IF == 0 {
        if frame.rip == SYSCALL_TRAP_VA {
            return Trap::Syscall;
        }
        if frame.rip == COMPAT_SYSCALL_TRAP_VA || frame.rip == COMPAT_SYSCALL_TRAP_VA & 0xffff_ffff {
            return Trap::CompatSyscall;
        }
    }
    if !frame.user_mode() {
        return Trap::Kernel(vector);
    }
    if vector == PF {
        return Trap::PageFault { addr: cr2(), error: PfError(frame.error_code) };
    }
    Trap::Exception(vector)
}

/// The vector behind a port-I/O exit, if it is one of the shim's.
pub fn vector_for_port(port: u16) -> Option<u8> {
    let v = port.checked_sub(TRAP_PORT_BASE)?;
    (v < VECTORS as u16).then_some(v as u8)
}

/// The signal and si_code Linux's x86 trap handlers send for an exception
/// in user mode (arch/x86/kernel/traps.c).
pub fn signal_for_vector(vector: u8) -> (i32, i32) {
    use crate::arch::signal::*;
    match vector {
        0 => (SIGFPE, FPE_INTDIV),
        16 | 19 => (SIGFPE, 0), // from the FPU status; none known here
        1 => (SIGTRAP, TRAP_TRACE),
        3 => (SIGTRAP, SI_KERNEL), // int3
        6 => (SIGILL, ILL_ILLOPN),
        17 => (SIGBUS, BUS_ADRALN),
        14 => (SIGSEGV, SEGV_MAPERR), // decided by the fault handler
        // #OF, #BR, #NP, #SS, #GP and the rest.
        _ => (SIGSEGV, SI_KERNEL),
    }
}

/// The vector a ring-3 `int $N` (bytes CD N) raises on Linux: #BP for
/// `int $3`, whose gate is user-callable, and #GP for every other vector,
/// whose gates are not (or, beyond the IDT, do not exist). Hypervisors that
/// report software interrupts from user mode as #UD (PVM does) are mapped
/// back with this.
pub fn software_interrupt_vector(insn: [u8; 2]) -> Option<u8> {
    match insn {
        [0xcd, 3] => Some(3),
        [0xcd, _] => Some(13),
        _ => None,
    }
}

/// What Linux does for exception `vector` in user mode at `pc`: the
/// vector it really is (a software interrupt PVM reports as #UD), the
/// signal and si_code, and the fault address the siginfo carries: the
/// faulting instruction for SIGILL, SIGFPE, SIGBUS and a single step
/// (#DB: send_sigtrap); int3's SIGTRAP is SI_KERNEL, with none. `insn`
/// reads the instruction's first two bytes.
pub fn exception_signal(vector: u8, pc: u64, _sp: u64, insn: impl FnOnce(u64) -> Option<[u8; 2]>) -> Handled {
    use crate::arch::signal::{SIGBUS, SIGFPE, SIGILL};
    let vector = match vector {
        UD => insn(pc).and_then(software_interrupt_vector).unwrap_or(UD),
        v => v,
    };
    let (signo, code) = signal_for_vector(vector);
    let addr = if matches!(signo, SIGILL | SIGFPE | SIGBUS) || vector == DB { pc } else { 0 };
    Handled::Signal { exc: vector, signo, code, addr }
}

/// Mnemonic of an exception vector, for reports.
pub fn exception_name(vector: u8) -> &'static str {
    const NAMES: [&str; 32] = [
        "#DE divide error",
        "#DB debug",
        "NMI",
        "#BP breakpoint",
        "#OF overflow",
        "#BR bound range",
        "#UD invalid opcode",
        "#NM device not available",
        "#DF double fault",
        "coprocessor overrun",
        "#TS invalid TSS",
        "#NP segment not present",
        "#SS stack fault",
        "#GP general protection",
        "#PF page fault",
        "reserved",
        "#MF x87 error",
        "#AC alignment check",
        "#MC machine check",
        "#XM SIMD error",
        "#VE virtualization",
        "#CP control protection",
        "reserved",
        "reserved",
        "reserved",
        "reserved",
        "reserved",
        "reserved",
        "reserved",
        "#VC VMM communication",
        "#SX security",
        "reserved",
    ];
    NAMES.get(vector as usize).copied().unwrap_or("unknown")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syscalls_are_faults_at_lstar_with_if_clear() {
        let at = |rip, rflags, cs| TrapFrame { rip, rflags, cs, ..Default::default() };
        assert_eq!(classify(PF, &at(SYSCALL_TRAP_VA, 0x2, 0x10), || 0), Trap::Syscall);
        assert_eq!(classify(PF, &at(SYSCALL_TRAP_VA, 0x2, 0x33), || 0), Trap::Syscall);
        // A jump there from ring 3 keeps IF set: a plain page fault.
        assert!(matches!(classify(PF, &at(SYSCALL_TRAP_VA, 0x202, 0x33), || 7), Trap::PageFault { addr: 7, .. }));
        assert_eq!(classify(PF, &at(COMPAT_SYSCALL_TRAP_VA & 0xffff_ffff, 0x2, 0x10), || 0), Trap::CompatSyscall);
        assert_eq!(classify(13, &at(0x401000, 0x202, 0x10), || 0), Trap::Kernel(13));
        assert_eq!(classify(6, &at(0x401000, 0x202, 0x33), || 0), Trap::Exception(6));
    }

    #[test]
    fn ports_map_to_vectors() {
        assert_eq!(vector_for_port(0xE0 + 14), Some(14));
        assert_eq!(vector_for_port(0xE0 + 32), None);
        assert_eq!(vector_for_port(0x3f8), None);
        assert_eq!(signal_for_vector(6).0, 4);
        assert_eq!(signal_for_vector(13).0, 11);
        assert_eq!(software_interrupt_vector([0xcd, 0x80]), Some(13));
        assert_eq!(software_interrupt_vector([0xcd, 3]), Some(3));
        assert_eq!(software_interrupt_vector([0x0f, 0x0b]), None);
    }
}
