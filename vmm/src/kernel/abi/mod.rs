//! Linux's user ABI as the program sees it: the constants and struct
//! layouts of `include/uapi/`, one module per header family, each written
//! once. Handlers, /proc and strace all import them from here; strace's
//! names are built from the same definitions ([`linux_consts!`]), so a
//! constant cannot be shown under a name other than its own.
//!
//! Most are the values every 64-bit Linux architecture shares (the
//! asm-generic ones). Where x86-64 and arm64 differ (four open flags,
//! struct stat, struct epoll_event, MAP_32BIT, MINSIGSTKSZ, uname's
//! machine, AT_PLATFORM's string), the module that owns the fact defines
//! it once per architecture under `#[cfg(target_arch)]`, side by side,
//! naming the Linux header, as Linux's per-arch uapi does. Machine state
//! lives in `crate::arch` (registers, signal frames), as does what only
//! one architecture has (`arch_prctl`); syscall *numbers* stay with the
//! syscall table, which is keyed by architecture.
//!
//! Structs are `#[repr(C)]` zerocopy types with their size asserted, so a
//! layout that drifts from Linux's fails to compile.

pub(crate) mod auxvec;
pub(crate) mod capability;
pub(crate) mod dirent;
pub(crate) mod elf;
pub(crate) mod epoll;
pub(crate) mod errno;
pub(crate) mod fcntl;
pub(crate) mod futex;
pub(crate) mod ioctl;
pub(crate) mod ipc;
pub(crate) mod limits;
pub(crate) mod mman;
pub(crate) mod mount;
pub(crate) mod netlink;
pub(crate) mod poll;
pub(crate) mod prctl;
pub(crate) mod resource;
pub(crate) mod sched;
pub(crate) mod signal;
pub(crate) mod socket;
pub(crate) mod stat;
pub(crate) mod system;
pub(crate) mod time;
pub(crate) mod uio;
pub(crate) mod wait;

/// Defines Linux constants and, from the same lines, the table of their
/// names that strace prints: `TABLE: type { NAME = value, … }` makes
/// `pub const NAME: type = value;` for each and
/// `TABLE: &[(type, &str)]` in the order written (which matters where
/// one flag contains another, as O_SYNC does O_DSYNC: the first match is
/// shown). A group strace does not name is written `_: type { … }`: the
/// constants alone, so no table goes unused.
macro_rules! linux_consts {
    () => {};
    (
        $(#[$tmeta:meta])*
        _: $ty:ty {
            $( $(#[$cmeta:meta])* $name:ident = $value:expr ),* $(,)?
        }
        $($rest:tt)*
    ) => {
        $( $(#[$cmeta])* pub(crate) const $name: $ty = $value; )*
        $crate::kernel::abi::linux_consts! { $($rest)* }
    };
    (
        $(#[$tmeta:meta])*
        $tvis:vis $table:ident: $ty:ty {
            $( $(#[$cmeta:meta])* $name:ident = $value:expr ),* $(,)?
        }
        $($rest:tt)*
    ) => {
        $( $(#[$cmeta])* pub(crate) const $name: $ty = $value; )*
        $(#[$tmeta])*
        $tvis const $table: &[($ty, &str)] = &[ $( ($name, stringify!($name)) ),* ];
        $crate::kernel::abi::linux_consts! { $($rest)* }
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
pub(crate) fn name_of<T: Copy + PartialEq>(table: &[(T, &'static str)], v: T) -> Option<&'static str> {
    table.iter().find(|(n, _)| *n == v).map(|(_, s)| *s)
}
