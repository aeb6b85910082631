//! How to run a program, as plain data: the program, its settings and
//! defaults, who it runs as, and the host paths bound into its view.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::fault::WakeMode;
use crate::kernel::abi::mman::OVERCOMMIT_GUESS;
use crate::kernel::files::{Input, Output};
use crate::kernel::strace::Strace;
use crate::mm::PageCache;
use crate::timeline::EventSink;

/// Default guest RAM: a small machine's (programs and test suites that
/// check for 512 MiB available find it). Pages are backed only when touched,
/// so a larger budget costs nothing until the program uses it.
pub const DEFAULT_MEM: u64 = 1 << 30;
/// Default fault-around window: Linux's fault_around_bytes.
pub const DEFAULT_FAULT_AROUND: u64 = 64 << 10;
/// Default stack size (RLIMIT_STACK's usual 8 MiB).
pub const DEFAULT_STACK: u64 = 8 << 20;
/// Default RLIMIT_MEMLOCK, as on current Linux.
pub const DEFAULT_MEMLOCK: u64 = 8 << 20;
/// Default cap on processes and threads at once.
pub const DEFAULT_MAX_TASKS: u32 = 256;
/// Linux's vm.max_map_count default.
pub const DEFAULT_MAX_MAP_COUNT: usize = 65_530;

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
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyscallPath {
    /// Every call is a VM exit (~45 µs here).
    Exit,
    /// Through the shared-memory syscall ring (see `sandbox::ring`): no
    /// exit for calls that cannot block (~1.5 µs here); the rest, the
    /// first call of each thread, and calls the server did not take within
    /// ~110 µs, take an exit. The default where the architecture has a
    /// ring stub (x86-64; arm64 has none yet).
    Ring,
    /// The ring with its pages for ring 0, and `syscall`'s entry into ring
    /// 0 done by hand where the hypervisor keeps it in ring 3 (PVM): runs
    /// the path bare-metal KVM takes. For tests; slow under emulation.
    RingCpl0,
}

impl Default for SyscallPath {
    fn default() -> Self {
        if crate::arch::ring::SUPPORTED {
            SyscallPath::Ring
        } else {
            SyscallPath::Exit
        }
    }
}

impl std::fmt::Display for SyscallPath {
    /// As `--syscalls` spells it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SyscallPath::Exit => "exit",
            SyscallPath::Ring => "ring",
            SyscallPath::RingCpl0 => "ring-cpl0",
        })
    }
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

/// How to run a program, as plain data: what [`SandboxBuilder`](super::SandboxBuilder) fills in
/// and the command line builds. [`Sandbox::new`](super::Sandbox::new) checks it with
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
    /// `fault-around` row. 64 KiB by default, as Linux's; 0 keeps one
    /// fault per page touched. Rounded down to a power of two, at most
    /// 2 MiB (one page table).
    pub fault_around: u64,
    /// What the guest's page cache holds of host files at the start:
    /// nothing by default (counts that do not depend on the host's memory),
    /// every page, or what the host's own cache holds.
    pub page_cache: PageCache,
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
            overcommit: OVERCOMMIT_GUESS,
            overcommit_ratio: 50,
            max_map_count: DEFAULT_MAX_MAP_COUNT,
            sinks: Arc::default(),
            keep_events: false,
            fill_pages: crate::mm::FILL_PAGES,
            record: true,
            stacks: false,
            fault_around: DEFAULT_FAULT_AROUND,
            page_cache: PageCache::Cold,
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
