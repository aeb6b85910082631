//! mount(2)'s flags (`include/uapi/linux/mount.h`) and umount2's
//! (`include/linux/fs.h`).

use super::linux_consts;

linux_consts! {
    /// mount's `mountflags` (those faultline takes or refuses by name).
    _: u64 {
        MS_NOSUID = 2,
        MS_NODEV = 4,
        MS_REMOUNT = 32,
        MS_NOATIME = 1024,
        MS_NODIRATIME = 2048,
        MS_BIND = 4096,
        MS_MOVE = 8192,
        MS_SILENT = 32768,
        MS_UNBINDABLE = 1 << 17,
        MS_PRIVATE = 1 << 18,
        MS_SLAVE = 1 << 19,
        MS_SHARED = 1 << 20,
        MS_RELATIME = 1 << 21,
        MS_STRICTATIME = 1 << 24,
    }

    /// umount2's flags.
    _: u64 {
        MNT_FORCE = 1,
        MNT_DETACH = 2,
        MNT_EXPIRE = 4,
        UMOUNT_NOFOLLOW = 8,
    }
}

/// The magic a caller may put in mount's top 16 bits (MS_MGC_VAL): older
/// programs do, and it means nothing.
pub(crate) const MS_MGC_MSK: u64 = 0xffff_0000;
pub(crate) const MS_MGC_VAL: u64 = 0xc0ed_0000;
