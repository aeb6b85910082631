//! arm64's traps as the kernel sees them (`arch::trap`), from what the
//! vector stub saved: ESR_EL1, FAR_EL1 and SPSR_EL1, decoded by `esr`.
//! An abort the memory manager resolves (`fault_info[]`'s do_page_fault
//! rows: translation, access flag and permission faults) is a page fault;
//! every other abort and exception goes to [`exception_signal`], which
//! raises what traps.c and fault.c raise.

use super::esr::{self, Abort, AbortHandler, Esr, FaultRecord, Handling};
use crate::arch::signal::{ILL_ILLOPC, SIGILL};
use crate::arch::trap::{HandledOf, TrapOf};

/// arm64's trap (on an arm64 host, `arch::trap::Trap` itself).
pub type Trap = TrapOf<PfError, Exception>;
pub type Handled = HandledOf<Exception>;

/// A page fault's syndrome (ESR_EL1) and the address as FAR_EL1 gave it,
/// tag and all.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PfError(pub u64);

impl PfError {
    fn abort(self, far: u64) -> Abort {
        Abort { esr: Esr(self.0), far }
    }
    pub fn write(self) -> bool {
        self.abort(0).is_write()
    }
    pub fn fetch(self) -> bool {
        self.abort(0).is_exec()
    }
}

/// The kernel's unit tests play the MMU: they make the syndromes a
/// hardware walk would.
#[cfg(test)]
impl PfError {
    /// A user data abort: a write or a read, to a page mapped (a level-3
    /// permission fault) or not (a level-3 translation fault).
    pub fn user(write: bool, present: bool) -> Self {
        let fsc = if present { 0x0f } else { 0x07 };
        let wnr = if write { Esr::WNR } else { 0 };
        PfError(Esr::new(esr::ec::DABT_LOW, 0).0 | wnr | fsc)
    }
}

/// An exception other than a page fault: its syndrome and FAR_EL1, and
/// the fault record it leaves once handled (`None`: the old one stays).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Exception {
    pub esr: u64,
    pub far: u64,
    pub record: Option<FaultRecord>,
}

/// Classifies what the stub saved for an exception taken from EL0 (or,
/// where SPSR says so, from EL1: the stub itself, which must not fault).
pub fn classify(esr: u64, far: u64, spsr: u64) -> Trap {
    let exc = Exception { esr, far, record: None };
    match esr::classify(esr, far, spsr) {
        esr::Trap::Svc { .. } => Trap::Syscall,
        esr::Trap::Abort(a) if a.info().handler == AbortHandler::PageFault && a.far_valid() => {
            Trap::PageFault { addr: a.addr(), error: PfError(esr) }
        }
        esr::Trap::Abort(_) | esr::Trap::Exception { .. } => Trap::Exception(exc),
        esr::Trap::Kernel(_) => Trap::Kernel(exc),
    }
}

/// What Linux does with exception `e` at `pc` with the user's `sp`
/// (the instruction bytes are x86-64's concern only).
pub fn exception_signal(e: Exception, pc: u64, sp: u64, _insn: impl FnOnce(u64) -> Option<[u8; 2]>) -> Handled {
    let esr = Esr(e.esr);
    let signal = match esr.ec() {
        esr::ec::DABT_LOW | esr::ec::IABT_LOW => Abort { esr, far: e.far }.default_signal(),
        _ => match esr::handle_exception(esr, e.far, pc, sp) {
            Handling::Skip => return Handled::Resume { pc: pc + 4 },
            Handling::Signal(s) => s,
            // CPACR_EL1 never traps FP/SIMD here: nothing to enable, so as
            // an undefined instruction.
            Handling::EnableFp => esr::FaultSignal { signo: SIGILL, code: ILL_ILLOPC, addr: pc, record: None },
        },
    };
    let exc = Exception { record: signal.record, ..e };
    Handled::Signal { exc, signo: signal.signo, code: signal.code, addr: signal.addr }
}

/// The exception's name for reports, as Linux logs its class.
pub fn exception_name(e: Exception) -> &'static str {
    match Esr(e.esr).ec() {
        esr::ec::UNKNOWN => "undefined instruction",
        esr::ec::SVC64 => "SVC",
        esr::ec::SYS64 => "system register access",
        esr::ec::IABT_LOW => "instruction abort",
        esr::ec::DABT_LOW => "data abort",
        esr::ec::PC_ALIGN => "PC alignment fault",
        esr::ec::SP_ALIGN => "SP alignment fault",
        esr::ec::BRK64 => "BRK",
        esr::ec::FP_EXC64 => "floating-point exception",
        esr::ec::ILL => "illegal execution state",
        _ => "exception",
    }
}

/// The record a handler's frame shows for a fault trap.
pub(super) fn fault_record(trap: &Trap) -> FaultRecord {
    match *trap {
        Trap::PageFault { addr, error } => error.abort(addr).record(),
        Trap::Exception(e) => e.record.unwrap_or_default(),
        _ => FaultRecord::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::signal::*;

    #[test]
    fn syscalls_page_faults_and_exceptions_are_told_apart() {
        assert_eq!(classify(0x5600_0000, 0, 0), Trap::Syscall);
        let w = classify(0x9200_0047, 0x7fff_0010, 0);
        assert_eq!(w, Trap::PageFault { addr: 0x7fff_0010, error: PfError(0x9200_0047) });
        let Trap::PageFault { error, .. } = w else { unreachable!() };
        assert!(error.write() && !error.fetch());
        assert!(PfError(0x8200_000f).fetch() && !PfError(0x8200_000f).write());
        // An alignment fault is the exception path's, with its signal.
        let al = classify(0x9200_0061, 0x1001, 0);
        let Trap::Exception(e) = al else { panic!("{al:?}") };
        let h = exception_signal(e, 0x40_0000, 0x7fff_0000, |_| None);
        assert!(matches!(h, Handled::Signal { signo: SIGBUS, code: BUS_ADRALN, addr: 0x1001, .. }));
        // WFI is skipped; an undefined instruction is SIGILL with a record.
        let wfi = Exception { esr: Esr::new(esr::ec::WFX, 0).0, far: 0, record: None };
        assert_eq!(exception_signal(wfi, 0x40_0000, 0, |_| None), Handled::Resume { pc: 0x40_0004 });
        let udf = Exception { esr: 0x0200_0000, far: 0, record: None };
        let Handled::Signal { exc, signo, addr, .. } = exception_signal(udf, 0x40_0000, 0, |_| None) else { panic!() };
        assert_eq!((signo, addr), (SIGILL, 0x40_0000));
        assert_eq!(fault_record(&Trap::Exception(exc)), FaultRecord { address: 0, esr: 0 });
        // From EL1h: the kernel's.
        assert!(matches!(classify(0x9600_0047, 0, 0x3c5), Trap::Kernel(_)));
        assert_eq!(PfError::user(true, false), PfError(0x9200_0047));
    }
}
