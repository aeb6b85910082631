//! What a trap is, as the kernel cares; each architecture decodes its own
//! (x86-64: the shim's vector and frame; arm64: the syndrome in ESR_EL1)
//! into it, and says which signal an exception raises.

pub use super::imp::trap::*;

/// The trap of this architecture.
pub type Trap = TrapOf<PfError, Exception>;
/// What Linux does with this architecture's exceptions.
pub type Handled = HandledOf<Exception>;

/// What Linux does with an exception in user mode. (Generic, as
/// [`TrapOf`] is, so that another architecture's decoder builds and is
/// tested on every host.)
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HandledOf<Exception> {
    /// Raises `signo` with `code` and si_addr `addr`, for the exception
    /// as it really was (`exc`: x86-64 tells a software interrupt PVM
    /// reports as #UD apart).
    Signal { exc: Exception, signo: i32, code: i32, addr: u64 },
    /// Resumes the program at `pc` (arm64 skips a WFI).
    #[cfg_attr(not(target_arch = "aarch64"), allow(dead_code))]
    Resume { pc: u64 },
}

/// What a trap is, over an architecture's page-fault syndrome and
/// exception.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrapOf<PfError, Exception> {
    /// A system call from 64-bit code.
    Syscall,
    /// A system call from 32-bit code (x86-64's CSTAR), which faultline
    /// does not serve.
    CompatSyscall,
    /// The syscall ring's stub, with a call the ring's server ran: the
    /// result register holds its result, and the thread needs the kernel
    /// on its way back (a signal to deliver). Only made by the VMM, from
    /// the stub's exit; no trap decodes to it.
    RingReturn,
    /// A page fault in user mode at `addr`.
    PageFault { addr: u64, error: PfError },
    /// Any other exception in user mode.
    Exception(Exception),
    /// Anything in the guest kernel's mode: no guest code runs there, so
    /// the program got there by means it must not have.
    Kernel(Exception),
}
