//! `faultline bench --program -- CMD ARGS…`: any program natively and under
//! faultline, interleaved, with the costs it pays for measured in the same
//! rounds, so a user sees where the program's time goes.
//!
//! The floor model is what any sandbox that traps every first touch and
//! every system call pays on this host: native wall time, plus each fault
//! at the cost of a trapped first touch, plus each system call at the cost
//! of the cheapest call path. Both costs are measured in every round, beside
//! the program's own runs, because this platform's costs move from day to
//! day (and with the machine's load): a trapped touch is the bench guest's
//! first touch through userfaultfd, the cheaper of the spinning handler
//! with nothing recorded and the default handler (faultline's own
//! cheapest ways, standing in for a bare trap; spinning is the dearer one
//! on a busy machine), a syscall is a guest syscall into the ring stub and
//! straight back (the number the stub answers itself, `arch::ring::floor_nr`;
//! where there is no stub, getppid through the ring stands in). The
//! kernel-populated touch, getppid by the ring and by a VM exit are shown
//! beside them.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::syscalls::median;
use super::{guest_ns, BenchError, Way};
use crate::kernel::strace::Sink;
use crate::timeline::{EventKind, Origin};
use crate::{default_env, Config, ExitStatus, Input, Output, PageCache, Program, Sandbox, Strace, SyscallPath};

/// Pages the floor's touches take, and getppid calls, per round.
const FLOOR_PAGES: u64 = 2048;
const FLOOR_CALLS: u64 = 2000;

/// The costs measured in one round (ns).
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct Floors {
    /// A first touch trapped by userfaultfd: the cheaper of the spinning
    /// handler with nothing recorded and the default handler.
    pub trap_ns: f64,
    /// A first touch the host kernel populates (no userfaultfd).
    pub kernel_touch_ns: f64,
    /// A guest syscall into the ring stub and straight back: the floor of
    /// a syscall (None where there is no stub; the ring call stands in).
    pub stub_call_ns: Option<f64>,
    /// getppid through the syscall ring, back to back.
    pub ring_call_ns: f64,
    /// getppid by a VM exit.
    pub exit_call_ns: f64,
}

/// One program's figures: medians over the rounds, and the counts of the
/// last faultline run.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct ProgramBench {
    /// The program and its arguments.
    pub argv: Vec<String>,
    /// Runs each way.
    pub rounds: u32,
    /// Median wall time natively, and under faultline.
    pub native_ms: f64,
    /// Median wall time under faultline, start to exit.
    pub faultline_ms: f64,
    /// How the native run ended (the last round's): "exit 0".
    pub native_status: String,
    /// How the faultline run ended (the last round's).
    pub faultline_status: String,
    /// The costs, medians of the rounds.
    pub floors: Floors,
    /// The program's faults (every process), by kind.
    pub faults: BTreeMap<String, u64>,
    /// Of them, those that reached faultline through the guest's page
    /// fault (an exit each: the instruction is known); the rest came
    /// through userfaultfd from inside KVM_RUN.
    pub exit_faults: u64,
    /// Its system calls, all of them.
    pub syscalls: u64,
    /// Those the syscall ring served without a VM exit.
    pub ring_calls: u64,
    /// Those the ring took back and sent by exit.
    pub ring_withdrawn: u64,
    /// The calls made most often, with their count and time in faultline's
    /// kernel (µs).
    pub top_calls: Vec<(String, u64, f64)>,
}

impl ProgramBench {
    /// The program's faults, all kinds.
    pub fn fault_count(&self) -> u64 {
        self.faults.values().sum()
    }

    /// What the floor model charges a syscall, ns: the stub's round trip,
    /// or where there is none the ring's call.
    pub fn call_floor_ns(&self) -> f64 {
        self.floors.stub_call_ns.unwrap_or(self.floors.ring_call_ns)
    }

    /// What the run's transitions cost at this round's prices, ms: each
    /// fault through userfaultfd at a trapped touch, each fault through the
    /// guest's page fault and each syscall not served by the ring at an
    /// exit, each served call at a ring call. The rest of faultline's time
    /// beyond native is its own work (and waiting).
    pub fn transitions_ms(&self) -> f64 {
        let f = &self.floors;
        let uffd = self.fault_count() - self.exit_faults;
        let exits = self.exit_faults + self.syscalls.saturating_sub(self.ring_calls);
        (uffd as f64 * f.trap_ns + exits as f64 * f.exit_call_ns + self.ring_calls as f64 * f.ring_call_ns) / 1e6
    }

    /// The floor model, in ms.
    pub fn floor_ms(&self) -> f64 {
        self.native_ms
            + (self.fault_count() as f64 * self.floors.trap_ns + self.syscalls as f64 * self.call_floor_ns()) / 1e6
    }
}

/// How a native run ended, as the shell says it.
fn native_status(s: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (s.code(), s.signal()) {
        (Some(c), _) => format!("exit {c}"),
        (None, Some(sig)) => format!("killed by signal {sig}"),
        _ => s.to_string(),
    }
}

fn guest_status(s: ExitStatus) -> String {
    match s {
        ExitStatus::Exited(c) => format!("exit {c}"),
        ExitStatus::Killed(sig) | ExitStatus::Dumped(sig) => format!("killed by signal {sig}"),
    }
}

/// `argv` as a host process, with faultline's default environment and no
/// input or output: its wall time (ms) and how it ended.
pub(super) fn native(argv: &[String]) -> Result<(f64, String), BenchError> {
    let env = default_env();
    let start = Instant::now();
    let status = Command::new(&argv[0])
        .args(&argv[1..])
        .env_clear()
        .envs(env.iter().filter_map(|kv| kv.split_once('=')))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_err(BenchError::Native)?;
    Ok((start.elapsed().as_secs_f64() * 1e3, native_status(status)))
}

/// A run of `argv` under faultline with its rows kept and its syscalls
/// counted (strace -c: no line is formatted).
pub(super) struct Traced {
    pub(super) ms: f64,
    pub(super) outcome: crate::Outcome,
    /// Per syscall: calls, errors, time in faultline's kernel.
    pub(super) counts: BTreeMap<&'static str, (u64, u64, Duration)>,
}

pub(super) fn traced(argv: &[String]) -> Result<Traced, BenchError> {
    let mut strace = Strace::new(Sink::Capture(Arc::new(Mutex::new(Vec::new()))));
    strace.count = true;
    let counts = strace.counts.clone();
    let config = Config {
        argv: argv.to_vec(),
        stdin: Input::Empty,
        stdout: Output::capture(),
        stderr: Output::capture(),
        strace: Some(strace),
        keep_events: true,
        timeout: Some(Duration::from_secs(600)),
        // As `faultline run` has it: the host's page cache as it is.
        page_cache: PageCache::Host,
        ..Config::default()
    };
    let start = Instant::now();
    let outcome = Sandbox::new(Program::Path(PathBuf::from(&argv[0])), config)?.run()?;
    let ms = start.elapsed().as_secs_f64() * 1e3;
    let counts = counts.lock().unwrap_or_else(|p| p.into_inner()).clone();
    Ok(Traced { ms, outcome, counts })
}

fn under_faultline(argv: &[String], into: &mut ProgramBench) -> Result<f64, BenchError> {
    let Traced { ms, outcome, counts } = traced(argv)?;
    let mut faults = BTreeMap::new();
    let mut exit_faults = 0;
    for e in outcome.events.iter().filter(|e| e.origin == Origin::Guest && e.kind.is_fault()) {
        *faults.entry(kind_name(e.kind).to_string()).or_insert(0) += 1;
        exit_faults += u64::from(e.ip != 0);
    }
    into.exit_faults = exit_faults;
    let mut top: Vec<(String, u64, f64)> =
        counts.iter().map(|(name, c)| (name.to_string(), c.0, c.2.as_secs_f64() * 1e6)).collect();
    top.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    top.truncate(8);
    into.faults = faults;
    into.syscalls = counts.values().map(|c| c.0).sum();
    into.ring_calls = outcome.ring_calls;
    into.ring_withdrawn = outcome.ring_withdrawn;
    into.top_calls = top;
    into.faultline_status = guest_status(outcome.status);
    Ok(ms)
}

fn kind_name(k: EventKind) -> &'static str {
    match k {
        EventKind::ZeroFill => "zero-fill",
        EventKind::FileCopy => "file read (major)",
        EventKind::CacheHit => "page-cache hit",
        EventKind::Cow => "copy-on-write",
        EventKind::CowReuse => "copy-on-write reuse",
        EventKind::SwapIn => "swap-in (major)",
        _ => "other",
    }
}

/// getppid's cost by `path`, ns a call.
fn call_ns(path: SyscallPath) -> Result<f64, BenchError> {
    super::syscalls::procs_per_call(path, "calls", FLOOR_CALLS, &[], "calls_ns")
}

fn floors() -> Result<Floors, BenchError> {
    let image = Program::Bytes { name: "touch".into(), bytes: Arc::from(faultline_guest::BENCH_ELF) };
    Ok(Floors {
        // The cheaper of the spinning handler with nothing recorded and
        // the default one (which sleeps when no CPU is free): with the
        // machine busy, spinning is the dearer way.
        trap_ns: guest_ns(&image, FLOOR_PAGES, Way::BareTrap)?
            .0
            .min(guest_ns(&image, FLOOR_PAGES, Way::TrappedAuto)?.0),
        kernel_touch_ns: guest_ns(&image, FLOOR_PAGES, Way::Kernel)?.0,
        stub_call_ns: super::syscalls::stub_ns(FLOOR_CALLS)?,
        ring_call_ns: call_ns(SyscallPath::Ring)?,
        exit_call_ns: call_ns(SyscallPath::Exit)?,
    })
}

/// Runs `argv` natively and under faultline `rounds` times each, taking
/// turns with the floors' measurements, and gives the medians.
pub fn program(argv: &[String], rounds: u32) -> Result<ProgramBench, BenchError> {
    if argv.is_empty() {
        return Err(BenchError::NoProgram);
    }
    let rounds = rounds.max(1);
    let mut b = ProgramBench { argv: argv.to_vec(), rounds, ..Default::default() };
    let (mut nat, mut fl) = (Vec::new(), Vec::new());
    let mut fs: [Vec<f64>; 4] = Default::default();
    let mut stub = Vec::new();
    for _ in 0..rounds {
        let (ms, status) = native(argv)?;
        nat.push(ms);
        b.native_status = status;
        fl.push(under_faultline(argv, &mut b)?);
        let f = floors()?;
        stub.extend(f.stub_call_ns);
        for (v, x) in fs.iter_mut().zip([f.trap_ns, f.kernel_touch_ns, f.ring_call_ns, f.exit_call_ns]) {
            v.push(x);
        }
    }
    let [t, k, r, e] = fs.map(median);
    let stub_call_ns = (!stub.is_empty()).then(|| median(stub));
    b.floors = Floors { trap_ns: t, kernel_touch_ns: k, stub_call_ns, ring_call_ns: r, exit_call_ns: e };
    b.native_ms = median(nat);
    b.faultline_ms = median(fl);
    Ok(b)
}

impl ProgramBench {
    /// The figures as one line of JSON, with the model's figures.
    pub fn to_json(&self) -> String {
        let mut v = serde_json::to_value(self).unwrap_or_default();
        v["fault_count"] = self.fault_count().into();
        v["floor_ms"] = self.floor_ms().into();
        v["transitions_ms"] = self.transitions_ms().into();
        v["over_native"] = (self.faultline_ms / self.native_ms).into();
        v["over_floor"] = (self.faultline_ms / self.floor_ms()).into();
        v.to_string()
    }
}

impl fmt::Display for ProgramBench {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self;
        let fl = &b.floors;
        writeln!(f, "faultline bench --program: {} ({} rounds, medians)", b.argv.join(" "), b.rounds)?;
        let (faults, calls) = (b.fault_count(), b.syscalls);
        let (fault_ms, call_ms) = (faults as f64 * fl.trap_ns / 1e6, calls as f64 * b.call_floor_ns() / 1e6);
        let call_floor = if fl.stub_call_ns.is_some() { "stub round trip" } else { "ring call" };
        let floor = b.floor_ms();
        writeln!(f, "{:<44} {:>10} {:>9}", "", "wall ms", "× native")?;
        let row = |f: &mut fmt::Formatter<'_>, what: &str, ms: f64| {
            writeln!(f, "{what:<44} {ms:>10.1} {:>9.2}", ms / b.native_ms)
        };
        row(f, &format!("native ({})", b.native_status), b.native_ms)?;
        row(f, &format!("faultline ({})", b.faultline_status), b.faultline_ms)?;
        row(f, "floor model: native", b.native_ms)?;
        row(f, &format!("  + {faults} faults × trapped touch"), fault_ms)?;
        row(f, &format!("  + {calls} syscalls × {call_floor}"), call_ms)?;
        row(f, "  = floor", floor)?;
        writeln!(
            f,
            "faultline / floor: {:.2}; faultline beyond the floor: {:.1} ms",
            b.faultline_ms / floor,
            b.faultline_ms - floor
        )?;
        let kinds: Vec<String> = b.faults.iter().map(|(k, n)| format!("{k} {n}")).collect();
        writeln!(f, "faults: {}", if kinds.is_empty() { "none".to_string() } else { kinds.join(", ") })?;
        let tr = b.transitions_ms();
        writeln!(
            f,
            "where faultline's time went: native {:.1} ms, transitions {tr:.1} ms ({} faults by an exit, {} through \
             userfaultfd, {} syscalls by an exit, {} by the ring, at this round's prices), the rest {:.1} ms",
            b.native_ms,
            b.exit_faults,
            faults - b.exit_faults,
            calls.saturating_sub(b.ring_calls),
            b.ring_calls,
            b.faultline_ms - b.native_ms - tr
        )?;
        writeln!(
            f,
            "syscalls: {calls}, {} served by the ring, {} by exits ({} of them taken back from the ring)",
            b.ring_calls,
            calls.saturating_sub(b.ring_calls),
            b.ring_withdrawn
        )?;
        let top: Vec<String> = b.top_calls.iter().map(|(n, c, us)| format!("{n} {c} ({us:.0} µs)")).collect();
        if !top.is_empty() {
            writeln!(f, "most made (count, time in faultline's kernel): {}", top.join(", "))?;
        }
        let stub = fl.stub_call_ns.map_or("-".to_string(), |n| format!("{:.1}", n / 1e3));
        writeln!(
            f,
            "costs this run, µs: trapped touch {:.1}, kernel-populated touch {:.1}; syscall into the stub and back {stub}, getppid by the ring {:.1}, by an exit {:.1}",
            fl.trap_ns / 1e3,
            fl.kernel_touch_ns / 1e3,
            fl.ring_call_ns / 1e3,
            fl.exit_call_ns / 1e3
        )
    }
}
