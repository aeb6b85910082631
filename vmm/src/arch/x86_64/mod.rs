//! x86-64.

pub mod cpu;
pub mod layout;
pub mod paging;
pub mod prctl;
pub mod regs;
pub mod ring;
pub mod signal;
pub mod tables;
pub mod trap;
pub mod xsave;
