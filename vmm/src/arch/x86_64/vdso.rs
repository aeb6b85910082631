//! x86-64's vDSO: faultline maps none yet (exec keeps [vdso]'s place and
//! gives no AT_SYSINFO_EHDR), so glibc and musl make the time calls as
//! system calls.

use crate::arch::vdso::{Code, Entry};

/// The version x86-64's vDSO defines its symbols in.
pub const VERSION: &str = "LINUX_2.6";

pub const ENTRIES: &[Entry] = &[];

/// `mov eax, nr; syscall`, then `ret` if the entry returns.
pub fn entry_code(e: &Entry, nr: u16) -> Code {
    let mut bytes = vec![0xb8];
    bytes.extend_from_slice(&u32::from(nr).to_le_bytes());
    bytes.extend_from_slice(&[0x0f, 0x05]);
    if e.returns {
        bytes.push(0xc3);
    }
    Code { bytes, symbol_offset: 0 }
}
