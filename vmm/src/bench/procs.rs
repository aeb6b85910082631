//! Processes: what fork costs per resident page, a copy-on-write fault
//! against a zero-fill fault, and a pipe ping-pong between two processes,
//! in faultline and natively with the same guest (guest/bench/procs.c).

use std::fmt;
use std::time::Duration;

use super::{native, BenchError};
use crate::{Config, ExitStatus, Program};

/// Round trips of the ping-pong.
pub const ROUNDS: u64 = 5000;

#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Procs {
    pub pages: u64,
    /// fork of a process with nothing touched, in faultline and natively.
    pub fork0_ns: f64,
    pub native_fork0_ns: f64,
    /// What each resident page adds to a fork (sharing it copy-on-write).
    pub fork_ns_per_page: f64,
    pub native_fork_ns_per_page: f64,
    /// The child's first write to a page it shares with its parent, and the
    /// parent's first write to a fresh page before that, in one run.
    pub cow_ns_per_page: f64,
    pub zero_fill_ns_per_page: f64,
    pub native_cow_ns_per_page: f64,
    pub native_zero_fill_ns_per_page: f64,
    /// One byte there and back through two pipes between two processes.
    pub pingpong_ns: f64,
    pub native_pingpong_ns: f64,
}

fn field(text: &str, key: &str) -> Result<f64, BenchError> {
    text.split_whitespace()
        .find_map(|w| w.strip_prefix(key)?.strip_prefix('=')?.parse().ok())
        .ok_or_else(|| BenchError::Guest(ExitStatus::Exited(0), text.to_string()))
}

fn guest(image: &Program, args: &[String]) -> Result<String, BenchError> {
    let mut argv = vec!["procs".to_string()];
    argv.extend_from_slice(args);
    let config = Config { argv, timeout: Some(Duration::from_secs(120)), ..Config::default() };
    super::guest_stdout(image, config)
}

pub fn measure(pages: u64) -> Result<Procs, BenchError> {
    let elf = faultline_guest::BENCH_PROCS_ELF;
    let image = Program::Bytes { name: "procs".into(), bytes: elf.into() };
    let fork = vec!["fork".to_string(), pages.to_string()];
    let pp = vec!["pingpong".to_string(), ROUNDS.to_string()];
    let (g, n) = (guest(&image, &fork)?, native::run_elf("procs", elf, &fork)?);
    let per_page = |t: &str| -> Result<(f64, f64, f64, f64), BenchError> {
        let (f0, fnn) = (field(t, "fork0_ns")?, field(t, "forkN_ns")?);
        let p = pages as f64;
        Ok((f0, (fnn - f0).max(0.0) / p, field(t, "cow_ns")? / p, field(t, "zero_ns")? / p))
    };
    let (fork0_ns, fork_ns_per_page, cow_ns_per_page, zero_fill_ns_per_page) = per_page(&g)?;
    let (native_fork0_ns, native_fork_ns_per_page, native_cow_ns_per_page, native_zero_fill_ns_per_page) =
        per_page(&n)?;
    let pingpong_ns = field(&guest(&image, &pp)?, "pingpong_ns")? / ROUNDS as f64;
    let native_pingpong_ns = field(&native::run_elf("procs", elf, &pp)?, "pingpong_ns")? / ROUNDS as f64;
    Ok(Procs {
        pages,
        fork0_ns,
        native_fork0_ns,
        fork_ns_per_page,
        native_fork_ns_per_page,
        cow_ns_per_page,
        zero_fill_ns_per_page,
        native_cow_ns_per_page,
        native_zero_fill_ns_per_page,
        pingpong_ns,
        native_pingpong_ns,
    })
}

impl fmt::Display for Procs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let q = self;
        writeln!(f, "\nprocesses: fork with {} resident pages, {} pipe round trips", q.pages, ROUNDS)?;
        writeln!(f, "{:<44} {:>10} {:>10} {:>9}", "ns", "faultline", "native", "× native")?;
        let row = |f: &mut fmt::Formatter<'_>, what: &str, g: f64, n: f64| {
            writeln!(f, "{what:<44} {g:>10.0} {n:>10.0} {:>9.2}", g / n)
        };
        row(f, "fork, nothing touched", q.fork0_ns, q.native_fork0_ns)?;
        row(f, "fork, per resident page", q.fork_ns_per_page, q.native_fork_ns_per_page)?;
        row(f, "zero-fill fault (parent, before the fork)", q.zero_fill_ns_per_page, q.native_zero_fill_ns_per_page)?;
        row(f, "cow fault (child, after the fork)", q.cow_ns_per_page, q.native_cow_ns_per_page)?;
        row(f, "pipe round trip between two processes", q.pingpong_ns, q.native_pingpong_ns)?;
        writeln!(
            f,
            "cow over zero-fill: faultline {:.2}, native {:.2}",
            q.cow_ns_per_page / q.zero_fill_ns_per_page,
            q.native_cow_ns_per_page / q.native_zero_fill_ns_per_page
        )?;
        Ok(())
    }
}
