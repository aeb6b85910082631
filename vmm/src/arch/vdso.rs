//! What an architecture's vDSO exports, for exec to build the image from
//! (`kernel::exec::vdso`): each entry a symbol and the syscall its code
//! makes, all under one symbol version. An entry's code is the
//! architecture's; the syscall's number is the syscall table's.

pub use super::imp::vdso::{entry_code, ENTRIES, VERSION};

/// One function of the vDSO.
#[derive(Clone, Copy, Debug)]
pub struct Entry {
    /// Its symbol, as libc looks it up (`__kernel_clock_gettime`).
    pub symbol: &'static str,
    /// The system call it makes, by the syscall table's name.
    pub syscall: &'static str,
    /// Whether it returns to its caller (rt_sigreturn's trampoline does not).
    pub returns: bool,
}

/// An entry's machine code, and where its symbol points into it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Code {
    pub bytes: Vec<u8>,
    pub symbol_offset: u64,
}
