//! File modes and the stat family's structs: `include/uapi/linux/stat.h`
//! (S_IF*, the mode bits, struct statx), struct stat (x86-64's own,
//! `arch/x86/include/uapi/asm/stat.h`; arm64's is asm-generic's, another
//! layout: each under its `cfg`), struct statfs (`asm-generic/statfs.h`), its flags
//! (`linux/statfs.h`) and the file systems' magic numbers
//! (`linux/magic.h`).

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use super::linux_consts;

linux_consts! {
    /// The file types, the values of `mode & S_IFMT`.
    _: u32 {
        S_IFSOCK = 0o140000,
        S_IFLNK = 0o120000,
        S_IFREG = 0o100000,
        S_IFDIR = 0o040000,
        S_IFBLK = 0o060000,
        S_IFCHR = 0o020000,
        S_IFIFO = 0o010000,
    }

    /// The mode's special bits.
    _: u32 {
        S_ISUID = 0o4000,
        S_ISGID = 0o2000,
        S_ISVTX = 0o1000,
    }

    /// The group's execute bit (mode_strip_sgid looks at it).
    _: u32 {
        S_IXGRP = 0o010,
    }

    /// statx's `mask` bits.
    _: u32 {
        STATX_BASIC_STATS = 0x7ff,
        STATX__RESERVED = 0x8000_0000,
    }

    /// statfs's `f_flags`.
    _: i64 {
        ST_RDONLY = 1,
    }

    /// statfs's `f_type`.
    _: i64 {
        PROC_SUPER_MAGIC = 0x9fa0,
        TMPFS_MAGIC = 0x0102_1994,
        SYSFS_MAGIC = 0x6265_6572,
        OVERLAYFS_SUPER_MAGIC = 0x794c_7630,
    }
}

/// The file systems a bind's host directory may be on, by statfs's
/// `f_type` (include/uapi/linux/magic.h), as /proc/mounts names them.
pub(crate) const FS_NAMES: &[(i64, &str)] = &[
    (0xEF53, "ext4"),
    (TMPFS_MAGIC, "tmpfs"),
    (OVERLAYFS_SUPER_MAGIC, "overlay"),
    (0x5846_5342, "xfs"),
    (0x9123_683E, "btrfs"),
    (0xF2F5_2010, "f2fs"),
    (0x2FC1_2FC1, "zfs"),
    (0x6969, "nfs"),
    (0x0102_1997, "9p"),
    (0x6573_5546, "fuse"),
    (0x858_458F6, "ramfs"),
    (0x7371_7368, "squashfs"),
    (0x4d44, "vfat"),
    (SYSFS_MAGIC, "sysfs"),
    (PROC_SUPER_MAGIC, "proc"),
];

/// The bits of a mode that hold its file type.
pub(crate) const S_IFMT: u32 = 0o170000;
/// Read, write and search for others: also what access(2)'s mode may hold.
pub(crate) const S_IRWXO: u32 = 0o7;

/// x86-64's struct stat (`arch/x86/include/uapi/asm/stat.h`).
#[cfg(target_arch = "x86_64")]
#[repr(C)]
#[derive(Clone, Copy, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub(crate) struct Stat {
    pub(crate) dev: u64,
    pub(crate) ino: u64,
    pub(crate) nlink: u64,
    pub(crate) mode: u32,
    pub(crate) uid: u32,
    pub(crate) gid: u32,
    pub(crate) pad0: u32,
    pub(crate) rdev: u64,
    pub(crate) size: i64,
    pub(crate) blksize: i64,
    pub(crate) blocks: i64,
    pub(crate) atime: u64,
    pub(crate) atime_nsec: u64,
    pub(crate) mtime: u64,
    pub(crate) mtime_nsec: u64,
    pub(crate) ctime: u64,
    pub(crate) ctime_nsec: u64,
    pub(crate) unused: [i64; 3],
}
#[cfg(target_arch = "x86_64")]
const _: () = assert!(size_of::<Stat>() == 144);

/// arm64's struct stat, asm-generic's (`include/uapi/asm-generic/stat.h`):
/// mode before a 32-bit nlink, a 32-bit blksize. The times are `long`
/// there; kept unsigned as x86-64's, the same bits.
#[cfg(target_arch = "aarch64")]
#[repr(C)]
#[derive(Clone, Copy, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub(crate) struct Stat {
    pub(crate) dev: u64,
    pub(crate) ino: u64,
    pub(crate) mode: u32,
    pub(crate) nlink: u32,
    pub(crate) uid: u32,
    pub(crate) gid: u32,
    pub(crate) rdev: u64,
    pub(crate) pad1: u64,
    pub(crate) size: i64,
    pub(crate) blksize: i32,
    pub(crate) pad2: i32,
    pub(crate) blocks: i64,
    pub(crate) atime: u64,
    pub(crate) atime_nsec: u64,
    pub(crate) mtime: u64,
    pub(crate) mtime_nsec: u64,
    pub(crate) ctime: u64,
    pub(crate) ctime_nsec: u64,
    pub(crate) unused: [u32; 2],
}
#[cfg(target_arch = "aarch64")]
const _: () = assert!(size_of::<Stat>() == 128);

/// struct statx_timestamp.
#[repr(C)]
#[derive(Clone, Copy, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub(crate) struct StatxTimestamp {
    pub(crate) sec: i64,
    pub(crate) nsec: u32,
    pub(crate) pad: i32,
}
const _: () = assert!(size_of::<StatxTimestamp>() == 16);

/// struct statx.
#[repr(C)]
#[derive(Clone, Copy, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub(crate) struct Statx {
    pub(crate) mask: u32,
    pub(crate) blksize: u32,
    pub(crate) attributes: u64,
    pub(crate) nlink: u32,
    pub(crate) uid: u32,
    pub(crate) gid: u32,
    pub(crate) mode: u16,
    pub(crate) pad1: u16,
    pub(crate) ino: u64,
    pub(crate) size: u64,
    pub(crate) blocks: u64,
    pub(crate) attributes_mask: u64,
    pub(crate) atime: StatxTimestamp,
    pub(crate) btime: StatxTimestamp,
    pub(crate) ctime: StatxTimestamp,
    pub(crate) mtime: StatxTimestamp,
    pub(crate) rdev_major: u32,
    pub(crate) rdev_minor: u32,
    pub(crate) dev_major: u32,
    pub(crate) dev_minor: u32,
    pub(crate) mnt_id: u64,
    pub(crate) dio_mem_align: u32,
    pub(crate) dio_offset_align: u32,
    pub(crate) spare: [u64; 12],
}
const _: () = assert!(size_of::<Statx>() == 256);

/// struct statfs (64-bit; the same on x86-64 and arm64).
#[repr(C)]
#[derive(Clone, Copy, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub(crate) struct Statfs {
    pub(crate) f_type: i64,
    pub(crate) bsize: i64,
    pub(crate) blocks: u64,
    pub(crate) bfree: u64,
    pub(crate) bavail: u64,
    pub(crate) files: u64,
    pub(crate) ffree: u64,
    pub(crate) fsid: [i32; 2],
    pub(crate) namelen: i64,
    pub(crate) frsize: i64,
    pub(crate) flags: i64,
    pub(crate) spare: [i64; 4],
}
const _: () = assert!(size_of::<Statfs>() == 120);
