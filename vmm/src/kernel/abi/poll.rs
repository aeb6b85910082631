//! poll's events and struct pollfd (`include/uapi/asm-generic/poll.h`),
//! and select's set size (`linux/posix_types.h`).

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use super::linux_consts;

linux_consts! {
    /// The events.
    _: i16 {
        POLLIN = 0x1,
        POLLPRI = 0x2,
        POLLOUT = 0x4,
        POLLERR = 0x8,
        POLLHUP = 0x10,
        POLLNVAL = 0x20,
        POLLRDNORM = 0x40,
        POLLRDBAND = 0x80,
        POLLWRNORM = 0x100,
        POLLWRBAND = 0x200,
        POLLMSG = 0x400,
    }
}

/// The descriptors an fd_set holds.
pub(crate) const FD_SETSIZE: u64 = 1024;

/// struct pollfd.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub(crate) struct PollFd {
    pub(crate) fd: i32,
    pub(crate) events: i16,
    pub(crate) revents: i16,
}
const _: () = assert!(size_of::<PollFd>() == 8);
