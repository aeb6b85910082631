//! Linux errno values the ABI layer returns.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Errno(pub i32);

pub const EPERM: Errno = Errno(1);
pub const EBADF: Errno = Errno(9);
pub const ENOMEM: Errno = Errno(12);
pub const EFAULT: Errno = Errno(14);
pub const EINVAL: Errno = Errno(22);
pub const ENOSYS: Errno = Errno(38);

pub type SysResult = Result<i64, Errno>;
