//! Limits the ABI fixes (`include/uapi/linux/limits.h`).

/// The longest path, with its NUL.
pub const PATH_MAX: usize = 4096;
/// The longest name in a directory.
pub const NAME_MAX: usize = 255;
/// The most supplementary groups.
pub const NGROUPS_MAX: usize = 65536;
