//! Signal numbers and the si_codes of faults, the same on x86-64 and
//! arm64 (Linux numbers signals per architecture, in
//! `arch/x86/include/uapi/asm/signal.h` and asm-generic's `signal.h`,
//! with the same values; the codes are `include/uapi/asm-generic/siginfo.h`).
//! They sit here, below the kernel, because the trap decoders name the
//! signal each exception raises; `kernel::abi::signal` re-exports them
//! with their names.

pub const SIGHUP: i32 = 1;
pub const SIGINT: i32 = 2;
pub const SIGQUIT: i32 = 3;
pub const SIGILL: i32 = 4;
pub const SIGTRAP: i32 = 5;
pub const SIGABRT: i32 = 6;
pub const SIGBUS: i32 = 7;
pub const SIGFPE: i32 = 8;
pub const SIGKILL: i32 = 9;
pub const SIGUSR1: i32 = 10;
pub const SIGSEGV: i32 = 11;
pub const SIGUSR2: i32 = 12;
pub const SIGPIPE: i32 = 13;
pub const SIGALRM: i32 = 14;
pub const SIGTERM: i32 = 15;
pub const SIGSTKFLT: i32 = 16;
pub const SIGCHLD: i32 = 17;
pub const SIGCONT: i32 = 18;
pub const SIGSTOP: i32 = 19;
pub const SIGTSTP: i32 = 20;
pub const SIGTTIN: i32 = 21;
pub const SIGTTOU: i32 = 22;
pub const SIGURG: i32 = 23;
pub const SIGXCPU: i32 = 24;
pub const SIGXFSZ: i32 = 25;
pub const SIGVTALRM: i32 = 26;
pub const SIGPROF: i32 = 27;
pub const SIGWINCH: i32 = 28;
pub const SIGIO: i32 = 29;
pub const SIGPWR: i32 = 30;
pub const SIGSYS: i32 = 31;
/// The first real-time signal, as the kernel numbers them.
pub const SIGRTMIN: i32 = 32;
/// The highest signal number (_NSIG).
pub const NSIG: i32 = 64;

/// Sent by the kernel itself.
pub const SI_KERNEL: i32 = 0x80;
pub const ILL_ILLOPN: i32 = 2;
pub const FPE_INTDIV: i32 = 1;
pub const SEGV_MAPERR: i32 = 1;
pub const SEGV_ACCERR: i32 = 2;
pub const BUS_ADRALN: i32 = 1;
pub const BUS_ADRERR: i32 = 2;
pub const TRAP_TRACE: i32 = 2;
#[cfg_attr(not(target_arch = "aarch64"), allow(unused_imports))]
pub use arm64::*;

/// The codes only arm64's traps raise (x86-64's decoder knows no FPU
/// exception detail, MTE or breakpoint instruction).
#[cfg_attr(not(target_arch = "aarch64"), allow(dead_code))]
mod arm64 {
    pub const ILL_ILLOPC: i32 = 1;
    pub const FPE_FLTDIV: i32 = 3;
    pub const FPE_FLTOVF: i32 = 4;
    pub const FPE_FLTUND: i32 = 5;
    pub const FPE_FLTRES: i32 = 6;
    pub const FPE_FLTINV: i32 = 7;
    pub const FPE_FLTUNK: i32 = 14;
    pub const SEGV_MTESERR: i32 = 9;
    pub const BUS_OBJERR: i32 = 3;
    pub const TRAP_BRKPT: i32 = 1;
    pub const TRAP_HWBKPT: i32 = 4;
}
