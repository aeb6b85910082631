//! Guest-side artifacts of faultline, built from `guest/` by this crate's
//! build script for the target architecture and embedded as bytes.

/// The ring-0 shim: one exception stub per vector, nothing else.
/// Its layout is documented in `x86_64/shim.S`.
#[cfg(target_arch = "x86_64")]
pub static SHIM_X86_64: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/shim.bin"));

/// The syscall ring stub (one page of code, then the mailbox's initial
/// image). Its layout is documented in `x86_64/ring.S`.
#[cfg(target_arch = "x86_64")]
pub static RING_X86_64: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/ring.bin"));

#[cfg(target_arch = "x86_64")]
include!(concat!(env!("OUT_DIR"), "/ring_symbols.rs"));

/// The offset of the ring stub's label `name`.
#[cfg(target_arch = "x86_64")]
pub fn ring_symbol(name: &str) -> Option<u64> {
    RING_SYMBOLS.iter().find(|(n, _)| *n == name).map(|&(_, a)| a)
}

/// The arm64 EL1 vector table and save-area stub (position independent,
/// copied flat; VBAR_EL1 points at its first byte). Its layout and protocol
/// are documented in `aarch64/vectors.S`. Always built for arm64; on other
/// hosts only when aarch64-linux-gnu-gcc is installed (for the VMM's unit
/// tests), and empty otherwise.
pub static VECTORS_AARCH64: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/vectors.bin"));

include!(concat!(env!("OUT_DIR"), "/vectors_symbols.rs"));

/// The value of the vector stub's symbol `name`: a label's offset in
/// [`VECTORS_AARCH64`], or one of its constants (the save area's `sa_*`
/// offsets, `flag_*`, `doorbell`). None where the stub was not built.
pub fn vectors_symbol(name: &str) -> Option<u64> {
    VECTORS_SYMBOLS.iter().find(|(n, _)| *n == name).map(|&(_, a)| a)
}

/// The built-in demo guest that `faultline demo` runs: a static ELF for
/// the target architecture.
pub static DEMO_ELF: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/demo.elf"));

/// The benchmark guest: `touch N` writes one byte to each of N pages of
/// its .bss and prints `pages=N ns=T`, T by its own clock.
pub static BENCH_ELF: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/bench.elf"));

/// The process benchmark guest: `procs fork N` (fork with N resident pages,
/// copy-on-write against zero-fill) and `procs pingpong R` (pipe round
/// trips between two processes), timed by its own clock.
pub static BENCH_PROCS_ELF: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/bench-procs.elf"));
