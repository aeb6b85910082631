//! What the system tells of itself: struct new_utsname
//! (`include/uapi/linux/utsname.h`), struct sysinfo
//! (`linux/sysinfo.h`), getrandom's flags (`linux/random.h`) and
//! membarrier's commands (`linux/membarrier.h`), and how many address
//! families sockets have (`include/linux/socket.h`).

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use super::linux_consts;

linux_consts! {
    /// getrandom's flags.
    _: u64 {
        GRND_NONBLOCK = 1,
        GRND_RANDOM = 2,
        GRND_INSECURE = 4,
    }

    /// membarrier's commands.
    _: u64 {
        MEMBARRIER_CMD_QUERY = 0,
        MEMBARRIER_CMD_GLOBAL = 1,
        MEMBARRIER_CMD_PRIVATE_EXPEDITED = 8,
        MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED = 16,
    }
}

/// The longest getrandom read (INT_MAX >> 6, as urandom_read caps it).
pub(crate) const GETRANDOM_MAX: u64 = 33_554_431;

/// uname's `machine` (UTS_MACHINE, from the architecture's Makefile).
#[cfg(target_arch = "x86_64")]
pub(crate) const UTS_MACHINE: &str = "x86_64";
/// uname's `machine` (UTS_MACHINE, from the architecture's Makefile).
#[cfg(target_arch = "aarch64")]
pub(crate) const UTS_MACHINE: &str = "aarch64";

/// Each field of struct new_utsname, with its NUL.
pub(crate) const NEW_UTS_LEN: usize = 65;

/// struct new_utsname.
#[repr(C)]
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub(crate) struct NewUtsname {
    pub(crate) sysname: [u8; NEW_UTS_LEN],
    pub(crate) nodename: [u8; NEW_UTS_LEN],
    pub(crate) release: [u8; NEW_UTS_LEN],
    pub(crate) version: [u8; NEW_UTS_LEN],
    pub(crate) machine: [u8; NEW_UTS_LEN],
    pub(crate) domainname: [u8; NEW_UTS_LEN],
}
const _: () = assert!(size_of::<NewUtsname>() == 390);

/// struct sysinfo (64-bit: its `_f` padding is empty).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub(crate) struct Sysinfo {
    pub(crate) uptime: i64,
    pub(crate) loads: [u64; 3],
    pub(crate) totalram: u64,
    pub(crate) freeram: u64,
    pub(crate) sharedram: u64,
    pub(crate) bufferram: u64,
    pub(crate) totalswap: u64,
    pub(crate) freeswap: u64,
    pub(crate) procs: u16,
    pub(crate) pad: u16,
    pub(crate) pad2: u32,
    pub(crate) totalhigh: u64,
    pub(crate) freehigh: u64,
    pub(crate) mem_unit: u32,
    pub(crate) pad3: u32,
}
const _: () = assert!(size_of::<Sysinfo>() == 112);

/// The address families: socket(2)'s domain is below it.
pub(crate) const AF_MAX: u64 = 46;
