//! faultline: run an x86-64 Linux program as a KVM guest and record, page
//! by page, how its memory gets backed.
//!
//! The program runs unmodified in ring 3 of a KVM guest whose page tables
//! faultline builds; its RAM is host memory registered with userfaultfd,
//! so every first touch of a page reaches faultline, which backs it
//! (zeroes, the file's bytes, a swapped-out copy, a copy-on-write) and
//! records a row. faultline plays the Linux kernel for it, with Linux's
//! semantics and errnos. A run gives an [`Outcome`]: the exit status, the
//! per-region and per-process [`Summary`](timeline::Summary), the
//! memory figures /proc would show, and, if kept, every event.
//!
//! ```
//! use std::sync::Arc;
//! use faultline::{Config, Output, Program, Sandbox};
//!
//! let demo = Program::Bytes { name: "demo".into(), bytes: Arc::from(faultline::guest::DEMO_ELF) };
//! let config = Config { argv: vec!["demo".into()], stdout: Output::capture(), ..Config::default() };
//! let outcome = Sandbox::new(demo, config)?.run()?;
//! // The demo writes 8 of its 64 .bss pages: 8 faults, 8 pages resident.
//! let bss = outcome.summary.region(".bss").unwrap();
//! assert_eq!((bss.write_faults, bss.mapped_pages, bss.resident_pages), (8, 64, 8));
//! # Ok::<(), faultline::Error>(())
//! ```
//!
//! The layers, lowest first; each imports only from the ones above it in
//! this list:
//!
//! - [`text`]: untrusted names and paths made fit for one line of output.
//! - [`memory`]: host mappings that back guest-physical memory.
//! - [`arch`]: the x86-64 contract: page tables, descriptor tables, traps,
//!   user registers.
//! - [`timeline`]: events, per-region counts, the summary and CSV.
//! - [`hv`]: KVM plumbing (the VM, memory slots, vCPUs, kicks).
//! - [`mm`]: physical frames, the page cache, VMAs, address spaces, swap.
//! - [`fault`]: userfaultfd and the handler thread; how a missing page is
//!   filled, a copy-on-write broken, a page reclaimed.
//! - [`loader`]: ELF validation and the page plan.
//! - [`kernel`]: the Linux the program sees: processes, threads, files,
//!   signals, one syscall table.
//! - [`sandbox`]: one VM and one kernel running one program.
//! - [`report`]: a finished run as JSON, a trace, an HTML page; diffs.
//! - [`bench`](mod@bench): `faultline bench`.

pub mod arch;
pub mod bench;
pub mod fault;
pub mod hv;
pub mod kernel;
pub mod loader;
pub mod memory;
pub mod mm;
pub mod report;
pub mod sandbox;
pub mod text;
pub mod timeline;

pub use kernel::files::{Input, Output};
pub use kernel::strace::Strace;
pub use kernel::{ExitStatus, Stop};
pub use sandbox::{default_env, Config, Error, Outcome, Program, Sandbox};

/// The embedded guests: the shim, the demo and the benchmark guest.
pub use faultline_guest as guest;

/// Parses sizes like `256M`, `64k`, `1G`, `4096` (binary units).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let (num, mult) = match t.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        None => (t, 1u64),
        Some((i, _)) => {
            let unit = t[i..].to_ascii_lowercase();
            let m = match unit.trim_end_matches("ib").trim_end_matches('b') {
                "" => 1,
                "k" => 1 << 10,
                "m" => 1 << 20,
                "g" => 1 << 30,
                _ => return Err(format!("bad size {s:?}: unknown unit (use K, M or G)")),
            };
            (&t[..i], m)
        }
    };
    let n: u64 = num.parse().map_err(|_| format!("bad size {s:?}"))?;
    n.checked_mul(mult).ok_or_else(|| format!("size {s:?} is too large"))
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("256M"), Ok(256 << 20));
        assert_eq!(parse_size("64k"), Ok(64 << 10));
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(parse_size("12X").is_err());
        assert!(parse_size("M").is_err());
        assert!(parse_size("99999999999999G").is_err());
    }
}
