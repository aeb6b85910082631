//! A sandbox: one VM, one kernel, and the program it runs as pid 1 with
//! whatever processes and threads it makes. `setup.rs` builds the VM and
//! the kernel; `vcpu.rs` runs a guest thread on a vCPU, handing its traps
//! to the kernel; [`Sandbox::run`] supervises: the fault handler, the
//! timeout, timers and signals to faultline, and the outcome.

mod builder;
mod program;
mod ring;
mod setup;
mod vcpu;

pub use builder::{ConfigError, EventStream, SandboxBuilder, StreamedEvent, MIN_RSS_LIMIT};
pub use program::{ProgramInfo, SegmentInfo};

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::fault::{Handler, UffdError, WakeMode};
use crate::hv::VmError;
use crate::kernel::files::{Input, Output};
use crate::kernel::procfs::MemoryReport;
use crate::kernel::strace::Strace;
use crate::kernel::{ExitStatus, Kernel, Stop};
use crate::loader::LoadError;
use crate::timeline::{Event, EventSink, RegionTable, Summary};

/// Default guest RAM.
pub const DEFAULT_MEM: u64 = 256 << 20;
/// Default stack size (RLIMIT_STACK's usual 8 MiB).
pub const DEFAULT_STACK: u64 = 8 << 20;
/// Default RLIMIT_MEMLOCK, as on current Linux.
pub const DEFAULT_MEMLOCK: u64 = 8 << 20;
/// Default cap on processes and threads at once.
pub const DEFAULT_MAX_TASKS: u32 = 256;
/// Linux's vm.max_map_count default.
pub const DEFAULT_MAX_MAP_COUNT: usize = 65_530;

/// Why a sandbox could not be built or run. What the program itself does
/// (crash, exit non-zero, get killed) is not an error: it is in the
/// [`Outcome`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration cannot work; nothing was made.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The program is not an x86-64 executable faultline can load.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// The host refused: no /dev/kvm, no userfaultfd, no memory for the
    /// guest.
    #[error(transparent)]
    Host(#[from] HostError),
    /// The program could not be started (not inside the root, exec failed).
    #[error("{path}: {what}")]
    Exec {
        /// The program, as given.
        path: String,
        /// Why.
        what: String,
    },
    /// The program's image does not fit in guest RAM plus swap.
    #[error(
        "{path}: needs {needed} pages ({needed_kib} KiB) of image, but --mem gives {available} pages; raise --mem"
    )]
    TooBig {
        /// The program.
        path: String,
        /// Pages its segments map.
        needed: u64,
        /// The same, in KiB.
        needed_kib: u64,
        /// Pages of RAM plus swap.
        available: u64,
    },
    /// A pinned region the program does not have.
    #[error("--pin {0}: no such region (try .text, .data, .bss, heap, stack or all)")]
    BadPin(String),
    /// The pinned regions do not fit in what may be resident.
    #[error("--pin {0} pins more pages than --mem / --rss-limit lets be resident; pin less or raise them")]
    PinTooBig(String),
    /// The guest's own structures could not be built.
    #[error("cannot set up the guest: {0}")]
    Setup(String),
    /// A host thread could not be started.
    #[error("cannot start a thread: {0}")]
    Thread(#[source] std::io::Error),
    /// faultline failed during the run (its fault handler stopped, threads
    /// did not stop, the timeline could not be written).
    #[error("{0}")]
    Failed(String),
    /// faultline itself failed while the program ran (a fault it could not
    /// resolve, KVM_RUN or the fault handler failing, the host out of
    /// memory): everything was stopped. `partial` is the run up to then,
    /// its summary included.
    #[error("{why}")]
    Aborted {
        /// What failed, in one line.
        why: String,
        /// The run until then: status, summary, events, output.
        partial: Box<Outcome>,
    },
}

/// A host facility failed: KVM, userfaultfd or a host mapping. Its message
/// says which and what to do (e.g. how to give a CI job /dev/kvm).
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct HostError(Box<dyn std::error::Error + Send + Sync>);

impl From<VmError> for Error {
    fn from(e: VmError) -> Error {
        Error::Host(HostError(Box::new(e)))
    }
}

impl From<crate::memory::MmapError> for Error {
    fn from(e: crate::memory::MmapError) -> Error {
        Error::Host(HostError(Box::new(e)))
    }
}

impl From<UffdError> for Error {
    fn from(e: UffdError) -> Error {
        Error::Host(HostError(Box::new(e)))
    }
}

/// The program a sandbox runs.
#[derive(Clone, Debug)]
pub enum Program {
    /// An executable on the host (static, or dynamic with its interpreter),
    /// found as execvp(3) finds it: a name without a slash is looked up in
    /// the program's `PATH` inside the sandbox's root (as
    /// `std::process::Command` does), a path is taken as it is. A `#!`
    /// script runs its interpreter, as Linux's binfmt_script does.
    Path(PathBuf),
    /// An executable held in memory (the built-in demo), called `name`.
    Bytes {
        /// Its name (the guest sees it as `/name`).
        name: String,
        /// The ELF file.
        bytes: Arc<[u8]>,
    },
}

/// How the program's syscalls reach faultline's kernel.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SyscallPath {
    /// Every call is a VM exit (~45 µs here).
    Exit,
    /// Through the shared-memory syscall ring (see `sandbox::ring`): no
    /// exit for calls that cannot block (~1.5 µs here); the rest, the
    /// first call of each thread, and calls the server did not take within
    /// ~110 µs, take an exit. The default.
    #[default]
    Ring,
    /// The ring with its pages for ring 0, and `syscall`'s entry into ring
    /// 0 done by hand where the hypervisor keeps it in ring 3 (PVM): runs
    /// the path bare-metal KVM takes. For tests; slow under emulation.
    RingCpl0,
}

impl std::str::FromStr for SyscallPath {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "exit" => Ok(SyscallPath::Exit),
            "ring" => Ok(SyscallPath::Ring),
            "ring-cpl0" => Ok(SyscallPath::RingCpl0),
            _ => Err(format!("unknown syscall path {s:?} (exit, ring or ring-cpl0)")),
        }
    }
}

/// How to run a program, as plain data: what [`SandboxBuilder`] fills in
/// and the command line builds. [`Sandbox::new`] checks it with
/// [`Config::validate`] whichever way it was made.
///
/// ```
/// use faultline::{Config, ConfigError, Error, Output, Program, Sandbox};
///
/// let config = Config { argv: vec!["demo".into()], stdout: Output::capture(), ..Config::default() };
/// let outcome = Sandbox::new(Program::demo(), config)?.run()?;
/// assert!(outcome.stdout_text().starts_with("faultline demo"));
/// // The same rules as the builder's: an empty argv is refused.
/// let err = Sandbox::new(Program::demo(), Config::default()).err().unwrap();
/// assert!(matches!(err, Error::Config(ConfigError::EmptyArgv)));
/// # Ok::<(), faultline::Error>(())
/// ```
#[derive(Clone)]
pub struct Config {
    /// Guest RAM in bytes.
    pub mem: u64,
    /// RLIMIT_STACK.
    pub stack_size: u64,
    /// The arguments, `argv[0]` first.
    pub argv: Vec<String>,
    /// The environment, `K=V` strings.
    pub env: Vec<String>,
    /// How guest RAM gets its pages (userfaultfd, or the kernel's own).
    pub trapped: bool,
    /// How the fault handler waits for faults.
    pub wake: WakeMode,
    /// How syscalls reach the kernel: the ring (the default) or exits.
    pub syscalls: SyscallPath,
    /// The program's stdin.
    pub stdin: Input,
    /// The program's stdout.
    pub stdout: Output,
    /// The program's stderr.
    pub stderr: Output,
    /// Kill the program after this long.
    pub timeout: Option<Duration>,
    /// Print each syscall.
    pub strace: Option<Strace>,
    /// Collect each syscall (name, time, duration, result) here.
    pub calls: Option<crate::kernel::strace::CallLog>,
    /// RLIMIT_MEMLOCK.
    pub memlock_limit: u64,
    /// Most resident pages, in bytes (default: all of `mem`).
    pub rss_limit: Option<u64>,
    /// Swap store size in bytes (host memory).
    pub swap: u64,
    /// Regions to populate and pin at load (`.text`, `heap`, `stack`, `all`, …).
    pub pin: Vec<String>,
    /// Print a memory status line after reclaim (at most once a second).
    pub status: Option<Output>,
    /// Randomise the brk start and mmap_base as Linux's ASLR does.
    pub aslr: bool,
    /// Most processes and threads at once.
    pub max_tasks: u32,
    /// vm.overcommit_memory (0, 1, 2) and vm.overcommit_ratio.
    pub overcommit: u32,
    /// vm.overcommit_ratio, in percent.
    pub overcommit_ratio: u64,
    /// vm.max_map_count.
    pub max_map_count: usize,
    /// Where events go as they happen, besides the summary.
    pub sinks: Arc<Mutex<Vec<Box<dyn EventSink>>>>,
    /// Keep every event in the outcome (tests; long runs should stream).
    pub keep_events: bool,
    /// Anonymous pages the first touch in a block maps at once (1 to 512,
    /// a power of two). The rest of the block then faults straight into
    /// userfaultfd, from inside KVM, where the faulting instruction cannot
    /// be read: 1 gives every row its `ip`, at the cost of an exit per
    /// first touch.
    pub fill_pages: u64,
    /// Record the timeline (off: the same faults are resolved and nothing
    /// is written down; `faultline bench` measures the difference).
    pub record: bool,
    /// Unwind the call stack of each fault that comes with registers (see
    /// `fill_pages`) into its event's `stack`: the `.eh_frame` CFI of the
    /// mapped ELF objects (frame pointers where there is none), named by
    /// their symbol tables and DWARF lines. Off by default.
    pub stacks: bool,
    /// Linux's fault_around_bytes: a read fault in a file mapping also maps
    /// the cached pages around it, counted as one fault, each a
    /// `fault-around` row. 0 (the default) keeps one fault per page
    /// touched; 64 KiB is Linux's default. Rounded down to a power of two,
    /// at most 2 MiB (one page table).
    pub fault_around: u64,
    /// The host directory the program sees as `/`.
    pub root: PathBuf,
    /// The program's working directory (inside the root).
    pub cwd: Option<String>,
    /// Host directories (or files) bound at guest paths.
    pub binds: Vec<Bind>,
    /// Who the program runs as: uid, gid and supplementary groups
    /// (default: the user running faultline, with its groups). Linux's
    /// permission checks apply to host files for this identity; uid 0
    /// holds every capability.
    pub identity: Option<Identity>,
    /// faultline's own messages about the program (crash reports,
    /// unsupported syscalls).
    pub diag: Output,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            mem: DEFAULT_MEM,
            stack_size: DEFAULT_STACK,
            argv: Vec::new(),
            env: default_env(),
            trapped: true,
            wake: WakeMode::default(),
            syscalls: SyscallPath::default(),
            stdin: Input::Inherit,
            stdout: Output::Inherit(1),
            stderr: Output::Inherit(2),
            timeout: None,
            strace: None,
            calls: None,
            memlock_limit: DEFAULT_MEMLOCK,
            rss_limit: None,
            swap: 0,
            pin: Vec::new(),
            status: None,
            aslr: false,
            max_tasks: DEFAULT_MAX_TASKS,
            overcommit: 0,
            overcommit_ratio: 50,
            max_map_count: DEFAULT_MAX_MAP_COUNT,
            sinks: Arc::default(),
            keep_events: false,
            fill_pages: crate::mm::FILL_PAGES,
            record: true,
            stacks: false,
            fault_around: 0,
            root: PathBuf::from("/"),
            cwd: None,
            binds: Vec::new(),
            identity: None,
            diag: Output::Inherit(2),
        }
    }
}

pub use crate::kernel::files::vfs::Bind;

/// Who a program runs as (`--uid`, `--gid`, `--groups`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// Real, effective, saved and file-system uid.
    pub uid: u32,
    /// Real, effective, saved and file-system gid.
    pub gid: u32,
    /// Supplementary groups.
    pub groups: Vec<u32>,
}

impl Identity {
    /// The user running faultline, with its groups, as strace and
    /// valgrind run a program.
    pub fn of_caller() -> Self {
        let (uid, gid, groups) = crate::kernel::cred::Cred::of_host();
        Identity { uid, gid, groups }
    }

    /// User `uid` as `root`'s /etc/passwd has it: its primary group (the
    /// same number if it has no entry), no supplementary groups.
    pub fn of_user(uid: u32, root: &std::path::Path) -> Self {
        let passwd = std::fs::read_to_string(root.join("etc/passwd")).unwrap_or_default();
        let gid = passwd
            .lines()
            .map(|l| l.split(':').collect::<Vec<_>>())
            .find(|f| f.len() > 3 && f[2].parse() == Ok(uid))
            .and_then(|f| f[3].parse().ok())
            .unwrap_or(uid);
        Identity { uid, gid, groups: Vec::new() }
    }
}

/// Parses `HOST:GUEST[:ro|rw]` (read-only unless `rw`): the host path must
/// exist; the guest path must be absolute, and is normalised.
pub fn parse_bind(spec: &str) -> Result<Bind, String> {
    let mut parts: Vec<&str> = spec.split(':').collect();
    let rw = match parts.last() {
        Some(&"rw") if parts.len() == 3 => true,
        Some(&"ro") if parts.len() == 3 => false,
        _ if parts.len() == 2 => false,
        _ => return Err(format!("--bind {spec}: expected HOST:GUEST[:ro|rw]")),
    };
    parts.truncate(2);
    let (host, guest) = (parts[0], parts[1]);
    if !guest.starts_with('/') {
        return Err(format!("--bind {spec}: the guest path {guest:?} must be absolute"));
    }
    let mut comps: Vec<&str> = Vec::new();
    for c in guest.split('/').filter(|c| !c.is_empty() && *c != ".") {
        if c == ".." {
            comps.pop();
        } else {
            comps.push(c);
        }
    }
    if comps.is_empty() {
        return Err(format!("--bind {spec}: binding over / is --root's job"));
    }
    if matches!(comps[0], "proc" | "dev") {
        return Err(format!("--bind {spec}: /{} is faultline's own", comps[0]));
    }
    let host = std::fs::canonicalize(host).map_err(|e| format!("--bind {spec}: {host}: {e}"))?;
    Ok(Bind { host, guest: format!("/{}", comps.join("/")), rw })
}

/// A small, clean environment: nothing of the host's leaks in.
pub fn default_env() -> Vec<String> {
    ["PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/", "TERM=dumb", "LANG=C"].iter().map(|s| s.to_string()).collect()
}

/// Everything a run produced.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// How pid 1 ended, as a shell would see it.
    pub status: ExitStatus,
    /// Why processes were killed, in the kernel's words (pid 1's last).
    pub reports: Vec<String>,
    /// Every event, if kept ([`SandboxBuilder::keep_events`]), in order.
    pub events: Vec<Event>,
    /// Names the region of each event ([`Outcome::region_name`]).
    pub regions: RegionTable,
    /// Faults and residency per process and region.
    pub summary: Summary,
    /// pid 1's memory as /proc/PID/status and /proc/meminfo showed it.
    pub memory: MemoryReport,
    /// Why the run was stopped early, if it was.
    pub stopped: Option<Stop>,
    /// How long the run took.
    pub elapsed: Duration,
    /// What the program wrote to stdout, if captured.
    pub stdout: Vec<u8>,
    /// What the program wrote to stderr, if captured.
    pub stderr: Vec<u8>,
    /// pid 1's resource use with its reaped children's, as wait4 would
    /// give it to `/usr/bin/time`.
    pub usage: Usage,
    /// Syscalls the syscall ring's server ran without a VM exit (zero
    /// with [`SyscallPath::Exit`]).
    pub ring_calls: u64,
    /// Syscalls the ring's stub took back and sent by exit instead: the
    /// server had not taken them within ~110 µs (~40 µs if it slept), or
    /// it slept and they were pipe reads or writes, which it runs only
    /// sometimes.
    pub ring_withdrawn: u64,
}

impl Outcome {
    /// The report of how pid 1 died, if it was killed.
    pub fn report(&self) -> Option<&str> {
        match self.status {
            ExitStatus::Killed(_) => self.reports.last().map(String::as_str),
            ExitStatus::Exited(_) => None,
        }
    }

    /// The name of `e`'s region (`.bss`, `heap`, a file's path, …).
    pub fn region_name(&self, e: &Event) -> &str {
        self.regions.name(e.region)
    }

    /// Captured stdout as text (invalid UTF-8 replaced).
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// Captured stderr as text (invalid UTF-8 replaced).
    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

/// Linux's own counters for a run, as getrusage(2) keeps them: pid 1's
/// and those of the children it waited for (what wait4 gives a parent,
/// and `/usr/bin/time` prints). Its [`Display`](std::fmt::Display) is one
/// line in /usr/bin/time's words.
///
/// ```
/// use faultline::{Program, Sandbox};
///
/// let outcome = Sandbox::builder(Program::demo()).build()?.run()?;
/// let u = outcome.usage;
/// // Every fault of the program is a minor or major one.
/// assert_eq!(u.minor_faults + u.major_faults, outcome.summary.guest_faults() + 1);
/// assert!(u.to_string().contains("maxresident"));
/// # Ok::<(), faultline::Error>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Usage {
    /// Faults served without reading anything in (ru_minflt).
    pub minor_faults: u64,
    /// Faults that read a file or swap (ru_majflt).
    pub major_faults: u64,
    /// The most resident at once, in KiB (ru_maxrss).
    pub max_resident_kib: u64,
    /// Times a thread blocked (ru_nvcsw).
    pub voluntary_switches: u64,
    /// Times a thread was preempted (ru_nivcsw).
    pub involuntary_switches: u64,
    /// Time in the program's own code.
    pub user: Duration,
    /// Time faultline's kernel spent for it.
    pub system: Duration,
    /// Wall time, start to end.
    pub elapsed: Duration,
}

impl std::fmt::Display for Usage {
    /// `0:00.21 elapsed, 0.01 user, 0.03 system; 3036 KiB maxresident; 9
    /// major + 120 minor pagefaults; 12 voluntary + 3 involuntary context
    /// switches`: what `/usr/bin/time -f '%E elapsed, %U user, %S system;
    /// %M KiB maxresident; %F major + %R minor pagefaults; %w voluntary +
    /// %c involuntary context switches'` prints for a native run.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let e = self.elapsed.as_secs_f64();
        let (h, m, s) = ((e / 3600.0) as u64, (e / 60.0) as u64 % 60, e % 60.0);
        let elapsed = if h > 0 { format!("{h}:{m:02}:{s:05.2}") } else { format!("{m}:{s:05.2}") };
        write!(
            f,
            "{elapsed} elapsed, {:.2} user, {:.2} system; {} KiB maxresident; {} major + {} minor pagefaults; {} \
             voluntary + {} involuntary context switches",
            self.user.as_secs_f64(),
            self.system.as_secs_f64(),
            self.max_resident_kib,
            self.major_faults,
            self.minor_faults,
            self.voluntary_switches,
            self.involuntary_switches
        )
    }
}

/// A running sandbox's figures, for a progress line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    /// Timeline rows so far.
    pub events: u64,
    /// Frames resident now (all processes, page cache included).
    pub resident_pages: u64,
    /// Processes alive now.
    pub processes: usize,
}

/// Reads [`Progress`] from another thread while the sandbox runs.
#[derive(Clone)]
pub struct ProgressProbe(Arc<Kernel>);

impl ProgressProbe {
    /// The figures now.
    pub fn read(&self) -> Progress {
        let k = self.0.lock();
        Progress { events: k.recorder.events(), resident_pages: k.phys.counters.resident, processes: k.procs.len() }
    }

    /// A `vmstat` line over the interval since the last call: the first
    /// call gives vmstat's two header lines and a line since the start.
    pub fn vmstat(&self) -> String {
        self.0.lock().vmstat_next()
    }

    /// Draws `text` on stderr as a status line (faultline's progress
    /// line): the program's next output to the terminal clears it first,
    /// and none is drawn over a line the program has begun.
    pub fn show_line(&self, text: &str) {
        crate::kernel::files::STATUS_LINE.lock().unwrap_or_else(|p| p.into_inner()).show(text);
    }

    /// Erases the status line, if one is shown.
    pub fn clear_line(&self) {
        crate::kernel::files::STATUS_LINE.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    /// top's table of the processes alive now.
    pub fn top_live(&self) -> String {
        crate::kernel::live::top_table(&self.0.lock().top_live())
    }

    /// top's table of every process that ran, each as it was when it ended
    /// (after the run: all of them have).
    pub fn top_exited(&self) -> String {
        crate::kernel::live::top_table(&self.0.lock().top_exited)
    }
}

/// One VM and one kernel, with the program loaded as pid 1 and ready to
/// run: made by [`Sandbox::builder`] (or [`Sandbox::new`]), used up by
/// [`Sandbox::run`].
pub struct Sandbox {
    kernel: Arc<Kernel>,
    machine: Arc<vcpu::Machine>,
    config: Config,
    kept: Option<crate::timeline::KeepEvents>,
}

impl Sandbox {
    /// A handle for watching the run's progress.
    pub fn probe(&self) -> ProgressProbe {
        ProgressProbe(self.kernel.clone())
    }

    /// Runs the program to its end (or until the timeout), and every
    /// process it starts, and returns what happened.
    ///
    /// ```
    /// use faultline::{ExitStatus, Program, Sandbox};
    ///
    /// let outcome = Sandbox::builder(Program::demo()).keep_events().build()?.run()?;
    /// assert_eq!(outcome.status, ExitStatus::Exited(0));
    /// assert!(outcome.stdout_text().starts_with("faultline demo"));
    /// // Every kept event names its region; the summary counts them.
    /// let bss = outcome.events.iter().filter(|e| e.is_guest_fault() && outcome.region_name(e) == ".bss").count();
    /// assert_eq!(bss as u64, outcome.summary.region(".bss").unwrap().faults());
    /// # Ok::<(), faultline::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Aborted`], with the outcome so far, when faultline itself
    /// fails while the program runs ([`Error::Failed`] if not even that
    /// can be had); the program's own failures are in the [`Outcome`].
    pub fn run(self) -> Result<Outcome, Error> {
        self.run_with(None)
    }

    /// Runs the program; `interrupt` stops it early when set (faultline's
    /// SIGINT handling), with the signal given.
    pub fn run_with(self, interrupt: Option<&std::sync::atomic::AtomicI32>) -> Result<Outcome, Error> {
        let start = Instant::now();
        let failed = Arc::new(AtomicBool::new(false));
        let f2 = failed.clone();
        let k2 = self.kernel.clone();
        let uffd = self.kernel.lock().uffd.clone();
        let uffd2 = uffd.clone();
        // The handler and the ring's server spin only where a CPU is free
        // for them, one at a time on 2 cores (fault::spin).
        let gate = Arc::new(crate::fault::SpinGate::default());
        let wake = self.config.wake;
        let cpu = match wake {
            WakeMode::Colocated => crate::hv::current_cpu(),
            _ => None,
        };
        let handler = if self.config.trapped {
            let sink = crate::kernel::uffd::KernelSink::new(self.kernel.clone());
            Some(
                Handler::start(uffd, sink, wake, cpu, gate.clone(), move || {
                    f2.store(true, Ordering::Release);
                    k2.stop_all(Stop::Failure("the fault handler died".into()));
                    // Nobody serves faults now: let every waiter go, or a
                    // vCPU parked on one would never leave KVM_RUN.
                    if let Err(e) = uffd2.abandon() {
                        k2.lock().diag(&format!("cannot let go of guest RAM: {e}"));
                    }
                })
                .map_err(Error::Thread)?,
            )
        } else {
            None
        };
        if self.config.syscalls != SyscallPath::Exit {
            let doorbell = self.machine.vm.doorbell(crate::arch::layout::DOORBELL_GPA)?;
            let server = ring::RingServer::start(self.kernel.clone(), self.machine.ring_mem.clone(), doorbell, gate)
                .map_err(Error::Thread)?;
            let _ = self.machine.ring.set(server);
        }
        self.machine.spawn_pending(&self.kernel)?;
        let deadline = self.config.timeout.map(|t| start + t);
        loop {
            let next_timer = self.kernel.fire_timers();
            let mut wake = [deadline, next_timer].into_iter().flatten().min();
            if interrupt.is_some() {
                let tick = Instant::now() + Duration::from_millis(50);
                wake = Some(wake.map_or(tick, |w| w.min(tick)));
            }
            if self.kernel.wait_done(wake) {
                break;
            }
            if let Err(e) = self.machine.spawn_pending(&self.kernel) {
                self.kernel.stop_all(Stop::Failure(e.to_string()));
            }
            if let Some(sig) = interrupt.as_ref().map(|i| i.load(Ordering::Acquire)).filter(|&s| s != 0) {
                self.kernel.stop_all(Stop::Signal(sig));
                break;
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                self.kernel.stop_all(Stop::Timeout(self.config.timeout.unwrap_or_default()));
                break;
            }
        }
        // Every other process dies with pid 1 (or with the stop).
        self.kernel.stop_all_quietly();
        let gone = self.kernel.wait_threads_gone(Instant::now() + Duration::from_secs(5));
        let handler_result = handler.map(|h| h.stop()).unwrap_or(Ok(()));
        if let Some(server) = self.machine.ring.get() {
            server.stop();
        }
        let mut k = self.kernel.lock();
        k.check_host();
        if !gone {
            k.stop.get_or_insert(Stop::Failure("threads did not stop".into()));
        }
        let stopped = k.stop.clone();
        if let Err(e) = k.recorder.finish() {
            return Err(Error::Failed(format!("cannot write the timeline: {e}")));
        }
        let failure = match (&stopped, handler_result) {
            (Some(Stop::Failure(why)), Err(e)) if failed.load(Ordering::Acquire) => Some(format!("{why}: {e}")),
            (Some(Stop::Failure(why)), _) => Some(why.clone()),
            (_, r) => {
                r?;
                None
            }
        };
        if failure.is_some() {
            // Processes a stuck thread kept from exiting: their counts so far.
            let live: Vec<crate::kernel::Pid> = k.procs.values().filter(|p| !p.is_zombie()).map(|p| p.pid).collect();
            for pid in live {
                if !k.summaries.iter().any(|s| s.pid == pid) {
                    let s = k.snapshot(pid);
                    k.summaries.push(s);
                }
            }
        }
        let status = match (&stopped, k.init_status) {
            (Some(Stop::Timeout(_)), _) => ExitStatus::Killed(crate::kernel::signal::SIGKILL),
            (Some(Stop::Signal(s)), _) => ExitStatus::Killed(*s),
            (_, Some(s)) => s,
            (_, None) => ExitStatus::Killed(crate::kernel::signal::SIGKILL),
        };
        let mut reports = k.reports.clone();
        // pid 1's summary is there once it has ended; a thread that would
        // not stop kept it alive, but its name is still known.
        let comm = k
            .summaries
            .iter()
            .find(|s| s.pid == 1)
            .map(|s| s.comm.as_str())
            .or(k.procs.get(&1).map(|p| p.comm.as_str()))
            .map_or("?".into(), crate::text::tame);
        let why = match &stopped {
            Some(Stop::Timeout(t)) => {
                Some(format!("{comm}[1]: killed after the {:.1} s timeout; killed by SIGKILL", t.as_secs_f64()))
            }
            // The signal is named once, as the status it gives.
            Some(Stop::Signal(s)) => Some(format!(
                "{comm}[1]: faultline was {}, and stopped the program and everything it started; killed by {}",
                match *s {
                    libc::SIGINT => "interrupted",
                    libc::SIGHUP => "hung up on",
                    _ => "told to stop",
                },
                crate::kernel::signal::name(*s)
            )),
            _ => None,
        };
        if let Some(line) = why {
            k.diag(&line);
            reports.push(line);
        }
        let mut processes = k.summaries.clone();
        processes.sort_by_key(|p| p.pid);
        let summary = Summary {
            processes,
            peak_resident_pages: k.phys.counters.peak_resident,
            end_resident_pages: k.init_end_resident.unwrap_or(k.phys.counters.resident),
        };
        let memory = k.init_memory.unwrap_or_default();
        let r = k.init_usage.unwrap_or_default();
        let usage = Usage {
            minor_faults: r.minflt,
            major_faults: r.majflt,
            max_resident_kib: r.maxrss * 4,
            voluntary_switches: r.nvcsw,
            involuntary_switches: r.nivcsw,
            user: Duration::from_nanos(r.utime_ns),
            system: Duration::from_nanos(r.stime_ns),
            elapsed: start.elapsed(),
        };
        let regions = k.recorder.regions().clone();
        drop(k);
        let events = self.kept.map(|k| k.take()).unwrap_or_default();
        let (stdout, stderr) = (self.config.stdout.captured_bytes(), self.config.stderr.captured_bytes());
        let ring = self.machine.ring.get();
        let ring_calls = ring.map_or(0, |r| r.stats.served.load(Ordering::Relaxed));
        let ring_withdrawn = ring.map_or(0, |r| r.stats.withdrawn.load(Ordering::Relaxed));
        let outcome = Outcome {
            status,
            reports,
            events,
            regions,
            summary,
            memory,
            stopped,
            elapsed: start.elapsed(),
            stdout,
            stderr,
            usage,
            ring_calls,
            ring_withdrawn,
        };
        match failure {
            Some(why) => Err(Error::Aborted { why, partial: Box::new(outcome) }),
            None => Ok(outcome),
        }
    }
}
