//! x86-64 specifics.

pub mod cpu;
pub mod layout;
pub mod paging;
pub mod tables;
pub mod trap;

pub use paging::Perms;
