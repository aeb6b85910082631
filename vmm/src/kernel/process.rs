//! A process: its address space, files, signal handlers, limits, children
//! and how it ended. Threads of the process share all of this; clone
//! shares the address space, the descriptors, the file-system context and
//! the handlers with other processes when asked to.

use std::sync::Arc;
use std::time::Instant;

use parking_lot::{Mutex, MutexGuard};

use super::abi::wait::WCOREFLAG;
use super::files::FdTable;
use super::limits::Limits;
use super::signal::{SigHand, SigPending};
use super::wait::WaitQueue;
use crate::mm::MmId;

pub(crate) type Pid = u32;
pub(crate) type Tid = u32;

/// How a process ended, as wait(2) reports it and a shell shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitStatus {
    /// exit(code) (the low 8 bits).
    Exited(i32),
    /// Killed by this signal.
    Killed(i32),
    /// Killed by this signal, which left a core file (WCOREDUMP,
    /// CLD_DUMPED): see the kernel's `coredump` module for when.
    Dumped(i32),
}

impl ExitStatus {
    /// The shell's `$?`: the status, or 128 + the signal.
    pub fn code(self) -> i32 {
        match self {
            ExitStatus::Exited(c) => c,
            ExitStatus::Killed(s) | ExitStatus::Dumped(s) => 128 + s,
        }
    }

    /// The signal that killed it, if one did.
    pub fn signal(self) -> Option<i32> {
        match self {
            ExitStatus::Exited(_) => None,
            ExitStatus::Killed(s) | ExitStatus::Dumped(s) => Some(s),
        }
    }

    /// What waitid's siginfo says: CLD_EXITED, CLD_KILLED or CLD_DUMPED,
    /// and the exit code or signal.
    pub fn cld(self) -> (i32, i32) {
        use super::abi::wait::{CLD_DUMPED, CLD_EXITED, CLD_KILLED};
        match self {
            ExitStatus::Exited(c) => (CLD_EXITED, c),
            ExitStatus::Killed(s) => (CLD_KILLED, s),
            ExitStatus::Dumped(s) => (CLD_DUMPED, s),
        }
    }

    /// The status word wait4 stores (`WIFEXITED`, `WTERMSIG`, …).
    pub(crate) fn wait_status(self) -> i32 {
        match self {
            ExitStatus::Exited(c) => (c & 0xff) << 8,
            ExitStatus::Killed(s) => s & 0x7f,
            ExitStatus::Dumped(s) => (s & 0x7f) | WCOREFLAG,
        }
    }
}

/// Where a process is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ProcState {
    Running,
    /// Exited, waiting for its parent to reap it.
    Zombie(ExitStatus),
}

/// Resource use, as getrusage reports it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Rusage {
    pub minflt: u64,
    pub majflt: u64,
    /// Time in the guest and in faultline's kernel, in nanoseconds.
    pub utime_ns: u64,
    pub stime_ns: u64,
    pub nvcsw: u64,
    pub nivcsw: u64,
    /// Largest RSS, in pages.
    pub maxrss: u64,
}

impl Rusage {
    pub(crate) fn add(&mut self, o: &Rusage) {
        self.minflt += o.minflt;
        self.majflt += o.majflt;
        self.utime_ns += o.utime_ns;
        self.stime_ns += o.stime_ns;
        self.nvcsw += o.nvcsw;
        self.nivcsw += o.nivcsw;
        self.maxrss = self.maxrss.max(o.maxrss);
    }
}

/// A program's argv as the kernel keeps a copy of it.
#[derive(Debug, Default)]
pub(crate) struct Cmdline {
    pub(crate) bytes: Vec<u8>,
    /// Held for the copy's life: dropping it returns the charge.
    pub(crate) _kmem: Option<crate::mm::KmemCharge>,
}

pub(crate) struct Process {
    pub(crate) pid: Pid,
    pub(crate) ppid: Pid,
    pub(crate) pgid: Pid,
    pub(crate) sid: Pid,
    /// The program name (15 bytes at most), as `comm` shows it.
    pub comm: String,
    /// Absolute path of the program, for /proc/PID/exe.
    pub(crate) exe: String,
    /// argv, NUL-separated, for /proc/PID/cmdline: shared by fork,
    /// charged to kernel memory (execve's argv can be megabytes).
    pub(crate) cmdline: std::sync::Arc<Cmdline>,
    pub mm: MmId,
    pub(crate) files: FdTable,
    /// The working directory and umask (CLONE_FS shares them).
    pub(crate) fs: FsContext,
    /// Who the process is and what it may do.
    pub(crate) cred: super::cred::Cred,
    pub(crate) limits: Limits,
    pub(crate) sig: SigHand,
    pub(crate) shared_pending: SigPending,
    pub(crate) threads: Vec<super::Tid>,
    pub(crate) children: Vec<Pid>,
    pub(crate) state: ProcState,
    /// Signal sent to the parent at exit (SIGCHLD, or clone's choice).
    pub(crate) exit_signal: i32,
    /// A vfork parent thread waits until this process execs or exits.
    pub(crate) vfork_parent: Option<super::Tid>,
    /// Has exec'd since its fork: its parent may no longer move it to
    /// another process group (setpgid's EACCES).
    pub(crate) did_exec: bool,
    /// Set when the whole process is exiting (exit_group, a fatal signal):
    /// every thread stops at its next chance.
    pub group_exit: Option<ExitStatus>,
    pub(crate) oom_score_adj: i32,
    /// Whether a fatal signal may dump its core (Linux keeps it, and the
    /// filter below, in mm->flags: fork copies them, execve keeps the
    /// filter and sets this afresh; a change of identity clears it).
    pub(crate) dumpable: bool,
    /// /proc/PID/coredump_filter: the kinds of mapping a core holds.
    pub(crate) coredump_filter: u32,
    pub(crate) started: Instant,
    pub(crate) rusage: Rusage,
    /// Reaped children's resource use (RUSAGE_CHILDREN).
    pub(crate) children_rusage: Rusage,
    /// Threads waiting in wait4 for a child of this process.
    pub(crate) child_wait: WaitQueue,
    /// Killed by the OOM killer.
    pub(crate) oom_killed: bool,
    /// ITIMER_REAL: when SIGALRM is due, and its interval.
    pub(crate) itimer_real: Option<(Instant, std::time::Duration)>,
    /// ITIMER_VIRTUAL, ITIMER_PROF and the POSIX timers.
    pub(crate) timers: super::timers::ProcTimers,
    /// The time namespace its clocks are read in, and the one its
    /// children (and its next execve) enter.
    pub(crate) time_ns: std::sync::Arc<super::timens::TimeNs>,
    pub(crate) time_ns_for_children: std::sync::Arc<super::timens::TimeNs>,
    /// The network namespace it makes sockets in (kernel::net::ns).
    pub(crate) net: std::sync::Arc<super::net::Net>,
    /// Stopped or continued (job control).
    pub(crate) jobctl: super::jobctl::JobCtl,
}

/// A part of a process that clone may share with other processes
/// (files_struct, fs_struct, sighand_struct): held by reference, so what
/// one holder changes the others see. Its lock is never contended (the
/// kernel lock is held); it is there for Rust's borrow rules. Not Clone:
/// a holder either shares it or copies it, as clone's flags say.
#[derive(Debug, Default)]
pub(crate) struct Shared<T>(Arc<Mutex<T>>);

impl<T> Shared<T> {
    pub(crate) fn new(t: T) -> Self {
        Shared(Arc::new(Mutex::new(t)))
    }

    /// Held briefly, never across a call that may lock it again.
    pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
        self.0.lock()
    }

    /// Another holder of the same part (clone with its CLONE_* flag).
    pub(crate) fn share(&self) -> Self {
        Shared(self.0.clone())
    }

    /// How many processes hold it (Linux's count or users).
    pub(crate) fn sharers(&self) -> usize {
        Arc::strong_count(&self.0)
    }
}

impl<T: Clone> Shared<T> {
    /// A copy of its own (clone without the flag).
    pub(crate) fn copy(&self) -> Self {
        Shared::new(self.lock().clone())
    }

    /// unshare(): the holder's own copy, if others hold it too.
    pub(crate) fn unshare(&mut self) {
        if self.sharers() > 1 {
            *self = self.copy();
        }
    }
}

/// The file-system context (Linux's fs_struct): the working directory,
/// the directory itself whatever its name becomes, and the umask. There
/// is no chroot, so no root of its own.
#[derive(Clone, Debug)]
pub(crate) struct Fs {
    pub(crate) cwd: super::files::vfs::Lookup,
    pub(crate) umask: u32,
}

pub(crate) type FsContext = Shared<Fs>;

impl FsContext {
    pub(crate) fn cwd(&self) -> super::files::vfs::Lookup {
        self.lock().cwd.clone()
    }

    pub(crate) fn umask(&self) -> u32 {
        self.lock().umask
    }
}

impl Process {
    pub(crate) fn is_zombie(&self) -> bool {
        matches!(self.state, ProcState::Zombie(_))
    }
}

/// The file name of `path`, as `comm` keeps it (15 bytes).
pub(crate) fn comm_of(path: &str) -> String {
    let base = path.rsplit('/').next().unwrap_or(path);
    let mut s = String::new();
    for c in base.chars() {
        if s.len() + c.len_utf8() > 15 {
            break;
        }
        s.push(c);
    }
    s
}
