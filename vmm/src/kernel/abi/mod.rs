//! Linux's user ABI as the program sees it: the constants and struct
//! layouts of `include/uapi/`, one module per header family, each written
//! once. Handlers, /proc and strace all import them from here; strace's
//! names are built from the same definitions ([`linux_consts!`]), so a
//! constant cannot be shown under a name other than its own.
//!
//! These are the values every 64-bit Linux architecture shares (the
//! asm-generic ones, which x86-64 keeps for everything faultline serves).
//! What only x86-64 has lives in `crate::arch` (registers, signal frames'
//! machine state) or says so in its header (`arch_prctl`); syscall
//! *numbers* stay with the syscall table, which an arm64 port keys by
//! architecture.
//!
//! Structs are `#[repr(C)]` zerocopy types with their size asserted, so a
//! layout that drifts from Linux's fails to compile.

pub mod auxvec;
pub mod capability;
pub mod dirent;
pub mod errno;
pub mod fcntl;
pub mod futex;
pub mod ioctl;
pub mod ipc;
pub mod limits;
pub mod mman;
pub mod netlink;
pub mod poll;
pub mod prctl;
pub mod resource;
pub mod sched;
pub mod signal;
pub mod socket;
pub mod stat;
pub mod system;
pub mod time;
pub mod uio;
pub mod wait;

/// Defines Linux constants and, from the same lines, the table of their
/// names that strace prints: `TABLE: type { NAME = value, … }` makes
/// `pub const NAME: type = value;` for each and
/// `TABLE: &[(type, &str)]` in the order written (which matters where
/// one flag contains another, as O_SYNC does O_DSYNC: the first match is
/// shown).
macro_rules! linux_consts {
    ($(
        $(#[$tmeta:meta])*
        $tvis:vis $table:ident: $ty:ty {
            $( $(#[$cmeta:meta])* $name:ident = $value:expr ),* $(,)?
        }
    )*) => {
        $(
            $( $(#[$cmeta])* pub const $name: $ty = $value; )*
            $(#[$tmeta])*
            $tvis const $table: &[($ty, &str)] = &[ $( ($name, stringify!($name)) ),* ];
        )*
    };
}
pub(crate) use linux_consts;

/// The table of names of constants defined elsewhere (the signal numbers,
/// which live below the kernel): `name_table![type: A, B, …]` is
/// `&[(A, "A"), (B, "B"), …]`.
macro_rules! name_table {
    ($ty:ty: $($name:ident),* $(,)?) => {
        &[ $( ($name, stringify!($name)) ),* ] as &[($ty, &str)]
    };
}
pub(crate) use name_table;

/// The name `table` gives `v`, if any.
pub fn name_of<T: Copy + PartialEq>(table: &[(T, &'static str)], v: T) -> Option<&'static str> {
    table.iter().find(|(n, _)| *n == v).map(|(_, s)| *s)
}
