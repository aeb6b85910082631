//! The user-visible register file, and how it moves between a vCPU stopped
//! in a trap and the kernel. A trapped vCPU sits in the shim's stub in ring
//! 0: the user's RIP, RSP, RFLAGS and segments are in the exception frame
//! on its IST stack, the other registers in the vCPU. Returning to user
//! mode rewrites both; the stub's `iretq` does the rest.

use kvm_bindings::kvm_regs;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use super::cpu::sanitize_user_rflags;
use super::layout::{cpu_area_gpa, CPU_IST_OFFSET, IST_PAGES};
use super::tables::{USER32_CS, USER_CS, USER_DS};
use crate::arch::PAGE_SIZE;

/// The exception frame a shim stub leaves on the IST stack (the stubs push
/// a fake error code where the CPU pushed none).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct TrapFrame {
    pub error_code: u64,
    pub rip: u64,
    pub cs: u64,
    pub rflags: u64,
    pub rsp: u64,
    pub ss: u64,
}

impl TrapFrame {
    pub const LEN: usize = std::mem::size_of::<TrapFrame>();

    /// Offset of vCPU `cpu`'s frame in the system slot.
    pub const fn slot_offset(cpu: u32) -> u64 {
        cpu_area_gpa(cpu) + CPU_IST_OFFSET + IST_PAGES * PAGE_SIZE - Self::LEN as u64
    }

    /// Whether the trap came from ring 3 (Linux's `user_mode()`).
    pub fn user_mode(&self) -> bool {
        self.cs & 3 == 3
    }
}

/// IF: always set in a Linux program's flags. Under PVM ring 3 may run with
/// it clear after the syscall ring stub's `iretq` (which cannot set it
/// there); what the program is shown has it, as on Linux.
const IF: u64 = 1 << 9;

/// A thread's registers as user mode sees them (Linux's pt_regs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UserRegs {
    pub rax: u64,
    pub rbx: u64,
    pub rcx: u64,
    pub rdx: u64,
    pub rsi: u64,
    pub rdi: u64,
    pub rbp: u64,
    pub rsp: u64,
    pub r8: u64,
    pub r9: u64,
    pub r10: u64,
    pub r11: u64,
    pub r12: u64,
    pub r13: u64,
    pub r14: u64,
    pub r15: u64,
    pub rip: u64,
    pub rflags: u64,
    /// Running 32-bit code (CS = USER32_CS).
    pub compat: bool,
}

impl UserRegs {
    fn with_gprs(r: &kvm_regs) -> Self {
        UserRegs {
            rax: r.rax,
            rbx: r.rbx,
            rcx: r.rcx,
            rdx: r.rdx,
            rsi: r.rsi,
            rdi: r.rdi,
            rbp: r.rbp,
            rsp: r.rsp,
            r8: r.r8,
            r9: r.r9,
            r10: r.r10,
            r11: r.r11,
            r12: r.r12,
            r13: r.r13,
            r14: r.r14,
            r15: r.r15,
            rip: r.rip,
            rflags: r.rflags,
            compat: false,
        }
    }

    /// The registers at a `syscall`: the CPU left the return address in
    /// RCX and the flags in R11, so that is where the user resumes.
    pub fn at_syscall(gprs: &kvm_regs, frame: &TrapFrame) -> Self {
        UserRegs { rsp: frame.rsp, rip: gprs.rcx, rflags: gprs.r11 | IF, ..Self::with_gprs(gprs) }
    }

    /// The registers at an exception: where it happened.
    pub fn at_exception(gprs: &kvm_regs, frame: &TrapFrame) -> Self {
        UserRegs {
            rsp: frame.rsp,
            rip: frame.rip,
            rflags: frame.rflags | IF,
            compat: frame.cs == USER32_CS as u64,
            ..Self::with_gprs(gprs)
        }
    }

    /// The registers of a vCPU stopped in user mode (kicked, not trapped).
    pub fn at_user(gprs: &kvm_regs, compat: bool) -> Self {
        UserRegs { compat, rflags: gprs.rflags | IF, ..Self::with_gprs(gprs) }
    }

    /// The syscall number and its six arguments.
    pub fn syscall(&self) -> (u64, [u64; 6]) {
        (self.rax, [self.rdi, self.rsi, self.rdx, self.r10, self.r8, self.r9])
    }

    // What the kernel reads and writes of any architecture's registers.

    /// A program's or a thread's first registers: at `entry` with stack
    /// `sp`, flags as Linux starts user mode.
    pub fn user_start(entry: u64, sp: u64) -> Self {
        UserRegs { rip: entry, rsp: sp, rflags: super::cpu::USER_RFLAGS, ..Default::default() }
    }

    /// The registers of a thread making syscall `nr` with `args`.
    pub fn for_syscall(nr: u64, args: [u64; 6]) -> Self {
        let [rdi, rsi, rdx, r10, r8, r9] = args;
        UserRegs { rax: nr, rdi, rsi, rdx, r10, r8, r9, ..Default::default() }
    }

    /// The instruction pointer.
    pub fn pc(&self) -> u64 {
        self.rip
    }

    pub fn set_pc(&mut self, pc: u64) {
        self.rip = pc;
    }

    /// The stack pointer.
    pub fn sp(&self) -> u64 {
        self.rsp
    }

    pub fn set_sp(&mut self, sp: u64) {
        self.rsp = sp;
    }

    /// A syscall's result as the caller sees it.
    pub fn ret(&self) -> u64 {
        self.rax
    }

    pub fn set_ret(&mut self, v: u64) {
        self.rax = v;
    }

    /// Returns `ret` from a 32-bit `syscall` without running it, with
    /// sysretl's registers (entry_SYSCALL32_ignore).
    pub fn refuse_compat_syscall(&mut self, ret: u64) {
        self.rax = ret & 0xffff_ffff;
        self.rip = self.rcx & 0xffff_ffff;
        self.rflags = self.r11;
        self.compat = true;
    }

    /// Backs the thread up onto its `syscall` instruction (2 bytes) to make
    /// call `nr` when it resumes, with the arguments it still holds.
    pub fn restart_syscall(&mut self, nr: u64) {
        self.rax = nr;
        self.rip = self.rip.wrapping_sub(2);
    }

    /// Where to resume, through the trap frame and the vCPU's registers:
    /// `gprs` are the vCPU's registers as read at the trap (its RIP, RSP and
    /// RFLAGS stay the stub's); returns the frame to write. Flags are
    /// sanitized: user mode may not raise IOPL or clear IF.
    pub fn write_back(&self, gprs: &mut kvm_regs) -> TrapFrame {
        self.set_gprs(gprs);
        TrapFrame {
            error_code: 0,
            rip: if self.compat { self.rip & 0xffff_ffff } else { self.rip },
            cs: if self.compat { USER32_CS } else { USER_CS } as u64,
            rflags: sanitize_user_rflags(self.rflags),
            rsp: self.rsp,
            ss: USER_DS as u64,
        }
    }

    /// The vCPU's registers to start in ring 3 directly (no trap in
    /// flight), as a new thread or a fresh program does.
    pub fn to_kvm(self) -> kvm_regs {
        let mut r = kvm_regs::default();
        self.set_gprs(&mut r);
        r.rip = self.rip;
        r.rsp = self.rsp;
        r.rflags = sanitize_user_rflags(self.rflags);
        r
    }

    fn set_gprs(&self, r: &mut kvm_regs) {
        r.rax = self.rax;
        r.rbx = self.rbx;
        r.rcx = self.rcx;
        r.rdx = self.rdx;
        r.rsi = self.rsi;
        r.rdi = self.rdi;
        r.rbp = self.rbp;
        r.r8 = self.r8;
        r.r9 = self.r9;
        r.r10 = self.r10;
        r.r11 = self.r11;
        r.r12 = self.r12;
        r.r13 = self.r13;
        r.r14 = self.r14;
        r.r15 = self.r15;
    }
}

/// The registers as DWARF numbers them (the x86-64 psABI), for unwinding.
pub mod dwarf {
    /// General registers 0-15 and the return address column.
    pub const COUNT: usize = 17;
    /// RBP, RSP, and the return address column.
    pub const FP: usize = 6;
    pub const SP: usize = 7;
    pub const RA: usize = 16;
    /// Where the unwinder keeps a frame's instruction: the return address
    /// column itself (x86-64's CFI has no separate pc).
    pub const PC: usize = RA;
    /// Registers a callee must keep (RBX, RBP, R12-R15): known in a
    /// caller's frame when its rule says where they were saved, or that
    /// they stayed.
    pub const CALLEE_SAVED: [usize; 6] = [3, 6, 12, 13, 14, 15];
}

impl UserRegs {
    /// The registers by DWARF number, the instruction in the return
    /// address column.
    pub fn dwarf(&self) -> [Option<u64>; dwarf::COUNT] {
        let r = self;
        let gprs = [
            r.rax, r.rdx, r.rcx, r.rbx, r.rsi, r.rdi, r.rbp, r.rsp, r.r8, r.r9, r.r10, r.r11, r.r12, r.r13, r.r14,
            r.r15, r.rip,
        ];
        gprs.map(Some)
    }
}

/// A thread's TLS registers: the FS and GS bases (arch_prctl, clone's
/// CLONE_SETTLS).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tls {
    pub fs_base: u64,
    pub gs_base: u64,
}

impl Tls {
    /// CLONE_SETTLS: `tls` is the new thread's FS base.
    pub fn set_by_clone(&mut self, tls: u64) {
        self.fs_base = tls;
    }
}

/// The ELF machine a core file of this architecture names (EM_X86_64).
pub const ELF_MACHINE: u16 = 62;

/// struct user_regs_struct: a thread's registers as ptrace and a core
/// file's NT_PRSTATUS (elf_gregset_t) give them.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct UserRegsStruct {
    pub r15: u64,
    pub r14: u64,
    pub r13: u64,
    pub r12: u64,
    pub rbp: u64,
    pub rbx: u64,
    pub r11: u64,
    pub r10: u64,
    pub r9: u64,
    pub r8: u64,
    pub rax: u64,
    pub rcx: u64,
    pub rdx: u64,
    pub rsi: u64,
    pub rdi: u64,
    pub orig_rax: u64,
    pub rip: u64,
    pub cs: u64,
    pub eflags: u64,
    pub rsp: u64,
    pub ss: u64,
    pub fs_base: u64,
    pub gs_base: u64,
    pub ds: u64,
    pub es: u64,
    pub fs: u64,
    pub gs: u64,
}
const _: () = assert!(std::mem::size_of::<UserRegsStruct>() == 216);

impl UserRegsStruct {
    /// `r` as the user sees them, with the syscall it was in (`orig_rax`,
    /// -1 for none) and its TLS bases; the selectors are the user ones
    /// this VM runs ring 3 with (data selectors are 0, as on Linux).
    pub fn of(r: &UserRegs, orig_rax: u64, tls: Tls) -> Self {
        UserRegsStruct {
            r15: r.r15,
            r14: r.r14,
            r13: r.r13,
            r12: r.r12,
            rbp: r.rbp,
            rbx: r.rbx,
            r11: r.r11,
            r10: r.r10,
            r9: r.r9,
            r8: r.r8,
            rax: r.rax,
            rcx: r.rcx,
            rdx: r.rdx,
            rsi: r.rsi,
            rdi: r.rdi,
            orig_rax,
            rip: r.rip,
            cs: if r.compat { USER32_CS } else { USER_CS } as u64,
            eflags: r.rflags,
            rsp: r.rsp,
            ss: USER_DS as u64,
            fs_base: tls.fs_base,
            gs_base: tls.gs_base,
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syscall_resumes_at_rcx_with_r11_flags() {
        let gprs = kvm_regs { rax: 39, rcx: 0x401234, r11: 0x246, rip: 0xffff_ff80_0000_00e2, ..Default::default() };
        let frame = TrapFrame { rsp: 0x7fff_0000, ..Default::default() };
        let mut u = UserRegs::at_syscall(&gprs, &frame);
        assert_eq!((u.rip, u.rflags, u.rsp), (0x401234, 0x246, 0x7fff_0000));
        u.rax = 1;
        let mut out = gprs;
        let f = u.write_back(&mut out);
        assert_eq!((f.rip, f.cs, f.ss, f.rsp), (0x401234, USER_CS as u64, USER_DS as u64, 0x7fff_0000));
        // The stub's own RIP is kept: its iretq does the return.
        assert_eq!((out.rax, out.rip), (1, gprs.rip));
        // User flags cannot raise IOPL.
        u.rflags = 0x3246;
        assert_eq!(u.write_back(&mut out).rflags, 0x246);
    }

    #[test]
    fn frame_bytes_are_six_words() {
        let f = TrapFrame { error_code: 6, rip: 0x401000, cs: 0x33, rflags: 0x202, rsp: 0x7ff0, ss: 0x2b };
        assert_eq!(TrapFrame::read_from_bytes(f.as_bytes()).unwrap(), f);
        assert!(f.user_mode());
        assert_eq!(TrapFrame::slot_offset(1) - TrapFrame::slot_offset(0), super::super::layout::CPU_AREA_SIZE);
    }
}
