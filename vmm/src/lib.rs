//! faultline: run an x86-64 Linux program as a KVM guest and record, page
//! by page, how its memory gets backed.
//!
//! # The model
//!
//! The program runs unmodified in ring 3 of a KVM guest whose page tables
//! faultline builds; its RAM is host memory registered with userfaultfd,
//! so every first touch of a page reaches faultline, which backs it
//! (zeroes, the file's bytes, a swapped-out copy, a copy-on-write) and
//! records an [`Event`](timeline::Event). faultline plays the Linux kernel
//! for the program and every process and thread it starts, with Linux's
//! semantics and errnos, inside a [`Sandbox`]: one VM, one kernel, the
//! program as pid 1.
//!
//! A run gives an [`Outcome`]: how pid 1 ended ([`ExitStatus`]), its
//! captured stdout and stderr, the [`Summary`](timeline::Summary) of
//! faults and residency per process and region, the memory figures /proc
//! showed, and, if asked for, every event. Events can also be streamed as
//! they happen ([`SandboxBuilder::event_stream`],
//! [`SandboxBuilder::on_event`], [`SandboxBuilder::sink`]), so a long run
//! need not hold its timeline in memory.
//!
//! Memory is the guest's own: [`SandboxBuilder::memory`] is its RAM,
//! [`SandboxBuilder::rss_limit`] caps what may be resident (reclaim then
//! evicts, to [`SandboxBuilder::swap`] if there is any) and
//! [`SandboxBuilder::pin`] backs a region before the program starts. The
//! program sees the host's files read-only (its writes live in memory)
//! unless a [`Bind`] says otherwise, and a small environment of its own.
//!
//! # Using it in a test
//!
//! A sandbox needs `/dev/kvm` and userfaultfd, so tests that use it run
//! on a KVM runner (the README has a CI recipe); without them,
//! [`SandboxBuilder::build`] fails with an [`Error::Host`] that says what
//! is missing.
//!
//! ```
//! use faultline::{ExitStatus, Program, Sandbox};
//!
//! let outcome = Sandbox::builder(Program::demo()).memory(64 << 20).build()?.run()?;
//! assert_eq!(outcome.status, ExitStatus::Exited(0));
//! // The demo writes 8 of its 64 .bss pages: 8 faults, 8 pages resident.
//! let bss = outcome.summary.region(".bss").unwrap();
//! assert_eq!((bss.write_faults, bss.mapped_pages, bss.resident_pages), (8, 64, 8));
//! # Ok::<(), faultline::Error>(())
//! ```
//!
//! # What is public
//!
//! - Building and running: [`Sandbox`], [`SandboxBuilder`], [`Program`]
//!   (and [`Program::inspect`] for the ELF alone), [`Config`] (the same
//!   settings as plain data), [`Input`], [`Output`], [`Bind`],
//!   [`WakeMode`], [`PageCache`], [`SyscallPath`], [`strace`], the `DEFAULT_*`
//!   constants.
//! - Errors: [`Error`], [`ConfigError`], [`LoadError`], [`HostError`].
//! - Results: [`Outcome`], [`ExitStatus`], [`Stop`], [`MemoryReport`],
//!   [`Usage`] (Linux's own counters, as /usr/bin/time shows them),
//!   and the [`timeline`] module: events, regions, the summary, sinks.
//! - What the command line builds on: [`report`] (JSON summary, HTML,
//!   trace and diffs, from an outcome or a saved CSV), [`bench`](mod@bench),
//!   [`demo`] (the scenarios of `faultline demo`),
//!   [`text`], [`parse_size`], [`parse_bind`], [`Progress`], and [`guest`]
//!   (the embedded guests: [`Program::demo`] runs the demo).
//!
//! Everything else (the hypervisor, the memory manager, the fault handler,
//! the loader, the kernel) is internal. The layers, lowest first, each
//! importing only from those before it: `text`, `memory` (host mappings),
//! `arch` (page tables, descriptor tables, traps), `timeline`, `hv` (KVM),
//! `mm` (frames, page cache, VMAs, address spaces, swap), `fault`
//! (userfaultfd, the handler, reclaim), `loader` (ELF), `kernel` (the Linux
//! the program sees), `sandbox`, then `report`, `bench` and `demo`.

#![warn(missing_docs)]

mod arch;
pub mod bench;
pub mod demo;
mod fault;
mod hv;
// Fault injection for tests (FAULTLINE_INJECT).
mod inject;
mod kernel;
mod loader;
mod memory;
mod mm;
pub mod report;
mod sandbox;
pub mod text;
pub mod timeline;

pub use arch::Perms;
pub use fault::WakeMode;
pub use mm::PageCache;

/// Whether a read of fresh anonymous memory maps the shared zero page, as
/// on Linux: faultline needs the host's userfaultfd write-protect faults
/// for it (x86-64 since Linux 5.7; arm64 Linux 6.1 has none). Without
/// them such a page is backed by a zeroed page of its own and counts as
/// resident, and a later write to it is no fault.
pub fn zero_page_reads() -> bool {
    fault::Uffd::write_protect_available()
}
pub use kernel::files::{Input, Output};
pub use kernel::procfs::{MemInfo, MemStatus, MemoryReport};
pub use kernel::{ExitStatus, Stop};
pub use loader::{LoadError, PIE_BASE};
pub use mm::FILL_PAGES as DEFAULT_FILL_PAGES;
pub use sandbox::{
    default_env, parse_bind, Bind, Config, ConfigError, Error, EventStream, HostError, Identity, Outcome, Program,
    ProgramInfo, Progress, ProgressProbe, Sandbox, SandboxBuilder, SegmentInfo, StreamedEvent, SyscallPath, Usage,
    DEFAULT_FAULT_AROUND, DEFAULT_MAX_MAP_COUNT, DEFAULT_MAX_TASKS, DEFAULT_MEM, DEFAULT_MEMLOCK, DEFAULT_STACK,
    MIN_RSS_LIMIT,
};
pub use strace::Strace;

/// Syscall logging, as strace(1) prints it: where the lines go, which
/// calls, and the per-call records the HTML report draws.
pub mod strace {
    pub use crate::kernel::strace::{CallLog, CallRecord, Filter, Sink, Strace};
}

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
