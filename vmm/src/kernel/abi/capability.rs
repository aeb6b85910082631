//! Capabilities: their numbers, capget/capset's versions and structs
//! (`include/uapi/linux/capability.h`).

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use super::linux_consts;

linux_consts! {
    /// The capabilities faultline's kernel checks or grants by name.
    _: u32 {
        CAP_CHOWN = 0,
        CAP_DAC_OVERRIDE = 1,
        CAP_DAC_READ_SEARCH = 2,
        CAP_FOWNER = 3,
        CAP_FSETID = 4,
        CAP_KILL = 5,
        CAP_SETGID = 6,
        CAP_SETUID = 7,
        CAP_SETPCAP = 8,
        CAP_LINUX_IMMUTABLE = 9,
        CAP_NET_BIND_SERVICE = 10,
        CAP_NET_ADMIN = 12,
        CAP_NET_RAW = 13,
        CAP_IPC_LOCK = 14,
        CAP_IPC_OWNER = 15,
        CAP_SYS_ADMIN = 21,
        CAP_SYS_RESOURCE = 24,
        CAP_SYS_TIME = 25,
        CAP_MKNOD = 27,
        CAP_LEASE = 28,
        CAP_WAKE_ALARM = 35,
        CAP_BLOCK_SUSPEND = 36,
        CAP_MAC_OVERRIDE = 32,
    }

    /// capget/capset's header versions: _1 takes one 32-bit word per set,
    /// _2 and _3 two.
    _: u32 {
        _LINUX_CAPABILITY_VERSION_1 = 0x1998_0330,
        _LINUX_CAPABILITY_VERSION_2 = 0x2007_1026,
        _LINUX_CAPABILITY_VERSION_3 = 0x2008_0522,
    }
}

/// The highest capability number.
pub(crate) const CAP_LAST_CAP: u32 = 40;

/// struct __user_cap_header_struct.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub(crate) struct CapUserHeader {
    pub(crate) version: u32,
    pub(crate) pid: i32,
}
const _: () = assert!(size_of::<CapUserHeader>() == 8);

/// struct __user_cap_data_struct: one 32-bit word of each set.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub(crate) struct CapUserData {
    pub(crate) effective: u32,
    pub(crate) permitted: u32,
    pub(crate) inheritable: u32,
}
const _: () = assert!(size_of::<CapUserData>() == 12);
