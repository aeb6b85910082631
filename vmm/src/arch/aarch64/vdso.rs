//! arm64's vDSO functions (arch/arm64/kernel/vdso/vdso.lds.S), each as its
//! fallback path: the system call, then `ret`.

use crate::arch::vdso::{Code, Entry};

/// The version every symbol is defined in.
pub const VERSION: &str = "LINUX_2.6.39";

pub const ENTRIES: &[Entry] = &[
    Entry { symbol: "__kernel_rt_sigreturn", syscall: "rt_sigreturn", returns: false },
    Entry { symbol: "__kernel_gettimeofday", syscall: "gettimeofday", returns: true },
    Entry { symbol: "__kernel_clock_gettime", syscall: "clock_gettime", returns: true },
    Entry { symbol: "__kernel_clock_getres", syscall: "clock_getres", returns: true },
];

const NOP: u32 = 0xd503_201f;
const SVC_0: u32 = 0xd400_0001;
const RET: u32 = 0xd65f_03c0;

/// `movz x8, #nr`.
const fn mov_x8(nr: u16) -> u32 {
    0xd280_0000 | (nr as u32) << 5 | 8
}

/// `mov x8, #nr; svc #0`, then `ret` if the entry returns. The sigreturn
/// trampoline is preceded by a `nop` as Linux's sigreturn.S has it
/// (unwinders look at the instruction before a return address), and the
/// instructions themselves are what libgcc's unwinder matches to find a
/// signal frame.
pub fn entry_code(e: &Entry, nr: u16) -> Code {
    let words: &[u32] = if e.returns { &[mov_x8(nr), SVC_0, RET] } else { &[NOP, mov_x8(nr), SVC_0] };
    let symbol_offset = if e.returns { 0 } else { 4 };
    Code { bytes: words.iter().flat_map(|w| w.to_le_bytes()).collect(), symbol_offset }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sigreturn_trampoline_is_linuxs() {
        // vdso/sigreturn.S as assembled: nop; mov x8, #139; svc #0.
        let code = entry_code(&ENTRIES[0], 139);
        assert_eq!(code.bytes, [0x1f, 0x20, 0x03, 0xd5, 0x68, 0x11, 0x80, 0xd2, 0x01, 0x00, 0x00, 0xd4]);
        assert_eq!(code.symbol_offset, 4);
        // clock_gettime (113): mov x8, #113; svc #0; ret.
        let code = entry_code(&ENTRIES[2], 113);
        assert_eq!(code.bytes[..4], 0xd2800e28u32.to_le_bytes());
        assert_eq!(code.bytes[8..], RET.to_le_bytes());
    }
}
