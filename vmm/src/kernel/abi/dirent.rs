//! Directory entries as getdents64 writes them: struct linux_dirent64
//! and its DT_ types (`include/linux/dirent.h`, `include/linux/fs.h`).

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use super::linux_consts;

linux_consts! {
    /// `d_type`: the file type, S_IFMT's bits shifted down.
    _: u8 {
        DT_CHR = 2,
        DT_DIR = 4,
        DT_REG = 8,
        DT_LNK = 10,
    }
}

/// The d_type of a mode (IFTODT).
pub(crate) const fn dt_of_mode(mode: u32) -> u8 {
    ((mode & super::stat::S_IFMT) >> 12) as u8
}

/// struct linux_dirent64 up to its name, which follows (NUL-terminated,
/// padded so that each record is 8-byte aligned).
#[repr(C, packed)]
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub(crate) struct Dirent64 {
    pub(crate) d_ino: u64,
    pub(crate) d_off: i64,
    pub(crate) d_reclen: u16,
    pub(crate) d_type: u8,
}
const _: () = assert!(size_of::<Dirent64>() == 19);
