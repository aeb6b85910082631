//! arm64's user register set as Linux keeps and shows it: `struct
//! user_pt_regs` and `struct user_fpsimd_state`
//! (arch/arm64/include/uapi/asm/ptrace.h); the syscall convention of
//! `el0_svc_common()` and `syscall_get_arguments()` (x8 the number, x0..x5
//! the arguments, x0 the result, `orig_x0` kept because a restart in
//! `arch_do_signal_or_restart()` needs the first argument back); the PSTATE
//! sanitising of `valid_user_regs()` (arch/arm64/kernel/ptrace.c); and the
//! ids KVM_{GET,SET}_ONE_REG names them by (`KVM_REG_ARM_CORE_REG()`,
//! `ARM64_SYS_REG()` in arch/arm64/include/uapi/asm/kvm.h). TPIDR_EL0 is not
//! in pt_regs: Linux keeps it in the thread, as x86 keeps the FS base.

use std::mem::offset_of;

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// struct user_pt_regs: also a core file's NT_PRSTATUS registers
/// (elf_gregset_t) and ptrace's NT_PRSTATUS regset.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct UserPtRegs {
    pub regs: [u64; 31],
    /// SP_EL0.
    pub sp: u64,
    pub pc: u64,
    pub pstate: u64,
}
const _: () = assert!(size_of::<UserPtRegs>() == 272);

/// What x86's user_regs_struct is to a core file, user_pt_regs is here.
pub type UserRegsStruct = UserPtRegs;

impl UserPtRegs {
    /// `r` as NT_PRSTATUS holds it. The syscall (`orig_x0`) and TLS are
    /// other notes on arm64 (NT_ARM_SYSTEM_CALL, NT_ARM_TLS).
    pub fn of(r: &UserRegs, _orig_x0: u64, _tls: Tls) -> Self {
        UserPtRegs { regs: r.x, sp: r.sp, pc: r.pc, pstate: r.pstate }
    }
}

/// struct user_fpsimd_state: V0..V31, FPSR and FPCR.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct UserFpsimdState {
    pub vregs: [u128; 32],
    pub fpsr: u32,
    pub fpcr: u32,
    pub reserved: [u32; 2],
}
const _: () = assert!(size_of::<UserFpsimdState>() == 528);

/// The ELF machine a core file of this architecture names (EM_AARCH64).
pub const ELF_MACHINE: u16 = 183;

/// PSTATE (SPSR_EL1) bits, as uapi/asm/ptrace.h names them.
pub mod pstate {
    /// M[3:0]: 0 is EL0t.
    pub const MODE_MASK: u64 = 0xf;
    pub const MODE32: u64 = 1 << 4;
    pub const F: u64 = 1 << 6;
    pub const I: u64 = 1 << 7;
    pub const A: u64 = 1 << 8;
    pub const D: u64 = 1 << 9;
    pub const BTYPE_MASK: u64 = 3 << 10;
    /// BTYPE as a BLR leaves it: what a signal handler starts with.
    pub const BTYPE_C: u64 = 2 << 10;
    pub const SSBS: u64 = 1 << 12;
    pub const SS: u64 = 1 << 21;
    pub const PAN: u64 = 1 << 22;
    pub const DIT: u64 = 1 << 24;
    pub const TCO: u64 = 1 << 25;
    pub const V: u64 = 1 << 28;
    pub const C: u64 = 1 << 29;
    pub const Z: u64 = 1 << 30;
    pub const N: u64 = 1 << 31;
    /// SPSR_EL1_AARCH64_RES0_BITS: what EL0 may not set. PAN and UAO are
    /// meaningless at EL0, IL is the kernel's; SS is handled apart.
    pub const RES0: u64 = (0xffff_ffff << 32) | (3 << 26) | (3 << 22) | (0xff << 13) | (1 << 5);
}

/// `valid_user_regs()` for a native thread that is not single-stepped:
/// strips what EL0 may not set (and SS), then accepts EL0t with D, A, I
/// and F clear; anything else is forced to EL0t with only NZCV kept, and
/// is invalid (a bad frame to sigreturn).
pub fn valid_user_pstate(p: &mut u64) -> bool {
    use pstate::*;
    *p &= !(RES0 | SS);
    if *p & (MODE_MASK | MODE32 | D | A | I | F) == 0 {
        return true;
    }
    *p &= N | Z | C | V;
    false
}

/// A thread's registers as user mode sees them (Linux's pt_regs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UserRegs {
    /// x0..x30; x29 is the frame pointer, x30 the link register.
    pub x: [u64; 31],
    pub sp: u64,
    pub pc: u64,
    pub pstate: u64,
    /// x0 as the syscall in progress got it: x0 becomes its result.
    pub orig_x0: u64,
}

impl UserRegs {
    /// The registers at a trap, from `user_pt_regs` (at an `svc`, PC is
    /// the instruction after it); `orig_x0` saved as el0_svc_common() does.
    pub fn at_trap(r: &UserPtRegs) -> Self {
        UserRegs { x: r.regs, sp: r.sp, pc: r.pc, pstate: r.pstate, orig_x0: r.regs[0] }
    }

    /// The registers as user_pt_regs, to write back.
    pub fn pt(&self) -> UserPtRegs {
        UserPtRegs { regs: self.x, sp: self.sp, pc: self.pc, pstate: self.pstate }
    }

    /// A program's or a thread's first registers: at `entry` with stack
    /// `sp`, in EL0t with everything clear (start_thread()).
    pub fn user_start(entry: u64, sp: u64) -> Self {
        UserRegs { pc: entry, sp, ..Default::default() }
    }

    /// The registers of a thread making syscall `nr` with `args`.
    pub fn for_syscall(nr: u64, args: [u64; 6]) -> Self {
        let mut r = UserRegs { orig_x0: args[0], ..Default::default() };
        r.x[..6].copy_from_slice(&args);
        r.x[8] = nr;
        r
    }

    /// The syscall number and its six arguments (the first from orig_x0,
    /// as syscall_get_arguments() takes it).
    pub fn syscall(&self) -> (u64, [u64; 6]) {
        let x = &self.x;
        (x[8], [self.orig_x0, x[1], x[2], x[3], x[4], x[5]])
    }

    pub fn pc(&self) -> u64 {
        self.pc
    }
    pub fn set_pc(&mut self, pc: u64) {
        self.pc = pc;
    }
    pub fn sp(&self) -> u64 {
        self.sp
    }
    pub fn set_sp(&mut self, sp: u64) {
        self.sp = sp;
    }
    /// A syscall's result as the caller sees it.
    pub fn ret(&self) -> u64 {
        self.x[0]
    }
    pub fn set_ret(&mut self, v: u64) {
        self.x[0] = v;
    }

    /// Backs the thread up onto its `svc` (4 bytes) to make call `nr` when
    /// it resumes: x0 gets its first argument back from orig_x0.
    pub fn restart_syscall(&mut self, nr: u64) {
        self.x[8] = nr;
        self.x[0] = self.orig_x0;
        self.pc = self.pc.wrapping_sub(4);
    }

    /// `valid_user_regs()` on these registers' PSTATE.
    pub fn valid_user_regs(&mut self) -> bool {
        valid_user_pstate(&mut self.pstate)
    }
}

/// A thread's TLS register, TPIDR_EL0 (clone's CLONE_SETTLS; user mode
/// also writes it directly, so it is read back at every trap).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tls {
    pub tpidr_el0: u64,
}

impl Tls {
    /// CLONE_SETTLS: `tls` is the new thread's TPIDR_EL0.
    pub fn set_by_clone(&mut self, tls: u64) {
        self.tpidr_el0 = tls;
    }
}

/// The registers as DWARF numbers them (the AArch64 DWARF ABI), for
/// unwinding: x0-x30 are 0-30, SP 31; the return address column is x30
/// (LR), so a frame's instruction has a column of its own past them.
pub mod dwarf {
    pub const COUNT: usize = 33;
    pub const FP: usize = 29;
    pub const RA: usize = 30;
    pub const SP: usize = 31;
    pub const PC: usize = 32;
    /// x19-x29 (AAPCS64's callee-saved registers).
    pub const CALLEE_SAVED: [usize; 11] = [19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29];
}

impl UserRegs {
    /// The registers by DWARF number, the pc in [`dwarf::PC`].
    pub fn dwarf(&self) -> [Option<u64>; dwarf::COUNT] {
        let mut d = [None; dwarf::COUNT];
        for (slot, x) in d.iter_mut().zip(self.x) {
            *slot = Some(x);
        }
        d[dwarf::SP] = Some(self.sp);
        d[dwarf::PC] = Some(self.pc);
        d
    }

    /// A 32-bit syscall: never made here (EL0 AArch32 traps as an illegal
    /// state), but answered as x86-64 answers its own.
    pub fn refuse_compat_syscall(&mut self, ret: u64) {
        self.x[0] = ret;
    }
}

/// The one-reg ids KVM_{GET,SET}_ONE_REG names arm64 registers by.
pub mod one_reg {
    use super::*;

    const KVM_REG_ARM64: u64 = 0x6000_0000_0000_0000;
    const KVM_REG_SIZE_U32: u64 = 0x0020_0000_0000_0000;
    const KVM_REG_SIZE_U64: u64 = 0x0030_0000_0000_0000;
    const KVM_REG_SIZE_U128: u64 = 0x0040_0000_0000_0000;
    const KVM_REG_ARM_CORE: u64 = 0x0010 << 16;
    const KVM_REG_ARM64_SYSREG: u64 = 0x0013 << 16;

    /// struct kvm_regs: the core registers, whose ids are their offsets in
    /// it in 32-bit words. SPSR[0] is SPSR_EL1 (KVM_SPSR_EL1).
    #[repr(C)]
    pub(super) struct KvmRegs {
        pub(super) regs: UserPtRegs,
        pub(super) sp_el1: u64,
        pub(super) elr_el1: u64,
        pub(super) spsr: [u64; 5],
        pub(super) fp_regs: UserFpsimdState,
    }

    const fn core(size: u64, offset: usize) -> u64 {
        KVM_REG_ARM64 | size | KVM_REG_ARM_CORE | (offset / 4) as u64
    }

    /// General register x`n` (n < 31).
    pub const fn x(n: usize) -> u64 {
        assert!(n < 31);
        core(KVM_REG_SIZE_U64, offset_of!(KvmRegs, regs.regs) + 8 * n)
    }
    /// SP_EL0: the user's stack pointer, whatever EL the vCPU is in.
    pub const SP_EL0: u64 = core(KVM_REG_SIZE_U64, offset_of!(KvmRegs, regs.sp));
    pub const PC: u64 = core(KVM_REG_SIZE_U64, offset_of!(KvmRegs, regs.pc));
    pub const PSTATE: u64 = core(KVM_REG_SIZE_U64, offset_of!(KvmRegs, regs.pstate));
    pub const SP_EL1: u64 = core(KVM_REG_SIZE_U64, offset_of!(KvmRegs, sp_el1));
    pub const ELR_EL1: u64 = core(KVM_REG_SIZE_U64, offset_of!(KvmRegs, elr_el1));
    pub const SPSR_EL1: u64 = core(KVM_REG_SIZE_U64, offset_of!(KvmRegs, spsr));
    /// FP/SIMD register V`n` (n < 32), 128 bits.
    pub const fn v(n: usize) -> u64 {
        assert!(n < 32);
        core(KVM_REG_SIZE_U128, offset_of!(KvmRegs, fp_regs.vregs) + 16 * n)
    }
    pub const FPSR: u64 = core(KVM_REG_SIZE_U32, offset_of!(KvmRegs, fp_regs.fpsr));
    pub const FPCR: u64 = core(KVM_REG_SIZE_U32, offset_of!(KvmRegs, fp_regs.fpcr));

    /// ARM64_SYS_REG(op0, op1, CRn, CRm, op2): a 64-bit system register.
    pub const fn sys_reg(op0: u64, op1: u64, crn: u64, crm: u64, op2: u64) -> u64 {
        KVM_REG_ARM64 | KVM_REG_SIZE_U64 | KVM_REG_ARM64_SYSREG | op0 << 14 | op1 << 11 | crn << 7 | crm << 3 | op2
    }
    pub const TPIDR_EL0: u64 = sys_reg(3, 3, 13, 0, 2);
    pub const TPIDRRO_EL0: u64 = sys_reg(3, 3, 13, 0, 3);
    pub const ESR_EL1: u64 = sys_reg(3, 0, 5, 2, 0);
    pub const FAR_EL1: u64 = sys_reg(3, 0, 6, 0, 0);

    /// The ids of user_pt_regs's 34 words, in order: a vCPU stopped in EL0
    /// has them as they are (`in_el1 = false`); one stopped in an EL1
    /// handler of an exception from EL0 keeps the user's PC in ELR_EL1 and
    /// PSTATE in SPSR_EL1 (and its GPRs in place only if the handler left
    /// them so). SP_EL0 is the user's either way.
    pub fn user_pt_regs(in_el1: bool) -> [u64; 34] {
        let mut ids = [0; 34];
        for (n, id) in ids.iter_mut().take(31).enumerate() {
            *id = x(n);
        }
        ids[31] = SP_EL0;
        (ids[32], ids[33]) = if in_el1 { (ELR_EL1, SPSR_EL1) } else { (PC, PSTATE) };
        ids
    }
}

#[cfg(test)]
mod tests {
    use super::one_reg::*;
    use super::*;

    // Offsets and ids as aarch64-linux-gnu-gcc computes them from the uapi
    // headers (asm/ptrace.h, asm/kvm.h: offsetof, KVM_REG_ARM_CORE_REG(),
    // ARM64_SYS_REG()).
    #[test]
    fn layouts_and_ids_match_the_uapi_headers() {
        assert_eq!(
            (offset_of!(UserPtRegs, sp), offset_of!(UserPtRegs, pc), offset_of!(UserPtRegs, pstate)),
            (248, 256, 264)
        );
        assert_eq!((offset_of!(UserFpsimdState, fpsr), offset_of!(UserFpsimdState, fpcr)), (512, 516));
        assert_eq!(
            (offset_of!(KvmRegs, sp_el1), offset_of!(KvmRegs, spsr), offset_of!(KvmRegs, fp_regs)),
            (272, 288, 336)
        );
        assert_eq!(size_of::<KvmRegs>(), 864);
        // PC as Firecracker's CPU-template docs and rust-vmm users list it.
        assert_eq!(PC, 0x6030_0000_0010_0040);
        let ids = [
            (x(0), 0x6030_0000_0010_0000),
            (x(30), 0x6030_0000_0010_003c),
            (SP_EL0, 0x6030_0000_0010_003e),
            (PSTATE, 0x6030_0000_0010_0042),
            (SP_EL1, 0x6030_0000_0010_0044),
            (ELR_EL1, 0x6030_0000_0010_0046),
            (SPSR_EL1, 0x6030_0000_0010_0048),
            (v(0), 0x6040_0000_0010_0054),
            (v(31), 0x6040_0000_0010_00d0),
            (FPSR, 0x6020_0000_0010_00d4),
            (FPCR, 0x6020_0000_0010_00d5),
            (TPIDR_EL0, 0x6030_0000_0013_de82),
            (TPIDRRO_EL0, 0x6030_0000_0013_de83),
            (ESR_EL1, 0x6030_0000_0013_c290),
            (FAR_EL1, 0x6030_0000_0013_c300),
            // KVM_REG_ARM_TIMER_CNT, which Firecracker also lists.
            (sys_reg(3, 3, 14, 3, 2), 0x6030_0000_0013_df1a),
        ];
        for (i, (id, want)) in ids.into_iter().enumerate() {
            assert_eq!(id, want, "#{i}");
        }
        let trap = user_pt_regs(true);
        assert_eq!((trap[0], trap[31], trap[32], trap[33]), (x(0), SP_EL0, ELR_EL1, SPSR_EL1));
        assert_eq!(user_pt_regs(false)[32], PC);
    }

    #[test]
    fn pstate_is_sanitised_as_valid_user_regs_does() {
        use pstate::*;
        let ok = N | C | DIT | SSBS | BTYPE_C | TCO;
        let mut p = ok | PAN | (1 << 23) | (1 << 20) | SS | (1 << 40);
        assert!(valid_user_pstate(&mut p));
        assert_eq!(p, ok);
        for bad in [5, MODE32, D, A, I, F] {
            let mut p = bad | Z | V | DIT;
            assert!(!valid_user_pstate(&mut p), "{bad:#x}");
            assert_eq!(p, Z | V);
        }
    }

    #[test]
    fn syscalls_take_x8_and_restart_from_orig_x0() {
        let mut pt = UserPtRegs { pc: 0x40_1004, sp: 0x7fff_0000, ..Default::default() };
        pt.regs[..6].copy_from_slice(&[3, 4, 5, 6, 7, 8]);
        pt.regs[8] = 63;
        let mut r = UserRegs::at_trap(&pt);
        assert_eq!(r.syscall(), (63, [3, 4, 5, 6, 7, 8]));
        assert_eq!(r, UserRegs { pc: 0x40_1004, sp: 0x7fff_0000, ..UserRegs::for_syscall(63, [3, 4, 5, 6, 7, 8]) });
        r.set_ret(-4i64 as u64);
        assert_eq!(r.syscall().1[0], 3);
        r.restart_syscall(63);
        assert_eq!((r.pc(), r.ret(), r.x[8]), (0x40_1000, 3, 63));
        assert_eq!(r.pt().regs[0], 3);
        let core = UserPtRegs::of(&r, 3, Tls { tpidr_el0: 9 });
        assert_eq!(core.as_bytes().len(), 272);
    }
}
