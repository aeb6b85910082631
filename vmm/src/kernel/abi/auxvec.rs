//! The auxiliary vector's keys, which exec leaves on the initial stack
//! (`include/uapi/linux/auxvec.h`).

use super::linux_consts;

/// The string AT_PLATFORM points to, with its NUL (ELF_PLATFORM,
/// `arch/x86/include/asm/elf.h`).
#[cfg(target_arch = "x86_64")]
pub(crate) const ELF_PLATFORM: &[u8] = b"x86_64\0";
/// The string AT_PLATFORM points to, with its NUL (ELF_PLATFORM,
/// `arch/arm64/include/asm/elf.h`, little-endian).
#[cfg(target_arch = "aarch64")]
pub(crate) const ELF_PLATFORM: &[u8] = b"aarch64\0";

linux_consts! {
    /// The keys faultline's exec writes.
    _: u64 {
        AT_NULL = 0,
        AT_PHDR = 3,
        AT_PHENT = 4,
        AT_PHNUM = 5,
        AT_PAGESZ = 6,
        AT_BASE = 7,
        AT_FLAGS = 8,
        AT_ENTRY = 9,
        AT_UID = 11,
        AT_EUID = 12,
        AT_GID = 13,
        AT_EGID = 14,
        AT_PLATFORM = 15,
        AT_HWCAP = 16,
        AT_CLKTCK = 17,
        AT_SECURE = 23,
        AT_RANDOM = 25,
        AT_HWCAP2 = 26,
        AT_EXECFN = 31,
        AT_SYSINFO_EHDR = 33,
        AT_MINSIGSTKSZ = 51,
    }
}
