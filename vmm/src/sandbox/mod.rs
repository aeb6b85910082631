//! One program, one VM: build the guest (`setup.rs`), run it and handle
//! what it asks of the VMM (`run.rs`), report what its memory did.

mod run;
mod setup;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::abi::exec::{initial_stack, ExecInfo};
use crate::abi::limits::Limits;
pub use crate::abi::procfs::MemoryReport;
use crate::abi::{self, Action, Input, Output, Strace, Task};
use crate::arch::layout::*;
use crate::arch::paging::PageTables;
use crate::arch::trap::{self, pf, Signal, TrapFrame};
use crate::arch::{cpu, tables, PAGE_SIZE};
use crate::fault::{Backing, BackingMode, Budget, FaultError, Handler, WakeMode};
use crate::loader::{plan_pages, Image, LoadError};
use crate::mm::{AddressSpace, FrameAllocator, MapError, RegionKind, RegionTable, Vma, VmaKind};
use crate::timeline::{summarize, Event, Summary};
use crate::vm::{Exit, HostMapping, Kicker, Vcpu, Vm, VmError};

/// Default guest RAM.
pub const DEFAULT_MEM: u64 = 256 << 20;
/// Default stack size (RLIMIT_STACK's usual 8 MiB).
pub const DEFAULT_STACK: u64 = 8 << 20;
/// Top of the stack: the end of the user half, as Linux without ASLR.
pub const STACK_TOP: u64 = USER_TOP;
/// How much stack Linux maps beyond the arguments at exec (setup_arg_pages).
pub const STACK_EXPAND: u64 = 128 << 10;
/// Default RLIMIT_MEMLOCK, as on current Linux.
pub const DEFAULT_MEMLOCK: u64 = 8 << 20;
/// Guest-physical space for mappings: four times RAM plus swap, at least
/// 1 GiB. Larger than RAM so that programs can map more than they touch, as
/// Linux overcommits (its heuristic also refuses what is far beyond RAM
/// plus swap); untouched frames cost the host nothing.
pub fn phys_window(mem: u64, swap: u64) -> u64 {
    mem.saturating_add(swap).saturating_mul(4).max(1 << 30).max(mem)
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Vm(#[from] VmError),
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error(transparent)]
    Fault(#[from] FaultError),
    #[error(transparent)]
    Map(#[from] MapError),
    #[error(transparent)]
    Paging(#[from] crate::arch::paging::PagingError),
    #[error(
        "{path}: needs {needed} pages ({needed_kib} KiB) of image, but --mem gives {available} pages; raise --mem"
    )]
    TooBig { path: String, needed: u64, needed_kib: u64, available: u64 },
    #[error("--mem {0} is not a positive multiple of 4 KiB")]
    BadMem(u64),
    #[error("--pin {0}: no such region (try .text, .data, .bss, heap, stack or all)")]
    BadPin(String),
    #[error("--pin {0} pins more pages than --mem / --rss-limit lets be resident; pin less or raise them")]
    PinTooBig(String),
    #[error("the shim faulted: {0}")]
    Shim(String),
    #[error("the guest stopped unexpectedly: {0}")]
    UnexpectedExit(String),
    #[error("cannot start a thread: {0}")]
    Thread(#[source] std::io::Error),
}

/// How to run a program.
#[derive(Clone, Debug)]
pub struct Config {
    /// Guest RAM in bytes.
    pub mem: u64,
    pub stack_size: u64,
    /// argv[0] first.
    pub argv: Vec<String>,
    pub env: Vec<String>,
    pub backing: BackingMode,
    pub wake: WakeMode,
    pub stdin: Input,
    pub stdout: Output,
    pub stderr: Output,
    /// Kill the program after this long.
    pub timeout: Option<Duration>,
    /// Print each syscall here.
    pub strace: Option<Strace>,
    /// RLIMIT_MEMLOCK.
    pub memlock_limit: u64,
    /// Absolute path /proc/self/exe shows (default: the image's path).
    pub exe: Option<String>,
    /// Most resident pages, in bytes (default: all of `mem`).
    pub rss_limit: Option<u64>,
    /// Swap store size in bytes (host memory).
    pub swap: u64,
    /// Regions to populate and pin at load (`.text`, `heap`, `stack`, `all`, …).
    pub pin: Vec<String>,
    /// Print a memory status line at each reclaim pass.
    pub status: Option<Output>,
    /// Randomise the brk start and mmap_base as Linux's ASLR does (off:
    /// timelines stay identical from run to run).
    pub aslr: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            mem: DEFAULT_MEM,
            stack_size: DEFAULT_STACK,
            argv: Vec::new(),
            env: default_env(),
            backing: BackingMode::Trapped,
            wake: WakeMode::default(),
            stdin: Input::Inherit,
            stdout: Output::Inherit(1),
            stderr: Output::Inherit(2),
            timeout: None,
            strace: None,
            memlock_limit: DEFAULT_MEMLOCK,
            exe: None,
            rss_limit: None,
            swap: 0,
            pin: Vec::new(),
            status: None,
            aslr: false,
        }
    }
}

/// A small, clean environment: nothing of the host's leaks in.
pub fn default_env() -> Vec<String> {
    ["PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/", "TERM=dumb", "LANG=C"].iter().map(|s| s.to_string()).collect()
}

/// How the program ended, as a shell would see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitStatus {
    Exited(i32),
    Killed(Signal),
}

impl ExitStatus {
    /// The shell's `$?`: the status, or 128 + the signal.
    pub fn code(self) -> i32 {
        match self {
            ExitStatus::Exited(c) => c,
            ExitStatus::Killed(s) => 128 + s.number,
        }
    }
}

/// Everything a run produced.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub status: ExitStatus,
    /// Why the program was killed, in the kernel's words.
    pub report: Option<String>,
    pub events: Vec<Event>,
    pub regions: RegionTable,
    pub summary: Summary,
    /// The program's memory as /proc/PID/status and /proc/meminfo show it.
    pub memory: MemoryReport,
    /// Pages resident when the program ended, by guest-virtual address.
    pub resident: std::collections::BTreeSet<u64>,
}

pub struct Sandbox {
    // Field order is drop order: the VM goes before the memory it maps.
    vcpu: Vcpu,
    // Held only to keep the VM (and its slots) alive while the vCPU runs.
    _vm: Vm,
    task: Task,
    sys: Arc<HostMapping>,
    config: Config,
}

/// Writes `bytes` into the system slot.
fn sys_write(sys: &HostMapping, gpa: u64, bytes: &[u8]) -> Result<(), Error> {
    sys.write(gpa, bytes).map_err(|e| Error::Shim(format!("system slot write: {e}")))
}

fn random_bytes() -> [u8; 16] {
    let mut b = [0u8; 16];
    // SAFETY: writing into a 16-byte buffer.
    let n = unsafe { libc::getrandom(b.as_mut_ptr().cast(), 16, 0) };
    if n != 16 {
        let t = Instant::now().elapsed().as_nanos() as u64 ^ std::process::id() as u64;
        b[..8].copy_from_slice(&t.to_le_bytes());
    }
    b
}
