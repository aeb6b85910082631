//! What an exception taken to EL1 is, read from its syndrome (ESR_EL1) and
//! fault address (FAR_EL1), and what Linux does with it: arm64's side of
//! x86's `trap`. Follows `el0t_64_sync_handler()`
//! (arch/arm64/kernel/entry-common.c); for aborts `do_mem_abort()`, the
//! `fault_info[]` table, `is_write_abort()`, `do_sea()` and
//! `set_thread_esr()` (arch/arm64/mm/fault.c); for the rest
//! `do_el0_undef()`, `do_el0_sys()`, `bad_el0_sync()`, `do_sp_pc_abort()`,
//! `arm64_notify_die()` (arch/arm64/kernel/traps.c), `do_fpsimd_exc()`
//! (fpsimd.c) and the BRK and single-step handlers (debug-monitors.c).

use crate::arch::signal::*;

/// Exception classes (ESR_ELx.EC, arch/arm64/include/asm/esr.h) that
/// AArch64 EL0 can raise.
pub mod ec {
    pub const UNKNOWN: u8 = 0x00;
    pub const WFX: u8 = 0x01;
    pub const FP_ASIMD: u8 = 0x07;
    pub const BTI: u8 = 0x0d;
    pub const ILL: u8 = 0x0e;
    pub const SVC64: u8 = 0x15;
    pub const SYS64: u8 = 0x18;
    pub const SVE: u8 = 0x19;
    pub const FPAC: u8 = 0x1c;
    pub const SME: u8 = 0x1d;
    pub const IABT_LOW: u8 = 0x20;
    pub const PC_ALIGN: u8 = 0x22;
    pub const DABT_LOW: u8 = 0x24;
    pub const SP_ALIGN: u8 = 0x26;
    pub const FP_EXC64: u8 = 0x2c;
    pub const BREAKPT_LOW: u8 = 0x30;
    pub const SOFTSTP_LOW: u8 = 0x32;
    pub const WATCHPT_LOW: u8 = 0x34;
    pub const BRK64: u8 = 0x3c;
}

/// TASK_SIZE with 48-bit VAs: where TTBR0's half ends. A fault at or above
/// it is on the kernel's half, which user space must not learn about
/// (`is_ttbr0_addr()`).
pub const TASK_SIZE: u64 = 1 << 48;

/// An ESR_EL1 value. ISS2 (bits 55:32) is kept: Linux reports it too.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Esr(pub u64);

impl Esr {
    pub const EC_MASK: u64 = 0x3f << 26;
    /// The trapped instruction was 32-bit: always, from AArch64.
    pub const IL: u64 = 1 << 25;
    pub const ISS_MASK: u64 = (1 << 25) - 1;
    /// Aborts: FAR_EL1 is not valid (only for external aborts).
    pub const FNV: u64 = 1 << 10;
    /// Aborts: a cache maintenance instruction (which sets WnR for reads).
    pub const CM: u64 = 1 << 8;
    /// Aborts: on the stage-1 table walk.
    pub const S1PTW: u64 = 1 << 7;
    /// Data aborts: a write.
    pub const WNR: u64 = 1 << 6;
    pub const FSC_MASK: u64 = 0x3f;
    /// The FSC of a level-0 translation fault (ESR_ELx_FSC_FAULT).
    pub const FSC_FAULT: u64 = 0x04;

    /// An ESR of class `ec` with `iss`, as hardware reports AArch64 code.
    pub const fn new(ec: u8, iss: u32) -> Self {
        Esr(((ec as u64) << 26) | Self::IL | (iss as u64 & Self::ISS_MASK))
    }
    pub const fn ec(self) -> u8 {
        ((self.0 >> 26) & 0x3f) as u8
    }
    pub const fn iss(self) -> u32 {
        (self.0 & Self::ISS_MASK) as u32
    }
    /// SVC's, HVC's and BRK's immediate (ISS[15:0]).
    pub const fn imm16(self) -> u16 {
        self.0 as u16
    }
    /// An abort's fault status code (ISS[5:0]).
    pub const fn fsc(self) -> u8 {
        (self.0 & Self::FSC_MASK) as u8
    }
}

/// `untagged_addr()`: a user address without its top-byte tag (TBI0, which
/// Linux always enables for EL0); a kernel-half address keeps all its bits.
pub const fn untagged_addr(addr: u64) -> u64 {
    addr & (((addr << 8) as i64 >> 8) as u64)
}

/// What an exception is, as the kernel cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trap {
    /// `svc #imm` from AArch64: a syscall (Linux ignores the immediate).
    Svc { imm: u16 },
    /// A data or instruction abort from EL0: the fault handler's.
    Abort(Abort),
    /// Any other exception from EL0, with FAR_EL1 (meaningful for PC
    /// alignment and watchpoints only): see [`handle_exception`].
    Exception { esr: Esr, far: u64 },
    /// Anything taken from EL1: no program code runs there, so the program
    /// got there by means it must not have.
    Kernel(Esr),
}

/// Classifies an exception by its ESR_EL1, FAR_EL1 and SPSR_EL1 (the
/// interrupted PSTATE, whose M[3:0] say which EL it came from, as
/// `user_mode()` reads it).
pub fn classify(esr: u64, far: u64, spsr: u64) -> Trap {
    let esr = Esr(esr);
    if spsr & 0xf != 0 {
        return Trap::Kernel(esr);
    }
    match esr.ec() {
        ec::SVC64 => Trap::Svc { imm: esr.imm16() },
        ec::DABT_LOW | ec::IABT_LOW => Trap::Abort(Abort { esr, far }),
        _ => Trap::Exception { esr, far },
    }
}

/// The thread's fault record (`thread.fault_address`, `thread.fault_code`):
/// the next signal frame's `sigcontext.fault_address` and, if `esr` is not
/// 0, its esr_context. Linux keeps it until the next fault overwrites it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FaultRecord {
    pub address: u64,
    pub esr: u64,
}

/// A fault signal as Linux raises it: force_sig_fault()'s signal, code and
/// si_addr (tag bits and all: delivery strips them unless the handler has
/// SA_EXPOSE_TAGBITS, `hide_si_addr_tag_bits()`), and the fault record it
/// leaves (`None`: the previous one stays). SIGKILL kills, no siginfo.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FaultSignal {
    pub signo: i32,
    pub code: i32,
    pub addr: u64,
    pub record: Option<FaultRecord>,
}

/// `arm64_notify_die()` for a user fault: the record is reset to no
/// address and `esr` (0 there means no esr_context).
fn notify_die(signo: i32, code: i32, addr: u64, esr: u64) -> FaultSignal {
    FaultSignal { signo, code, addr, record: Some(FaultRecord { address: 0, esr }) }
}

/// `force_sig_fault()` alone: the record stays as it was.
fn plain(signo: i32, code: i32, addr: u64) -> FaultSignal {
    FaultSignal { signo, code, addr, record: None }
}

/// Which of fault.c's handlers `fault_info[]` gives an abort.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AbortHandler {
    /// `do_translation_fault()`, `do_page_fault()`: the memory manager's
    /// (translation, access flag and permission faults).
    PageFault,
    /// `do_bad_area()` directly: alignment and tag check faults.
    BadArea,
    /// `do_sea()`: synchronous external aborts and parity errors.
    Sea,
    /// `do_bad()`: nothing Linux can handle.
    Bad,
}

/// One row of `fault_info[]`: the handler, the signal it falls back on,
/// and the name Linux logs (which puts "level N" before it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FaultInfo {
    pub handler: AbortHandler,
    pub signo: i32,
    pub code: i32,
    pub name: &'static str,
    pub level: Option<u8>,
}

/// `fault_info[]`'s row for fault status code `fsc`.
pub fn fault_info(fsc: u8) -> FaultInfo {
    use AbortHandler::*;
    let level = Some(fsc & 3);
    let (handler, signo, code, name, level) = match fsc & 0x3f {
        0x00..=0x03 => (Bad, SIGKILL, SI_KERNEL, "address size fault", level),
        0x04..=0x07 => (PageFault, SIGSEGV, SEGV_MAPERR, "translation fault", level),
        // Level-0 access flag and permission faults (0x08, 0x0c) exist only
        // with 52-bit addresses: "unknown" to Linux's table, as here.
        0x09..=0x0b => (PageFault, SIGSEGV, SEGV_ACCERR, "access flag fault", level),
        0x0d..=0x0f => (PageFault, SIGSEGV, SEGV_ACCERR, "permission fault", level),
        0x10 => (Sea, SIGBUS, BUS_OBJERR, "synchronous external abort", None),
        0x11 => (BadArea, SIGSEGV, SEGV_MTESERR, "synchronous tag check fault", None),
        0x14..=0x17 => (Sea, SIGKILL, SI_KERNEL, "(translation table walk)", level),
        0x18 => (Sea, SIGBUS, BUS_OBJERR, "synchronous parity or ECC error", None),
        0x1c..=0x1f => (Sea, SIGKILL, SI_KERNEL, "synchronous parity error (translation table walk)", level),
        0x21 => (BadArea, SIGBUS, BUS_ADRALN, "alignment fault", None),
        0x30 => (Bad, SIGKILL, SI_KERNEL, "TLB conflict abort", None),
        0x31 => (Bad, SIGKILL, SI_KERNEL, "Unsupported atomic hardware update fault", None),
        0x34 => (Bad, SIGKILL, SI_KERNEL, "implementation fault (lockdown abort)", None),
        0x35 => (Bad, SIGBUS, BUS_OBJERR, "implementation fault (unsupported exclusive)", None),
        0x3d => (Bad, SIGKILL, SI_KERNEL, "section domain fault", None),
        0x3e => (Bad, SIGKILL, SI_KERNEL, "page domain fault", None),
        _ => (Bad, SIGKILL, SI_KERNEL, "unknown", None),
    };
    FaultInfo { handler, signo, code, name, level }
}

/// A data or instruction abort from EL0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Abort {
    pub esr: Esr,
    /// FAR_EL1 as reported, tag and all.
    pub far: u64,
}

impl Abort {
    /// An instruction fetch (`is_el0_instruction_abort()`): VM_EXEC.
    pub fn is_exec(&self) -> bool {
        self.esr.ec() == ec::IABT_LOW
    }

    /// `is_write_abort()`: WnR, but not for cache maintenance, which sets it
    /// for reads too. Neither an exec nor a write is a read.
    pub fn is_write(&self) -> bool {
        !self.is_exec() && self.esr.0 & Esr::WNR != 0 && self.esr.0 & Esr::CM == 0
    }

    /// FAR_EL1 holds the address (FnV clear).
    pub fn far_valid(&self) -> bool {
        self.esr.0 & Esr::FNV == 0
    }

    /// The address the fault handler looks up: FAR without its tag.
    pub fn addr(&self) -> u64 {
        untagged_addr(self.far)
    }

    pub fn info(&self) -> FaultInfo {
        fault_info(self.esr.fsc())
    }

    /// `set_thread_esr()`: the record a signal frame shows. For an address
    /// in the kernel half the syndrome becomes a level-0 translation fault
    /// with only EC, IL (and, for data, CM and WnR) kept: kernel mappings
    /// must look like no mappings at all.
    pub fn record(&self) -> FaultRecord {
        let address = self.addr();
        let mut esr = self.esr.0;
        if address >= TASK_SIZE {
            let data = if self.is_exec() { 0 } else { Esr::CM | Esr::WNR };
            esr = (esr & (Esr::EC_MASK | Esr::IL | data)) | Esr::FSC_FAULT;
        }
        FaultRecord { address, esr }
    }

    /// The signal for a fault the memory manager could not resolve, with
    /// the signal and code it chose as `do_page_fault()` does (SIGSEGV
    /// SEGV_MAPERR without a VMA, SEGV_ACCERR if the VMA forbids the
    /// access, SIGBUS BUS_ADRERR); si_addr is FAR as it came.
    pub fn signal(&self, signo: i32, code: i32) -> FaultSignal {
        FaultSignal { signo, code, addr: self.far, record: Some(self.record()) }
    }

    /// The signal Linux sends without the memory manager's say: through
    /// `do_bad_area()` (which a page fault on the kernel half also comes
    /// to), `do_sea()` (no address when FAR is not valid) or `do_bad()`.
    pub fn default_signal(&self) -> FaultSignal {
        let inf = self.info();
        match inf.handler {
            AbortHandler::PageFault | AbortHandler::BadArea => self.signal(inf.signo, inf.code),
            AbortHandler::Sea => {
                notify_die(inf.signo, inf.code, if self.far_valid() { self.addr() } else { 0 }, self.esr.0)
            }
            AbortHandler::Bad => notify_die(inf.signo, inf.code, self.addr(), self.esr.0),
        }
    }
}

/// What Linux does with an exception other than a syscall or an abort.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Handling {
    /// Resume after the instruction (`wfi_handler()`).
    Skip,
    /// FP/SIMD trapped by CPACR_EL1, which Linux never does: enable, retry.
    EnableFp,
    Signal(FaultSignal),
}

/// The handling of exception `esr` at `pc` with user stack pointer `sp`
/// and FAR_EL1 `far`. Undefined and system instructions (`UNKNOWN`,
/// `SYS64`) first go to what Linux emulates (MRS of ID registers:
/// `do_emulate_mrs()`; cache maintenance, CTR_EL0 and the counter when
/// SCTLR_EL1/CNTKCTL_EL1 trap them); this is what follows when nothing
/// does. SVE and SME traps are SIGILL as on a CPU without them, which is
/// what this guest advertises.
pub fn handle_exception(esr: Esr, far: u64, pc: u64, sp: u64) -> Handling {
    let iss = esr.iss();
    let ill = Handling::Signal(notify_die(SIGILL, ILL_ILLOPC, pc, 0));
    match esr.ec() {
        ec::UNKNOWN | ec::SYS64 | ec::BTI | ec::SVE | ec::SME => ill,
        // ESR_ELx_WFx_MASK tests ISS bit 0 only: WFI and WFIT are skipped,
        // WFE and WFET fall to do_el0_undef().
        ec::WFX if iss & 1 == 0 => Handling::Skip,
        ec::WFX => ill,
        ec::FP_ASIMD => Handling::EnableFp,
        ec::FPAC => Handling::Signal(notify_die(SIGILL, ILL_ILLOPN, pc, esr.0)),
        ec::FP_EXC64 => Handling::Signal(plain(SIGFPE, fpe_code(iss), pc)),
        // do_sp_pc_abort(): FAR is the misaligned PC; SP's is the register.
        ec::PC_ALIGN => Handling::Signal(notify_die(SIGBUS, BUS_ADRALN, far, esr.0)),
        ec::SP_ALIGN => Handling::Signal(notify_die(SIGBUS, BUS_ADRALN, sp, esr.0)),
        ec::BRK64 => Handling::Signal(plain(SIGTRAP, TRAP_BRKPT, pc)),
        ec::SOFTSTP_LOW => Handling::Signal(plain(SIGTRAP, TRAP_TRACE, pc)),
        // Only if hardware debug were armed: do_debug_exception()'s fallback.
        ec::BREAKPT_LOW | ec::WATCHPT_LOW => Handling::Signal(notify_die(SIGTRAP, TRAP_HWBKPT, pc, esr.0)),
        // bad_el0_sync(): an illegal execution state, and any other class.
        _ => Handling::Signal(notify_die(SIGILL, ILL_ILLOPC, pc, esr.0)),
    }
}

/// `do_fpsimd_exc()`'s si_code: from the trapped exception bits when the
/// syndrome says they are valid (TFV), in Linux's order of precedence.
fn fpe_code(iss: u32) -> i32 {
    const TFV: u32 = 1 << 23;
    const BITS: [(u32, i32); 5] =
        [(1 << 0, FPE_FLTINV), (1 << 1, FPE_FLTDIV), (1 << 2, FPE_FLTOVF), (1 << 3, FPE_FLTUND), (1 << 4, FPE_FLTRES)];
    match BITS.iter().find(|(b, _)| iss & TFV != 0 && iss & b != 0) {
        Some(&(_, code)) => code,
        None => FPE_FLTUNK,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn abort(esr: u64, far: u64) -> Abort {
        match classify(esr, far, 0x6000_0000) {
            Trap::Abort(a) => a,
            t => panic!("{t:?}"),
        }
    }

    // Syndromes as Linux logs them for EL0 faults ("ESR 0x92000047", ...).
    #[test]
    fn classifies_syscalls_aborts_and_the_rest() {
        assert_eq!(classify(0x5600_0000, 0, 0), Trap::Svc { imm: 0 });
        // The same SVC taken from EL1h (SPSR.M = 5) is the kernel's.
        assert_eq!(classify(0x5600_0000, 0, 0x3c5), Trap::Kernel(Esr(0x5600_0000)));
        let w = abort(0x9200_0047, 0x7fff_0000);
        assert!(w.is_write() && !w.is_exec() && w.far_valid());
        assert_eq!(
            (w.info().handler, w.info().name, w.info().level),
            (AbortHandler::PageFault, "translation fault", Some(3))
        );
        // A read, and cache maintenance (WnR set for a read), are no writes.
        assert!(!abort(0x9200_0006, 0).is_write() && !abort(0x9200_0147, 0).is_write());
        let x = abort(0x8200_000f, 0x40_0000);
        assert!(x.is_exec() && !x.is_write() && x.default_signal().code == SEGV_ACCERR);
        assert!(matches!(classify(0xf200_03e8, 0, 0), Trap::Exception { esr, .. } if esr.imm16() == 0x3e8));
        assert_eq!(Esr::new(ec::SVC64, 0x80), Esr(0x5600_0080));
    }

    #[test]
    fn abort_records_and_signals_follow_fault_c() {
        // A halfword store (ISV, SAS = 1) to a kernel page: its record is a
        // level-0 translation fault keeping only EC, IL and WnR.
        let far = 0xffff_0000_1000_0008;
        let w = abort(0x9340_004f, far);
        assert_eq!(w.signal(SIGSEGV, SEGV_MAPERR).record, Some(FaultRecord { address: far, esr: 0x9200_0044 }));
        assert_eq!(abort(0x8200_000f, far).record().esr, 0x8200_0004);
        // A user address keeps its syndrome and loses its tag, which
        // si_addr keeps.
        let tagged = abort(0x9200_0047, 0x5600_0000_dead_beef);
        assert_eq!(tagged.record(), FaultRecord { address: 0xdead_beef, esr: 0x9200_0047 });
        assert_eq!(tagged.signal(SIGSEGV, SEGV_ACCERR).addr, 0x5600_0000_dead_beef);
        assert_eq!(untagged_addr(0x12ff_8000_0000_0000), 0x12ff_8000_0000_0000);
        let al = abort(0x9200_0061, 0x1001);
        assert_eq!(al.default_signal(), al.signal(SIGBUS, BUS_ADRALN));
        // do_sea(): no address when FnV is set, in si_addr or the record.
        let s = abort(0x9200_0410, 0x1000).default_signal();
        let want = FaultSignal {
            signo: SIGBUS,
            code: BUS_OBJERR,
            addr: 0,
            record: Some(FaultRecord { address: 0, esr: 0x9200_0410 }),
        };
        assert_eq!(s, want);
        assert_eq!(abort(0x9200_0010, 0x1000).default_signal().addr, 0x1000);
        for fsc in [0x00, 0x08, 0x15, 0x1d, 0x30, 0x3f] {
            assert_eq!(abort(0x9200_0000 | fsc, 0).default_signal().signo, SIGKILL, "{fsc:#x}");
        }
        assert_eq!((fault_info(0x35).signo, fault_info(0x11).code), (SIGBUS, SEGV_MTESERR));
    }

    #[test]
    fn exceptions_raise_what_traps_c_raises() {
        let (pc, sp) = (0x40_1000, 0x7fff_fff0);
        let sig = |esr: Esr, far| match handle_exception(esr, far, pc, sp) {
            Handling::Signal(s) => (s.signo, s.code, s.addr, s.record.map(|r| (r.address, r.esr))),
            h => panic!("{h:?}"),
        };
        assert_eq!(sig(Esr(0x0200_0000), 0), (SIGILL, ILL_ILLOPC, pc, Some((0, 0))));
        assert_eq!(sig(Esr(0xf200_03e8), 0), (SIGTRAP, TRAP_BRKPT, pc, None));
        let pca = Esr::new(ec::PC_ALIGN, 0);
        assert_eq!(sig(pca, 0x40_1002), (SIGBUS, BUS_ADRALN, 0x40_1002, Some((0, pca.0))));
        assert_eq!(sig(Esr::new(ec::SP_ALIGN, 0), 0).2, sp);
        let ill = Esr::new(ec::ILL, 0);
        assert_eq!(sig(ill, 0), (SIGILL, ILL_ILLOPC, pc, Some((0, ill.0))));
        assert_eq!(sig(Esr::new(ec::FPAC, 0), 0).1, ILL_ILLOPN);
        assert_eq!(sig(Esr::new(ec::FP_EXC64, 1 << 23 | 1 << 1), 0), (SIGFPE, FPE_FLTDIV, pc, None));
        assert_eq!(sig(Esr::new(ec::FP_EXC64, 1 << 23 | 0b11), 0).1, FPE_FLTINV);
        assert_eq!(sig(Esr::new(ec::FP_EXC64, 1 << 1), 0).1, FPE_FLTUNK);
        assert_eq!(sig(Esr::new(ec::WFX, 1), 0).0, SIGILL);
        assert_eq!(handle_exception(Esr::new(ec::WFX, 0), 0, pc, sp), Handling::Skip);
        assert_eq!(handle_exception(Esr::new(ec::FP_ASIMD, 0), 0, pc, sp), Handling::EnableFp);
    }
}
