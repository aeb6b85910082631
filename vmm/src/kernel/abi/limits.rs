//! Limits the ABI fixes (`include/uapi/linux/limits.h`).

/// The longest path, with its NUL.
pub(crate) const PATH_MAX: usize = 4096;
/// The longest name in a directory.
pub(crate) const NAME_MAX: usize = 255;
/// The most supplementary groups.
pub(crate) const NGROUPS_MAX: usize = 65536;
