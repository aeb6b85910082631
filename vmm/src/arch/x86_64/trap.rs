//! Decoding what the shim reports: which vector, its frame, and what a
//! Linux process would get for it.

use super::layout::{COMPAT_SYSCALL_TRAP_VA, IST_TOP_VA, SYSCALL_TRAP_VA, TRAP_PORT_BASE, VECTORS};

pub const UD: u8 = 6;
pub const PF: u8 = 14;

/// The exception frame the shim leaves on the IST stack.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TrapFrame {
    pub error_code: u64,
    pub rip: u64,
    pub cs: u64,
    pub rflags: u64,
    pub rsp: u64,
    pub ss: u64,
}

impl TrapFrame {
    /// Guest-virtual address of the frame: the stubs push a fake error
    /// code where the CPU pushed none, so it always starts 6 words below
    /// the IST top.
    pub const VA: u64 = IST_TOP_VA - 6 * 8;
    pub const LEN: usize = 6 * 8;

    pub fn from_bytes(b: &[u8; Self::LEN]) -> Self {
        let w = |i: usize| u64::from_le_bytes(b[i * 8..i * 8 + 8].try_into().unwrap());
        TrapFrame { error_code: w(0), rip: w(1), cs: w(2), rflags: w(3), rsp: w(4), ss: w(5) }
    }

    pub fn to_bytes(self) -> [u8; Self::LEN] {
        let mut b = [0u8; Self::LEN];
        for (i, v) in [self.error_code, self.rip, self.cs, self.rflags, self.rsp, self.ss].iter().enumerate() {
            b[i * 8..i * 8 + 8].copy_from_slice(&v.to_le_bytes());
        }
        b
    }

    /// Whether the trap came from ring 3.
    pub fn from_user(&self) -> bool {
        self.cs & 3 == 3
    }

    /// `syscall` always ends as a #PF at LSTAR: at CPL 0 on bare metal, at
    /// CPL 3 under PVM. Either way the frame's RIP is the trap address, and
    /// IF is clear (SFMASK masks it). A plain jump there from ring 3 keeps
    /// IF set (ring 3 cannot clear it at IOPL 0), so it is no syscall.
    pub fn is_syscall(&self, vector: u8) -> bool {
        const IF: u64 = 1 << 9;
        vector == PF && self.rip == SYSCALL_TRAP_VA && self.rflags & IF == 0
    }

    /// `syscall` from 32-bit compatibility mode ends as a #PF at CSTAR, or
    /// at CSTAR's low 32 bits where the CPU truncates it; IF is clear as
    /// for a 64-bit call.
    pub fn is_compat_syscall(&self, vector: u8) -> bool {
        const IF: u64 = 1 << 9;
        vector == PF
            && (self.rip == COMPAT_SYSCALL_TRAP_VA || self.rip == COMPAT_SYSCALL_TRAP_VA & 0xffff_ffff)
            && self.rflags & IF == 0
    }
}

/// The vector behind a port-I/O exit, if it is one of the shim's.
pub fn vector_for_port(port: u16) -> Option<u8> {
    let v = port.checked_sub(TRAP_PORT_BASE)?;
    (v < VECTORS as u16).then_some(v as u8)
}

/// A Linux signal number and name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Signal {
    pub number: i32,
    pub name: &'static str,
}

pub const SIGILL: Signal = Signal { number: 4, name: "SIGILL" };
pub const SIGTRAP: Signal = Signal { number: 5, name: "SIGTRAP" };
pub const SIGBUS: Signal = Signal { number: 7, name: "SIGBUS" };
pub const SIGFPE: Signal = Signal { number: 8, name: "SIGFPE" };
pub const SIGKILL: Signal = Signal { number: 9, name: "SIGKILL" };
pub const SIGSEGV: Signal = Signal { number: 11, name: "SIGSEGV" };

/// A signal by number, named where faultline knows the name.
pub fn signal_by_number(n: i32) -> Signal {
    const NAMES: [&str; 32] = [
        "SIG0",
        "SIGHUP",
        "SIGINT",
        "SIGQUIT",
        "SIGILL",
        "SIGTRAP",
        "SIGABRT",
        "SIGBUS",
        "SIGFPE",
        "SIGKILL",
        "SIGUSR1",
        "SIGSEGV",
        "SIGUSR2",
        "SIGPIPE",
        "SIGALRM",
        "SIGTERM",
        "SIGSTKFLT",
        "SIGCHLD",
        "SIGCONT",
        "SIGSTOP",
        "SIGTSTP",
        "SIGTTIN",
        "SIGTTOU",
        "SIGURG",
        "SIGXCPU",
        "SIGXFSZ",
        "SIGVTALRM",
        "SIGPROF",
        "SIGWINCH",
        "SIGIO",
        "SIGPWR",
        "SIGSYS",
    ];
    Signal { number: n, name: NAMES.get(n as usize).copied().unwrap_or("SIGRT") }
}

/// The signal Linux's x86 trap handlers send for an exception in user mode.
pub fn signal_for_vector(vector: u8) -> Signal {
    match vector {
        0 | 16 | 19 => SIGFPE,
        1 | 3 => SIGTRAP,
        6 => SIGILL,
        17 => SIGBUS,
        // #OF, #BR, #NP, #SS, #GP, #PF and the rest: SIGSEGV.
        _ => SIGSEGV,
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

/// Mnemonic of an exception vector, for reports.
pub fn vector_name(vector: u8) -> &'static str {
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

/// Page-fault error code bits, as the kernel prints them.
pub mod pf {
    pub const PRESENT: u64 = 1 << 0;
    pub const WRITE: u64 = 1 << 1;
    pub const USER: u64 = 1 << 2;
    pub const FETCH: u64 = 1 << 4;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_round_trips() {
        let f = TrapFrame { error_code: 6, rip: 0x401000, cs: 0x33, rflags: 0x202, rsp: 0x7ff0, ss: 0x2b };
        assert_eq!(TrapFrame::from_bytes(&f.to_bytes()), f);
        assert!(f.from_user());
    }

    #[test]
    fn ports_map_to_vectors() {
        assert_eq!(vector_for_port(0xE0 + 14), Some(14));
        assert_eq!(vector_for_port(0xE0 + 32), None);
        assert_eq!(vector_for_port(0x3f8), None);
        assert_eq!(signal_for_vector(6), SIGILL);
        assert_eq!(signal_for_vector(14), SIGSEGV);
        assert_eq!(software_interrupt_vector([0xcd, 0x80]), Some(13));
        assert_eq!(software_interrupt_vector([0xcd, 3]), Some(3));
        assert_eq!(software_interrupt_vector([0x0f, 0x0b]), None);
    }
}
