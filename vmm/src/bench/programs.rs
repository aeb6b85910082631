//! The distribution's own programs under faultline against natively:
//! `python3 -c pass` and `ls -l /usr/bin`, wall time side by side, with the
//! faults and syscalls each made; and what a file fault costs when the page
//! is in the page cache (a minor fault) against one read from the file (a
//! major fault).

use std::fmt;

use super::program::{traced, Traced};
use super::{median, median_of, BenchError};
use crate::timeline::{EventKind, Origin};
use crate::ExitStatus;

/// The programs, as argv.
pub const PROGRAMS: [&[&str]; 2] = [&["/usr/bin/python3", "-c", "pass"], &["/bin/ls", "-l", "/usr/bin"]];

#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct ProgramRun {
    pub argv: String,
    /// Median wall time, ms.
    pub guest_ms: f64,
    pub native_ms: f64,
    /// Faults the program took (all processes), and of them major ones.
    pub faults: u64,
    pub major_faults: u64,
    pub syscalls: u64,
}

#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Programs {
    pub runs: Vec<ProgramRun>,
    /// Median handling time of a file fault served from the page cache,
    /// and of one that read the file, in the runs above (ns).
    pub cache_hit_median_ns: u64,
    pub file_copy_median_ns: u64,
}

fn guest(argv: &[&str], hits: &mut Vec<u64>, copies: &mut Vec<u64>) -> Result<(f64, ProgramRun), BenchError> {
    let argv: Vec<String> = argv.iter().map(|s| s.to_string()).collect();
    let Traced { ms, outcome, counts } = traced(&argv)?;
    if outcome.status != ExitStatus::Exited(0) {
        return Err(BenchError::Guest(outcome.status, argv.join(" ")));
    }
    let guest_faults = || outcome.events.iter().filter(|e| e.origin == Origin::Guest && e.kind.is_fault());
    for e in guest_faults() {
        match e.kind {
            EventKind::CacheHit => hits.push(e.latency_ns),
            EventKind::FileCopy => copies.push(e.latency_ns),
            _ => {}
        }
    }
    let run = ProgramRun {
        argv: argv.join(" "),
        faults: guest_faults().count() as u64,
        major_faults: guest_faults().filter(|e| e.kind.is_major()).count() as u64,
        syscalls: counts.values().map(|c| c.0).sum(),
        ..Default::default()
    };
    Ok((ms, run))
}

fn native(argv: &[&str]) -> Result<f64, BenchError> {
    let argv: Vec<String> = argv.iter().map(|s| s.to_string()).collect();
    let (ms, status) = super::program::native(&argv)?;
    if status != "exit 0" {
        return Err(BenchError::NativeFailed(format!("{} ended: {status}", argv.join(" "))));
    }
    Ok(ms)
}

/// Runs each program `repeat` times each way, interleaved.
pub fn measure(repeat: u32) -> Result<Programs, BenchError> {
    let (mut hits, mut copies) = (Vec::new(), Vec::new());
    let mut runs = Vec::new();
    for argv in PROGRAMS {
        let (mut g, mut n) = (Vec::new(), Vec::new());
        let mut last = ProgramRun::default();
        for _ in 0..repeat.max(1) {
            let (ms, run) = guest(argv, &mut hits, &mut copies)?;
            g.push(ms);
            last = run;
            n.push(native(argv)?);
        }
        runs.push(ProgramRun { guest_ms: median(&mut g), native_ms: median(&mut n), ..last });
    }
    Ok(Programs { runs, cache_hit_median_ns: median_of(hits), file_copy_median_ns: median_of(copies) })
}

impl fmt::Display for Programs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = self;
        writeln!(f, "\nthe distribution's programs, wall time (median), with the faults and syscalls of one run")?;
        writeln!(
            f,
            "{:<30} {:>10} {:>10} {:>9} {:>7} {:>7} {:>9}",
            "program", "faultline", "native", "× native", "faults", "major", "syscalls"
        )?;
        for r in &p.runs {
            writeln!(
                f,
                "{:<30} {:>8.1}ms {:>8.1}ms {:>9.2} {:>7} {:>7} {:>9}",
                r.argv,
                r.guest_ms,
                r.native_ms,
                r.guest_ms / r.native_ms,
                r.faults,
                r.major_faults,
                r.syscalls
            )?;
        }
        writeln!(
            f,
            "file fault, handler median: page-cache hit {} ns, read from the file {} ns ({:.2}×)",
            p.cache_hit_median_ns,
            p.file_copy_median_ns,
            p.file_copy_median_ns as f64 / p.cache_hit_median_ns.max(1) as f64
        )
    }
}
