//! ELF core files as Linux writes them (`include/uapi/linux/elf.h`,
//! `include/linux/elfcore.h`, fs/binfmt_elf.c): the file and program
//! headers, note headers and types, the notes' structs, and the bits of
//! /proc/PID/coredump_filter (core(5)). The register set a note holds is
//! the architecture's (`crate::arch::regs::UserRegsStruct`).

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use super::linux_consts;
use super::time::Timeval;
use crate::arch::regs::UserRegsStruct;

linux_consts! {
    /// e_ident's bytes.
    _: u8 {
        ELFCLASS64 = 2,
        ELFDATA2LSB = 1,
        EV_CURRENT = 1,
        ELFOSABI_NONE = 0,
    }

    /// e_type.
    _: u16 {
        ET_CORE = 4,
    }

    /// p_type, p_flags.
    _: u32 {
        PT_LOAD = 1,
        PT_NOTE = 4,
        PF_X = 1,
        PF_W = 2,
        PF_R = 4,
    }

    /// Note types (n_type).
    _: u32 {
        NT_PRSTATUS = 1,
        NT_PRFPREG = 2,
        NT_PRPSINFO = 3,
        NT_AUXV = 6,
        NT_SIGINFO = 0x5349_4749,
        NT_FILE = 0x4649_4c45,
        NT_X86_XSTATE = 0x202,
    }

    /// /proc/PID/coredump_filter's bits (MMF_DUMP_*, counted from
    /// MMF_DUMP_FILTER_SHIFT): what kinds of mapping a core holds.
    _: u32 {
        DUMP_ANON_PRIVATE = 1 << 0,
        DUMP_ANON_SHARED = 1 << 1,
        DUMP_MAPPED_PRIVATE = 1 << 2,
        DUMP_MAPPED_SHARED = 1 << 3,
        DUMP_ELF_HEADERS = 1 << 4,
        /// MMF_DUMP_FILTER_BITS (9) of them, DAX's two included.
        DUMP_FILTER_MASK = 0x1ff,
        /// MMF_DUMP_FILTER_DEFAULT, with CONFIG_CORE_DUMP_DEFAULT_ELF_HEADERS.
        DUMP_FILTER_DEFAULT = 0x33,
    }
}

/// The ELF magic, e_ident's first bytes.
pub(crate) const ELFMAG: [u8; 4] = *b"\x7fELF";

/// The names a core's notes carry: "LINUX" for the XSAVE area's, "CORE"
/// for the others.
pub(crate) const NOTE_NAME_CORE: &[u8] = b"CORE\0";
pub(crate) const NOTE_NAME_LINUX: &[u8] = b"LINUX\0";

/// Where the XSAVE area of an NT_X86_XSTATE note holds XCR0: the first
/// word of its software-reserved bytes (USER_XSTATE_XCR0_WORD).
pub(crate) const XSTATE_XCR0_OFFSET: usize = 464;

/// ELF_PRARGSZ: bytes of the command line NT_PRPSINFO keeps.
pub(crate) const ELF_PRARGSZ: usize = 80;

/// Elf64_Ehdr.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub(crate) struct Elf64Ehdr {
    pub(crate) e_ident: [u8; 16],
    pub(crate) e_type: u16,
    pub(crate) e_machine: u16,
    pub(crate) e_version: u32,
    pub(crate) e_entry: u64,
    pub(crate) e_phoff: u64,
    pub(crate) e_shoff: u64,
    pub(crate) e_flags: u32,
    pub(crate) e_ehsize: u16,
    pub(crate) e_phentsize: u16,
    pub(crate) e_phnum: u16,
    pub(crate) e_shentsize: u16,
    pub(crate) e_shnum: u16,
    pub(crate) e_shstrndx: u16,
}
const _: () = assert!(size_of::<Elf64Ehdr>() == 64);

/// Elf64_Phdr.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub(crate) struct Elf64Phdr {
    pub(crate) p_type: u32,
    pub(crate) p_flags: u32,
    pub(crate) p_offset: u64,
    pub(crate) p_vaddr: u64,
    pub(crate) p_paddr: u64,
    pub(crate) p_filesz: u64,
    pub(crate) p_memsz: u64,
    pub(crate) p_align: u64,
}
const _: () = assert!(size_of::<Elf64Phdr>() == 56);

/// Elf64_Nhdr: a note's header; its name and then its description follow,
/// each padded to 4 bytes.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub(crate) struct Elf64Nhdr {
    pub(crate) n_namesz: u32,
    pub(crate) n_descsz: u32,
    pub(crate) n_type: u32,
}
const _: () = assert!(size_of::<Elf64Nhdr>() == 12);

/// struct elf_siginfo: the signal, as NT_PRSTATUS opens with it.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub(crate) struct ElfSiginfo {
    pub(crate) si_signo: i32,
    pub(crate) si_code: i32,
    pub(crate) si_errno: i32,
}

/// struct elf_prstatus (elf_prstatus_common, then the registers): NT_PRSTATUS,
/// one per thread.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub(crate) struct ElfPrstatus {
    pub(crate) pr_info: ElfSiginfo,
    pub(crate) pr_cursig: i16,
    pub(crate) pad0: u16,
    pub(crate) pr_sigpend: u64,
    pub(crate) pr_sighold: u64,
    pub(crate) pr_pid: i32,
    pub(crate) pr_ppid: i32,
    pub(crate) pr_pgrp: i32,
    pub(crate) pr_sid: i32,
    pub(crate) pr_utime: Timeval,
    pub(crate) pr_stime: Timeval,
    pub(crate) pr_cutime: Timeval,
    pub(crate) pr_cstime: Timeval,
    pub(crate) pr_reg: UserRegsStruct,
    pub(crate) pr_fpvalid: i32,
    pub(crate) pad1: u32,
}
// x86-64: user_regs_struct is 27 words.
#[cfg(target_arch = "x86_64")]
const _: () = assert!(size_of::<ElfPrstatus>() == 336);
// arm64: user_pt_regs (elf_gregset_t) is 34 words.
#[cfg(target_arch = "aarch64")]
const _: () = assert!(size_of::<ElfPrstatus>() == 392);

/// struct elf_prpsinfo: NT_PRPSINFO, the process.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub(crate) struct ElfPrpsinfo {
    pub(crate) pr_state: u8,
    pub(crate) pr_sname: u8,
    pub(crate) pr_zomb: u8,
    pub(crate) pr_nice: i8,
    pub(crate) pad0: u32,
    pub(crate) pr_flag: u64,
    pub(crate) pr_uid: u32,
    pub(crate) pr_gid: u32,
    pub(crate) pr_pid: i32,
    pub(crate) pr_ppid: i32,
    pub(crate) pr_pgrp: i32,
    pub(crate) pr_sid: i32,
    pub(crate) pr_fname: [u8; 16],
    pub(crate) pr_psargs: [u8; ELF_PRARGSZ],
}
const _: () = assert!(size_of::<ElfPrpsinfo>() == 136);

linux_consts! {
    /// Task flags NT_PRPSINFO's pr_flag shows of a dumping task.
    _: u64 {
        PF_DUMPCORE = 0x200,
        PF_SIGNALED = 0x400,
        PF_RANDOMIZE = 0x40_0000,
    }
}
