//! File modes and the stat family's structs: `include/uapi/linux/stat.h`
//! (S_IF*, the mode bits, struct statx), x86-64's struct stat
//! (`arch/x86/include/uapi/asm/stat.h`: arm64 has asm-generic's, another
//! layout), struct statfs (`asm-generic/statfs.h`), its flags
//! (`linux/statfs.h`) and the file systems' magic numbers
//! (`linux/magic.h`).

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use super::linux_consts;

linux_consts! {
    /// The file types, the values of `mode & S_IFMT`.
    pub S_IFMTS: u32 {
        S_IFSOCK = 0o140000,
        S_IFLNK = 0o120000,
        S_IFREG = 0o100000,
        S_IFBLK = 0o060000,
        S_IFDIR = 0o040000,
        S_IFCHR = 0o020000,
        S_IFIFO = 0o010000,
    }

    /// The mode's special bits.
    pub S_SPECIAL: u32 {
        S_ISUID = 0o4000,
        S_ISGID = 0o2000,
        S_ISVTX = 0o1000,
    }

    /// The group's execute bit (mode_strip_sgid looks at it).
    pub S_GROUP_BITS: u32 {
        S_IXGRP = 0o010,
    }

    /// statx's `mask` bits.
    pub STATX_MASK: u32 {
        STATX_BASIC_STATS = 0x7ff,
        STATX__RESERVED = 0x8000_0000,
    }

    /// statfs's `f_flags`.
    pub ST_FLAGS: i64 {
        ST_RDONLY = 1,
    }

    /// statfs's `f_type`.
    pub FS_MAGICS: i64 {
        PROC_SUPER_MAGIC = 0x9fa0,
        TMPFS_MAGIC = 0x0102_1994,
        OVERLAYFS_SUPER_MAGIC = 0x794c_7630,
    }
}

/// The bits of a mode that hold its file type.
pub const S_IFMT: u32 = 0o170000;
/// Read, write and search for others: also what access(2)'s mode may hold.
pub const S_IRWXO: u32 = 0o7;

/// x86-64's struct stat.
#[repr(C)]
#[derive(Clone, Copy, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct Stat {
    pub dev: u64,
    pub ino: u64,
    pub nlink: u64,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub pad0: u32,
    pub rdev: u64,
    pub size: i64,
    pub blksize: i64,
    pub blocks: i64,
    pub atime: u64,
    pub atime_nsec: u64,
    pub mtime: u64,
    pub mtime_nsec: u64,
    pub ctime: u64,
    pub ctime_nsec: u64,
    pub unused: [i64; 3],
}
const _: () = assert!(size_of::<Stat>() == 144);

/// struct statx_timestamp.
#[repr(C)]
#[derive(Clone, Copy, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct StatxTimestamp {
    pub sec: i64,
    pub nsec: u32,
    pub pad: i32,
}
const _: () = assert!(size_of::<StatxTimestamp>() == 16);

/// struct statx.
#[repr(C)]
#[derive(Clone, Copy, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct Statx {
    pub mask: u32,
    pub blksize: u32,
    pub attributes: u64,
    pub nlink: u32,
    pub uid: u32,
    pub gid: u32,
    pub mode: u16,
    pub pad1: u16,
    pub ino: u64,
    pub size: u64,
    pub blocks: u64,
    pub attributes_mask: u64,
    pub atime: StatxTimestamp,
    pub btime: StatxTimestamp,
    pub ctime: StatxTimestamp,
    pub mtime: StatxTimestamp,
    pub rdev_major: u32,
    pub rdev_minor: u32,
    pub dev_major: u32,
    pub dev_minor: u32,
    pub mnt_id: u64,
    pub dio_mem_align: u32,
    pub dio_offset_align: u32,
    pub spare: [u64; 12],
}
const _: () = assert!(size_of::<Statx>() == 256);

/// struct statfs (64-bit).
#[repr(C)]
#[derive(Clone, Copy, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct Statfs {
    pub f_type: i64,
    pub bsize: i64,
    pub blocks: u64,
    pub bfree: u64,
    pub bavail: u64,
    pub files: u64,
    pub ffree: u64,
    pub fsid: [i32; 2],
    pub namelen: i64,
    pub frsize: i64,
    pub flags: i64,
    pub spare: [i64; 4],
}
const _: () = assert!(size_of::<Statfs>() == 120);
