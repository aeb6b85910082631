//! What the kernel's signal policy (`kernel::sigframe`: which handler,
//! which stack, the masks, what a frame that cannot be written or read
//! comes to) and an architecture's frame format say to each other. Each
//! architecture's `sigframe` builds a frame from a [`Delivery`] and takes
//! one back at rt_sigreturn; nothing of its layout crosses this line.

use super::fpu::{FpuConfig, FpuState};
use super::regs::UserRegs;

pub use super::imp::sigframe::{
    fault_record, parse_fpu, restore, setup, sigreturn_fault, sigreturn_frame, FaultRecord, SIGINFO_LEN,
};

/// stack_t's fields, as a frame's ucontext holds them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SigStack {
    pub sp: u64,
    pub flags: i32,
    pub size: u64,
}

/// A signal to deliver to its handler, as the kernel decided it.
pub struct Delivery<'a> {
    pub sig: i32,
    /// The interrupted registers, and FPU state (`None`: unreadable).
    pub regs: &'a UserRegs,
    pub fpu: Option<&'a FpuState>,
    pub fpu_cfg: &'a FpuConfig,
    /// The thread's record of the fault that raised the signal, if one did.
    pub fault: FaultRecord,
    /// si_addr.
    pub addr: u64,
    /// The mask to restore at sigreturn.
    pub mask: u64,
    /// The alternate stack as the handler is shown it.
    pub stack: SigStack,
    pub siginfo: &'a [u8; SIGINFO_LEN],
    /// SA_SIGINFO: the handler takes the siginfo and ucontext (x86-64
    /// passes them always).
    #[cfg_attr(not(target_arch = "aarch64"), allow(dead_code))]
    pub sa_siginfo: bool,
    /// The interrupted stack pointer, and the alternate stack's top when
    /// the frame goes there.
    pub sp: u64,
    pub altstack_top: Option<u64>,
    pub handler: u64,
    /// sa_restorer with SA_RESTORER.
    pub restorer: Option<u64>,
    /// The kernel's own return trampoline in the process (the vDSO's), if
    /// it maps one (x86-64 has none: libc always sets sa_restorer).
    #[cfg_attr(not(target_arch = "aarch64"), allow(dead_code))]
    pub trampoline: Option<u64>,
}

/// A frame, ready to write.
pub struct Frame {
    /// Bytes to write to the user's memory, in order.
    pub writes: Vec<(u64, Vec<u8>)>,
    /// The registers the handler starts with.
    pub regs: UserRegs,
    /// The FPU state it starts with (`None`: the interrupted one stays).
    pub fpu: Option<FpuState>,
}

/// Where rt_sigreturn finds the FPU state to restore.
#[cfg_attr(not(target_arch = "aarch64"), allow(dead_code))]
pub enum FpuFrom {
    /// Nowhere: the FPU state is left as it is.
    Unchanged,
    /// In an image at this address, of this size ([`parse_fpu`]).
    At { addr: u64, len: usize },
    /// In the frame itself.
    Here(FpuState),
    /// The frame is bad.
    Bad,
}

/// What a frame gives back beside the registers.
pub struct Returned {
    pub mask: u64,
    pub stack: SigStack,
    pub fpu: FpuFrom,
    /// Whether the return to user mode can resume the restored registers
    /// (if not, it faults: [`sigreturn_fault`]).
    pub resumable: bool,
}

/// The SIGSEGV a bad frame raises: si_code, si_addr, the fault record the
/// handler is shown, and the trap a crash report names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BadFrame {
    pub code: i32,
    pub addr: u64,
    pub record: FaultRecord,
    pub trap: super::trap::Trap,
}
