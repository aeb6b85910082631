//! Files by descriptor and by path: open's flags and fcntl's commands
//! (`include/uapi/asm-generic/fcntl.h`), the `*at` calls' AT_ flags and
//! renameat2's RENAME_ (`include/uapi/linux/fcntl.h`), lseek's whence
//! (`include/uapi/linux/fs.h`), utimensat's UTIME_ (`linux/stat.h`),
//! fallocate's FALLOC_FL_ (`linux/falloc.h`), memfd_create's MFD_
//! (`linux/memfd.h`), fadvise64's POSIX_FADV_ (`linux/fadvise.h`),
//! close_range's flags (`linux/close_range.h`), F_NOTIFY's DN_ events and
//! openat2's struct open_how (`linux/openat2.h`). Four open flags sit
//! elsewhere on arm64 (`arch/arm64/include/uapi/asm/fcntl.h`): their
//! values come from `arch_o`, one definition per architecture.

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use super::linux_consts;

/// The open flags whose bits differ by architecture: x86-64 keeps
/// asm-generic's (`include/uapi/asm-generic/fcntl.h`).
#[cfg(target_arch = "x86_64")]
mod arch_o {
    pub(super) const O_DIRECT: u32 = 0o40000;
    pub(super) const O_LARGEFILE: u32 = 0o100000;
    pub(super) const O_DIRECTORY: u32 = 0o200000;
    pub(super) const O_NOFOLLOW: u32 = 0o400000;
}

/// The open flags whose bits differ by architecture: arm64's
/// (`arch/arm64/include/uapi/asm/fcntl.h`), O_DIRECTORY and O_NOFOLLOW
/// where asm-generic has O_DIRECT and O_LARGEFILE, and the other way round.
#[cfg(target_arch = "aarch64")]
mod arch_o {
    pub(super) const O_DIRECTORY: u32 = 0o40000;
    pub(super) const O_NOFOLLOW: u32 = 0o100000;
    pub(super) const O_DIRECT: u32 = 0o200000;
    pub(super) const O_LARGEFILE: u32 = 0o400000;
}

linux_consts! {
    /// The access mode, `flags & O_ACCMODE` (O_ACCMODE itself is no mode:
    /// strace shows it as that).
    pub(crate) O_ACCMODES: u32 {
        O_RDONLY = 0,
        O_WRONLY = 1,
        O_RDWR = 2,
        O_ACCMODE = 3,
    }

    /// open's other flags. O_SYNC holds O_DSYNC's bit and O_TMPFILE
    /// O_DIRECTORY's: each comes first, to be shown whole.
    pub(crate) O_FLAGS: u32 {
        O_CREAT = 0o100,
        O_EXCL = 0o200,
        O_NOCTTY = 0o400,
        O_TRUNC = 0o1000,
        O_APPEND = 0o2000,
        O_NONBLOCK = 0o4000,
        O_SYNC = 0o4010000,
        O_DSYNC = 0o10000,
        O_ASYNC = 0o20000,
        O_DIRECT = arch_o::O_DIRECT,
        O_LARGEFILE = arch_o::O_LARGEFILE,
        O_TMPFILE = 0o20000000 | arch_o::O_DIRECTORY,
        O_DIRECTORY = arch_o::O_DIRECTORY,
        O_NOFOLLOW = arch_o::O_NOFOLLOW,
        O_NOATIME = 0o1000000,
        O_CLOEXEC = 0o2000000,
        O_PATH = 0o10000000,
    }

    /// The directory descriptor that means the cwd.
    pub(crate) DIRFDS: i32 {
        AT_FDCWD = -100,
    }

    /// The `*at` calls' flags. AT_REMOVEDIR (unlinkat) and AT_EACCESS
    /// (faccessat) share a bit.
    _: u64 {
        AT_SYMLINK_NOFOLLOW = 0x100,
        AT_REMOVEDIR = 0x200,
        AT_EACCESS = 0x200,
        AT_SYMLINK_FOLLOW = 0x400,
        AT_NO_AUTOMOUNT = 0x800,
        AT_EMPTY_PATH = 0x1000,
    }

    /// fcntl's commands.
    pub(crate) FCNTL_CMDS: u64 {
        F_DUPFD = 0,
        F_GETFD = 1,
        F_SETFD = 2,
        F_GETFL = 3,
        F_SETFL = 4,
        F_GETLK = 5,
        F_SETLK = 6,
        F_SETLKW = 7,
        F_SETOWN = 8,
        F_GETOWN = 9,
        F_SETSIG = 10,
        F_GETSIG = 11,
        F_SETOWN_EX = 15,
        F_GETOWN_EX = 16,
        F_OFD_GETLK = 36,
        F_OFD_SETLK = 37,
        F_OFD_SETLKW = 38,
        F_SETLEASE = 1024,
        F_GETLEASE = 1025,
        F_NOTIFY = 1026,
        F_DUPFD_QUERY = 1027,
        F_CREATED_QUERY = 1028,
        F_DUPFD_CLOEXEC = 1030,
        F_SETPIPE_SZ = 1031,
        F_GETPIPE_SZ = 1032,
        F_ADD_SEALS = 1033,
        F_GET_SEALS = 1034,
    }

    /// struct f_owner_ex's `type` (F_SETOWN_EX, F_GETOWN_EX).
    _: i32 {
        F_OWNER_TID = 0,
        F_OWNER_PID = 1,
        F_OWNER_PGRP = 2,
    }

    /// F_GETFD/F_SETFD's flag.
    _: u64 {
        FD_CLOEXEC = 1,
    }

    /// struct flock's `l_type`.
    _: i16 {
        F_RDLCK = 0,
        F_WRLCK = 1,
        F_UNLCK = 2,
    }

    /// flock(2)'s operations.
    _: u64 {
        LOCK_SH = 1,
        LOCK_EX = 2,
        LOCK_NB = 4,
        LOCK_UN = 8,
        LOCK_MAND = 32,
    }

    /// memfd seals (F_ADD_SEALS).
    _: u32 {
        F_SEAL_SEAL = 1,
        F_SEAL_SHRINK = 2,
        F_SEAL_GROW = 4,
        F_SEAL_WRITE = 8,
        F_SEAL_FUTURE_WRITE = 16,
        F_SEAL_EXEC = 32,
    }

    /// renameat2's flags.
    _: u64 {
        RENAME_NOREPLACE = 1,
        RENAME_EXCHANGE = 2,
        RENAME_WHITEOUT = 4,
    }

    /// lseek's whence.
    pub(crate) WHENCE: u64 {
        SEEK_SET = 0,
        SEEK_CUR = 1,
        SEEK_END = 2,
        SEEK_DATA = 3,
        SEEK_HOLE = 4,
    }

    /// utimensat's special `tv_nsec` values.
    _: i64 {
        UTIME_NOW = (1 << 30) - 1,
        UTIME_OMIT = (1 << 30) - 2,
    }

    /// fallocate's modes.
    _: u64 {
        FALLOC_FL_KEEP_SIZE = 1,
        FALLOC_FL_PUNCH_HOLE = 2,
    }

    /// memfd_create's flags.
    _: u64 {
        MFD_CLOEXEC = 1,
        MFD_ALLOW_SEALING = 2,
        MFD_HUGETLB = 4,
        MFD_NOEXEC_SEAL = 8,
        MFD_EXEC = 0x10,
    }

    /// fadvise64's advice (`include/uapi/linux/fadvise.h`).
    _: u64 {
        POSIX_FADV_NOREUSE = 5,
    }

    /// close_range's flags.
    _: u64 {
        CLOSE_RANGE_UNSHARE = 2,
        CLOSE_RANGE_CLOEXEC = 4,
    }

    /// F_NOTIFY's events (`include/uapi/linux/fcntl.h`).
    _: u32 {
        DN_ACCESS = 0x1,
        DN_MODIFY = 0x2,
        DN_CREATE = 0x4,
        DN_DELETE = 0x8,
        DN_RENAME = 0x10,
        DN_ATTRIB = 0x20,
        DN_MULTISHOT = 0x8000_0000,
    }
}

/// statx's sync-type bits (a mask of AT_STATX_*).
pub(crate) const AT_STATX_SYNC_TYPE: u64 = 0x6000;
/// Every seal there is.
pub(crate) const F_SEAL_ALL: u32 = 0x3f;
/// Every memfd_create flag there is (without the hugetlb size bits).
pub(crate) const MFD_ALL_FLAGS: u64 = 0x1f;
/// The longest memfd name: NAME_MAX less "memfd:".
pub(crate) const MFD_NAME_MAX_LEN: usize = 255 - 6;
/// Every RESOLVE_ flag there is.
pub(crate) const RESOLVE_ALL: u64 = 0x3f;

/// The largest file offset (`OFFSET_MAX`): a lock's end when it runs to
/// the end of the file however long it grows.
pub(crate) const OFFSET_MAX: i64 = i64::MAX;

/// struct flock (`include/uapi/asm-generic/fcntl.h`), fcntl's lock
/// argument; the same on x86-64 and arm64. The padding is named so the
/// struct goes back to the caller as it came (Linux copies the whole
/// struct in and out).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub(crate) struct Flock {
    pub l_type: i16,
    pub l_whence: i16,
    pub _pad0: u32,
    pub l_start: i64,
    pub l_len: i64,
    pub l_pid: i32,
    pub _pad1: u32,
}
const _: () = assert!(size_of::<Flock>() == 32);

/// struct open_how, openat2's argument.
#[repr(C)]
#[derive(Clone, Copy, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub(crate) struct OpenHow {
    pub(crate) flags: u64,
    pub(crate) mode: u64,
    pub(crate) resolve: u64,
}
const _: () = assert!(size_of::<OpenHow>() == 24);
/// The size of the first open_how: a smaller one is EINVAL.
pub(crate) const OPEN_HOW_SIZE_VER0: u64 = 24;

/// struct f_owner_ex: who an open file's SIGIO goes to.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub(crate) struct FOwnerEx {
    pub(crate) kind: i32,
    pub(crate) pid: i32,
}
