//! arch_prctl's codes (`arch/x86/include/uapi/asm/prctl.h`): x86-64's
//! alone; `kernel::abi::prctl` names them for strace.

pub const ARCH_SET_GS: u64 = 0x1001;
pub const ARCH_SET_FS: u64 = 0x1002;
pub const ARCH_GET_FS: u64 = 0x1003;
pub const ARCH_GET_GS: u64 = 0x1004;
pub const ARCH_GET_CPUID: u64 = 0x1011;
pub const ARCH_SET_CPUID: u64 = 0x1012;
pub const ARCH_CET_STATUS: u64 = 0x3001;
