//! Memory-mapping constants: `include/uapi/asm-generic/mman-common.h`,
//! `mman.h` (x86-64 adds MAP_32BIT, `arch/x86/include/uapi/asm/mman.h`;
//! arm64 adds PROT_BTI and PROT_MTE, not served) and
//! `include/uapi/linux/mman.h`.

use super::linux_consts;

/// x86-64's MAP_32BIT (`arch/x86/include/uapi/asm/mman.h`).
#[cfg(target_arch = "x86_64")]
mod arch_map {
    pub(super) const MAP_32BIT: u64 = 0x40;
}

/// arm64 has no MAP_32BIT: 0, as `include/linux/mman.h` makes it, so no
/// mapping asks for it and strace never names it (0x40 is an unknown bit).
#[cfg(target_arch = "aarch64")]
mod arch_map {
    pub(super) const MAP_32BIT: u64 = 0;
}

linux_consts! {
    /// mmap/mprotect's `prot` bits.
    pub(crate) PROT: u64 {
        PROT_NONE = 0,
        PROT_READ = 0x1,
        PROT_WRITE = 0x2,
        PROT_EXEC = 0x4,
        PROT_GROWSDOWN = 0x0100_0000,
        PROT_GROWSUP = 0x0200_0000,
    }

    /// mmap's mapping types, the values of `flags & MAP_TYPE`.
    pub(crate) MAP_TYPES: u64 {
        MAP_SHARED = 0x01,
        MAP_PRIVATE = 0x02,
        MAP_SHARED_VALIDATE = 0x03,
    }

    /// mmap's other flags.
    pub(crate) MAP_FLAGS: u64 {
        MAP_FIXED = 0x10,
        MAP_ANONYMOUS = 0x20,
        MAP_32BIT = arch_map::MAP_32BIT,
        MAP_GROWSDOWN = 0x0100,
        MAP_DENYWRITE = 0x0800,
        MAP_EXECUTABLE = 0x1000,
        MAP_LOCKED = 0x2000,
        MAP_NORESERVE = 0x4000,
        MAP_POPULATE = 0x8000,
        MAP_NONBLOCK = 0x10000,
        MAP_STACK = 0x20000,
        MAP_HUGETLB = 0x40000,
        MAP_SYNC = 0x80000,
        MAP_FIXED_NOREPLACE = 0x100000,
        MAP_UNINITIALIZED = 0x4000000,
    }

    /// mremap's flags.
    _: u64 {
        MREMAP_MAYMOVE = 1,
        MREMAP_FIXED = 2,
        MREMAP_DONTUNMAP = 4,
    }

    /// madvise's advice.
    pub(crate) MADVICE: u64 {
        MADV_NORMAL = 0,
        MADV_RANDOM = 1,
        MADV_SEQUENTIAL = 2,
        MADV_WILLNEED = 3,
        MADV_DONTNEED = 4,
        MADV_FREE = 8,
        MADV_REMOVE = 9,
        MADV_DONTFORK = 10,
        MADV_DOFORK = 11,
        MADV_MERGEABLE = 12,
        MADV_UNMERGEABLE = 13,
        MADV_HUGEPAGE = 14,
        MADV_NOHUGEPAGE = 15,
        MADV_DONTDUMP = 16,
        MADV_DODUMP = 17,
        MADV_WIPEONFORK = 18,
        MADV_KEEPONFORK = 19,
        MADV_COLD = 20,
        MADV_PAGEOUT = 21,
        MADV_POPULATE_READ = 22,
        MADV_POPULATE_WRITE = 23,
        MADV_DONTNEED_LOCKED = 24,
        MADV_GUARD_INSTALL = 102,
        MADV_GUARD_REMOVE = 103,
    }

    /// msync's flags.
    _: u64 {
        MS_ASYNC = 1,
        MS_INVALIDATE = 2,
        MS_SYNC = 4,
    }

    /// mlockall's flags.
    _: u64 {
        MCL_CURRENT = 1,
        MCL_FUTURE = 2,
        MCL_ONFAULT = 4,
    }

    /// mlock2's flags.
    _: u64 {
        MLOCK_ONFAULT = 1,
    }

    /// vm.overcommit_memory's values (`include/uapi/linux/mman.h`).
    _: u32 {
        OVERCOMMIT_GUESS = 0,
        OVERCOMMIT_ALWAYS = 1,
        OVERCOMMIT_NEVER = 2,
    }
}

/// The bits of mmap's `flags` that hold its type (a mask, not a type).
pub(crate) const MAP_TYPE: u64 = 0x0f;

/// The gate VMA every process shows after its own (x86-64's vsyscall
/// page, execute-only); arm64 has none.
#[cfg(target_arch = "x86_64")]
pub(crate) const GATE_VMA: Option<(u64, u64)> = Some((0xffff_ffff_ff60_0000, 0xffff_ffff_ff60_1000));
#[cfg(target_arch = "aarch64")]
pub(crate) const GATE_VMA: Option<(u64, u64)> = None;

/// The vDSO's areas exec maps below the mmap base, in address order: name,
/// pages, permissions (x86-64's [vvar], [vvar_vclock] and [vdso] as Linux
/// 6.x maps them; arm64 6.1's [vvar] and [vdso]).
#[cfg(target_arch = "x86_64")]
pub(crate) const VDSO_LAYOUT: &[(&str, u64, crate::arch::Perms)] = &[
    ("[vvar]", 4, crate::arch::Perms::new(true, false, false)),
    ("[vvar_vclock]", 2, crate::arch::Perms::new(true, false, false)),
    ("[vdso]", 2, crate::arch::Perms::new(true, false, true)),
];
#[cfg(target_arch = "aarch64")]
pub(crate) const VDSO_LAYOUT: &[(&str, u64, crate::arch::Perms)] = &[
    ("[vvar]", 2, crate::arch::Perms::new(true, false, false)),
    ("[vdso]", 1, crate::arch::Perms::new(true, false, true)),
];
