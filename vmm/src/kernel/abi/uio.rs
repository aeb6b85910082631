//! Vectored I/O: struct iovec and UIO_MAXIOV (`include/uapi/linux/uio.h`).

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// The most vectors one call takes (what userspace calls IOV_MAX).
pub const UIO_MAXIOV: u64 = 1024;

/// struct iovec.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct Iovec {
    pub iov_base: u64,
    pub iov_len: u64,
}
const _: () = assert!(size_of::<Iovec>() == 16);
