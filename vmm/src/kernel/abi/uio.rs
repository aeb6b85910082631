//! Vectored I/O: struct iovec and UIO_MAXIOV (`include/uapi/linux/uio.h`),
//! and preadv2/pwritev2's RWF_ flags (`linux/fs.h`).

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use super::linux_consts;

linux_consts! {
    /// preadv2/pwritev2's flags.
    _: u64 {
        RWF_HIPRI = 0x01,
        RWF_DSYNC = 0x02,
        RWF_SYNC = 0x04,
        RWF_NOWAIT = 0x08,
        RWF_APPEND = 0x10,
    }
}

/// Every RWF_ flag there is.
pub(crate) const RWF_SUPPORTED: u64 = RWF_HIPRI | RWF_DSYNC | RWF_SYNC | RWF_NOWAIT | RWF_APPEND;

/// The most vectors one call takes (what userspace calls IOV_MAX).
pub(crate) const UIO_MAXIOV: u64 = 1024;

/// struct iovec.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub(crate) struct Iovec {
    pub(crate) iov_base: u64,
    pub(crate) iov_len: u64,
}
const _: () = assert!(size_of::<Iovec>() == 16);
