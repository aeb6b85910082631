//! Guest-side artifacts of faultline, built from `guest/` by this crate's
//! build script and embedded as bytes.

/// The ring-0 shim: one exception stub per vector, nothing else.
/// Its layout is documented in `x86_64/shim.S`.
pub static SHIM_X86_64: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/shim.bin"));

/// The syscall ring stub (one page of code, then the mailbox's initial
/// image). Its layout is documented in `x86_64/ring.S`.
pub static RING_X86_64: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/ring.bin"));

include!(concat!(env!("OUT_DIR"), "/ring_symbols.rs"));

/// The offset of the ring stub's label `name`.
pub fn ring_symbol(name: &str) -> Option<u64> {
    RING_SYMBOLS.iter().find(|(n, _)| *n == name).map(|&(_, a)| a)
}

/// The built-in demo guest that `faultline demo` runs: a static x86-64 ELF.
pub static DEMO_ELF: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/demo.elf"));

/// The benchmark guest: `touch N` writes one byte to each of N pages of
/// its .bss and prints `pages=N ns=T`, T by its own clock.
pub static BENCH_ELF: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/bench.elf"));

/// The process benchmark guest: `procs fork N` (fork with N resident pages,
/// copy-on-write against zero-fill) and `procs pingpong R` (pipe round
/// trips between two processes), timed by its own clock.
pub static BENCH_PROCS_ELF: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/bench-procs.elf"));
