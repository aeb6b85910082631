//! Syscalls: what a trivial call (getppid) costs by a VM exit, through the
//! syscall ring while it is hot and when its server sleeps, and natively;
//! calls and first touches taking turns; and `busybox dd bs=1` end to end,
//! all with the same guests in one run (guest/bench/procs.c).

use std::fmt;
use std::time::{Duration, Instant};

use super::{native, BenchError};
use crate::{Config, ExitStatus, Input, Program, SyscallPath};

/// getppid calls per run; touches for the mixed run.
pub const CALLS: u64 = 20_000;
pub const MIXED: u64 = 2_000;
/// Bytes `busybox dd bs=1` copies.
pub const DD_BYTES: u64 = 100_000;
const BUSYBOX: &str = "/bin/busybox";

#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Syscalls {
    /// Median ns per getppid: through the ring (hot), by an exit, natively.
    pub syscall_ns: f64,
    /// The floor: a guest syscall into the ring stub and straight back,
    /// no exit and no host thread (None where there is no stub).
    pub stub_ns: Option<f64>,
    pub exit_syscall_ns: f64,
    pub native_syscall_ns: f64,
    /// One getppid after 20 ms asleep (the ring's server asleep too).
    pub cold_syscall_ns: f64,
    pub exit_cold_syscall_ns: f64,
    /// ns per (getppid + first write to a page), ring and exits.
    pub mixed_ns: f64,
    pub exit_mixed_ns: f64,
    /// `busybox dd if=/dev/zero of=/dev/null bs=1 count=DD_BYTES`, seconds
    /// (None without /bin/busybox).
    pub dd_s: Option<f64>,
    pub exit_dd_s: Option<f64>,
    pub native_dd_s: Option<f64>,
}

pub(super) fn field(text: &str, key: &str) -> Result<f64, BenchError> {
    text.split_whitespace()
        .find_map(|w| w.strip_prefix(key)?.strip_prefix('=')?.parse().ok())
        .ok_or_else(|| BenchError::Guest(ExitStatus::Exited(0), text.to_string()))
}

pub(super) fn run(image: &Program, argv: &[String], path: SyscallPath) -> Result<String, BenchError> {
    let config = Config {
        argv: argv.to_vec(),
        stdin: Input::Empty,
        timeout: Some(Duration::from_secs(300)),
        syscalls: path,
        ..Config::default()
    };
    super::guest_stdout(image, config)
}

/// ns a call in a run of the procs guest's `mode` with `calls` calls (and
/// `extra` arguments) by `path`: its `key` field over the calls.
pub(super) fn procs_per_call(
    path: SyscallPath,
    mode: &str,
    calls: u64,
    extra: &[String],
    key: &str,
) -> Result<f64, BenchError> {
    let image = Program::Bytes { name: "procs".into(), bytes: faultline_guest::BENCH_PROCS_ELF.into() };
    let mut argv = vec!["procs".to_string(), mode.to_string(), calls.to_string()];
    argv.extend_from_slice(extra);
    Ok(field(&run(&image, &argv, path)?, key)? / calls as f64)
}

/// ns a call of the number the ring stub answers itself (the floor of a
/// syscall), back to back; None where there is no stub.
pub(super) fn stub_ns(calls: u64) -> Result<Option<f64>, BenchError> {
    let Some(nr) = crate::arch::ring::floor_nr() else { return Ok(None) };
    procs_per_call(SyscallPath::Ring, "stub", calls, &[nr.to_string()], "stub_ns").map(Some)
}

pub(super) fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// `busybox dd` under `path` (None: natively), in seconds.
fn dd(path: Option<SyscallPath>) -> Result<f64, BenchError> {
    let args: Vec<String> = ["busybox", "dd", "if=/dev/zero", "of=/dev/null", "bs=1"]
        .iter()
        .map(|s| s.to_string())
        .chain([format!("count={DD_BYTES}")])
        .collect();
    let t0 = Instant::now();
    match path {
        Some(p) => {
            run(&Program::Path(BUSYBOX.into()), &args, p)?;
        }
        None => {
            let st = std::process::Command::new(BUSYBOX)
                .args(&args[1..])
                .stderr(std::process::Stdio::null())
                .status()
                .map_err(BenchError::Native)?;
            if !st.success() {
                return Err(BenchError::Guest(ExitStatus::Exited(st.code().unwrap_or(-1)), "busybox dd".into()));
            }
        }
    }
    Ok(t0.elapsed().as_secs_f64())
}

pub fn measure(repeat: u32) -> Result<Syscalls, BenchError> {
    let elf = faultline_guest::BENCH_PROCS_ELF;
    let image = Program::Bytes { name: "procs".into(), bytes: elf.into() };
    let calls: Vec<String> = ["procs".to_string(), "calls".into(), CALLS.to_string()].to_vec();
    let mixed: Vec<String> = ["procs".to_string(), "mixed".into(), MIXED.to_string()].to_vec();
    let (mut s, mut e, mut n, mut cs, mut ce, mut ms, mut me) = Default::default();
    let mut stub = Vec::new();
    let per = |t: &str, key: &str, count: u64| field(t, key).map(|v| v / count as f64);
    for _ in 0..repeat.max(1) {
        let (ring, exit) = (run(&image, &calls, SyscallPath::Ring)?, run(&image, &calls, SyscallPath::Exit)?);
        let nat = native::run_elf("procs", elf, &calls[1..])?;
        push(&mut s, per(&ring, "calls_ns", CALLS)?);
        push(&mut e, per(&exit, "calls_ns", CALLS)?);
        push(&mut n, per(&nat, "calls_ns", CALLS)?);
        if let Some(x) = stub_ns(CALLS)? {
            stub.push(x);
        }
        push(&mut cs, field(&ring, "cold_ns")?);
        push(&mut ce, field(&exit, "cold_ns")?);
        push(&mut ms, per(&run(&image, &mixed, SyscallPath::Ring)?, "mixed_ns", MIXED)?);
        push(&mut me, per(&run(&image, &mixed, SyscallPath::Exit)?, "mixed_ns", MIXED)?);
    }
    let have_dd = std::path::Path::new(BUSYBOX).exists();
    let dd_of = |p| if have_dd { dd(p).map(Some) } else { Ok(None) };
    Ok(Syscalls {
        syscall_ns: median(s),
        stub_ns: (!stub.is_empty()).then(|| median(stub)),
        exit_syscall_ns: median(e),
        native_syscall_ns: median(n),
        cold_syscall_ns: median(cs),
        exit_cold_syscall_ns: median(ce),
        mixed_ns: median(ms),
        exit_mixed_ns: median(me),
        dd_s: dd_of(Some(SyscallPath::Ring))?,
        exit_dd_s: dd_of(Some(SyscallPath::Exit))?,
        native_dd_s: dd_of(None)?,
    })
}

fn push(v: &mut Vec<f64>, x: f64) {
    v.push(x);
}

impl fmt::Display for Syscalls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self;
        writeln!(f, "\nsyscalls: getppid by a VM exit and through the syscall ring (--syscalls ring)")?;
        writeln!(f, "{:<44} {:>10} {:>10} {:>10} {:>9}", "ns", "ring", "exit", "native", "exit/ring")?;
        let row3 = |f: &mut fmt::Formatter<'_>, what: &str, r: f64, e: f64, n: Option<f64>| {
            let n = n.map_or("-".to_string(), |n| format!("{n:.0}"));
            writeln!(f, "{what:<44} {r:>10.0} {e:>10.0} {n:>10} {:>9.2}", e / r)
        };
        row3(f, "getppid, back to back", s.syscall_ns, s.exit_syscall_ns, Some(s.native_syscall_ns))?;
        if let Some(floor) = s.stub_ns {
            writeln!(
                f,
                "the floor, a guest syscall into the ring stub and straight back: {floor:.0} ns (getppid: ring {:.2}×, exit {:.2}× it)",
                s.syscall_ns / floor,
                s.exit_syscall_ns / floor
            )?;
        }
        row3(f, "getppid after 20 ms asleep", s.cold_syscall_ns, s.exit_cold_syscall_ns, None)?;
        row3(f, "getppid + first write to a page", s.mixed_ns, s.exit_mixed_ns, None)?;
        if let (Some(r), Some(e), Some(n)) = (s.dd_s, s.exit_dd_s, s.native_dd_s) {
            writeln!(
                f,
                "busybox dd bs=1 count={}: ring {r:.2} s ({:.0}× native), exit {e:.2} s ({:.0}× native), native {n:.3} s",
                DD_BYTES,
                r / n,
                e / n
            )?;
        }
        Ok(())
    }
}
