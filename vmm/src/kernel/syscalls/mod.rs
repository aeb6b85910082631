//! The Linux system calls, one table: each entry has the call's number,
//! name, argument signature (for strace), class (for `-e trace=%…`) and
//! handler, declared once. Handlers live in one file per family and cite
//! the Linux function they follow. A call without a handler returns
//! -ENOSYS, reported once per number.

mod attr;
mod clone;
pub(crate) mod cred;
mod dir;
mod epoll;
mod eventfd;
mod exec;
mod exit;
mod fcntl;
mod file_io;
mod futex;
mod ids;
pub(crate) mod io;
mod kill;
pub(crate) mod limits;
mod memfd;
mod mknod;
pub(crate) mod mm;
mod mount;
mod namei;
mod open;
pub(crate) use open::open_core_file;
pub(crate) mod poll;
mod prctl;
mod proc_io;
mod rusage;
pub(crate) mod sched;
mod shm;
pub(crate) mod signal;
mod socket;
pub(crate) mod sockmsg;
mod sockopt;
mod stat;
pub(crate) mod system;
mod table;
pub(crate) mod time;
mod timers;
mod wait;
mod xattr;

// syscalls/mm.rs names the seal check by its old home.

use crate::arch::ring::CallMaps;
use crate::arch::{SyscallAbi, SYSCALL_ABI};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::errno::*;
use super::process::Pid;
use super::task::Ctx;
use super::KernelState;

bitflags::bitflags! {
    /// strace's syscall classes.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct Class: u16 {
        const MEMORY = 1;
        const FILE = 2;
        const DESC = 4;
        const PROCESS = 8;
        const SIGNAL = 16;
        const IPC = 32;
        const NETWORK = 64;
        const CLOCK = 128;
    }
}

/// How an argument is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Arg {
    Int,
    Long,
    Hex,
    Ptr,
    Fd,
    Path,
    /// A buffer the call reads, its length in argument n.
    InBuf(usize),
    /// A buffer the call fills, its length in argument n (shown after).
    OutBuf(usize),
    Prot,
    MapFlags,
    OpenFlags,
    Mode,
    Madvise,
    Signal,
    SigHow,
    Clock,
    ArchPrctl,
    Resource,
    CloneFlags,
    FutexOp,
    Whence,
    Fcntl,
    WaitOpts,
    /// A socket's address family.
    Family,
    /// A socket's type with SOCK_NONBLOCK and SOCK_CLOEXEC.
    SockType,
    /// The send and receive flags.
    MsgFlags,
    /// A socket option's level.
    SockLevel,
    /// A socket option's name (the level is argument 1).
    SockOpt,
    /// shutdown's how.
    ShutHow,
    /// epoll_ctl's operation.
    EpollOp,
}

/// How the result is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ret {
    Int,
    Hex,
}

pub(crate) type Handler = fn(&mut Ctx, [u64; 6]) -> SysResult;

/// Whether the syscall ring's server may run a call while the thread's
/// vCPU waits in the stub, or the thread must take the exit path (see
/// `sandbox::ring`). The server runs only calls that never sleep in
/// faultline's kernel and change nothing of the caller but RAX and memory:
/// not the registers, the FPU or TLS, and no thread comes or goes.
#[derive(Clone, Copy)]
pub(crate) enum Ring {
    Exit,
    Serve,
    /// Served when this holds for the calling process and the arguments.
    ServeIf(fn(&KernelState, Pid, &[u64; 6]) -> bool),
}

/// A call's number in each table Linux has for 64-bit guests; `u16::MAX`
/// where that table lacks the call.
#[derive(Clone, Copy)]
pub(crate) struct Nrs {
    pub x86_64: u16,
    pub generic: u16,
}

impl Nrs {
    /// The number in `abi`'s table.
    pub(crate) fn of(self, abi: SyscallAbi) -> Option<u64> {
        let n = match abi {
            SyscallAbi::X86_64 => self.x86_64,
            SyscallAbi::Generic => self.generic,
        };
        (n != u16::MAX).then_some(u64::from(n))
    }
}

/// One system call.
pub(crate) struct Syscall {
    pub nrs: Nrs,
    pub name: &'static str,
    pub args: &'static [Arg],
    pub ret: Ret,
    pub class: Class,
    pub handler: Option<Handler>,
    pub ring: Ring,
    /// It changes nothing a /proc file shows (the views need not look again).
    pub quiet: bool,
}

impl Syscall {
    /// Its number on this guest's architecture, if it has one there.
    pub(crate) fn nr(&self) -> Option<u64> {
        self.nrs.of(SYSCALL_ABI)
    }
}

impl std::fmt::Debug for Syscall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}({:?})", self.name, self.nr())
    }
}

pub(crate) use table::TABLE;
use table::UNKNOWN;

fn index() -> &'static [Option<&'static Syscall>] {
    static INDEX: OnceLock<Vec<Option<&'static Syscall>>> = OnceLock::new();
    INDEX.get_or_init(|| {
        let mut v = vec![None; 512];
        for s in TABLE {
            if let Some(nr) = s.nr() {
                v[nr as usize] = Some(s);
            }
        }
        v
    })
}

/// restart_syscall(2)'s number: what a relative sleep a signal interrupted
/// resumes with when no handler runs.
pub(crate) fn nr_restart_syscall() -> u64 {
    by_name("restart_syscall").and_then(Syscall::nr).expect("every table has restart_syscall")
}

/// The entry for syscall `nr`.
pub(crate) fn lookup(nr: u64) -> Option<&'static Syscall> {
    index().get(usize::try_from(nr).ok()?).copied().flatten()
}

/// Where the ring's stub sends each call below 512 (`CallMaps`): straight
/// to the VMM if the server never runs it (no entry, or `Ring::Exit`);
/// to the VMM when the server sleeps if it runs it only sometimes
/// (`Ring::ServeIf`).
pub(crate) fn ring_call_maps() -> CallMaps {
    let mut maps = CallMaps::default();
    for nr in 0..512u64 {
        let (word, bit) = ((nr / 64) as usize, 1 << (nr % 64));
        match lookup(nr).map(|e| e.ring) {
            Some(Ring::Serve) => {}
            Some(Ring::ServeIf(_)) => maps.maybe[word] |= bit,
            Some(Ring::Exit) | None => maps.exit[word] |= bit,
        }
    }
    maps
}

pub(crate) fn by_name(name: &str) -> Option<&'static Syscall> {
    TABLE.iter().find(|s| s.name == name)
}

impl Ctx<'_> {
    /// Runs the call in the registers; the way back is [`Ctx::finish`]'s.
    pub(crate) fn syscall(&mut self) {
        let (nr, args) = self.regs.syscall();
        self.syscall_nr = Some(nr);
        let entry = lookup(nr);
        let start = Instant::now();
        let result = match entry.and_then(|e| e.handler) {
            Some(h) => h(self, args),
            None => self.unsupported(nr, entry),
        };
        // What the writable layer let go (or copied up) meanwhile: its
        // kernel memory follows. Growth was charged before it was made.
        let _ = self.k.charge_layer(super::mm::kmem::LayerNeed::default());
        // The SIGIOs the call's wake-ups owe, before it returns.
        self.k.deliver_sigio();
        let took = start.elapsed();
        let ret = match result {
            Ok(v) => v,
            Err(e) => e.ret(),
        };
        if let Some(log) = &self.k.cfg.calls {
            let start_ns = start.saturating_duration_since(self.k.report.recorder().start()).as_nanos() as u64;
            let record = super::strace::CallRecord {
                pid: self.pid,
                tid: self.tid,
                name: entry.map_or("unknown", |e| e.name),
                start_ns,
                dur_ns: took.as_nanos() as u64,
                ret,
            };
            log.lock().unwrap_or_else(|p| p.into_inner()).push(record);
        }
        if !self.keep_regs {
            self.regs.set_ret(ret as u64);
        }
        if !entry.is_some_and(|e| e.quiet) {
            self.k.procfs.changed();
        }
        self.trace_call(nr, entry, args, ret, took);
    }

    /// ENOSYS for a call faultline lacks. Numbers Linux has no syscall for
    /// are reported once, all together: a guest trying every number must
    /// not grow the set, or stderr, without bound.
    fn unsupported(&mut self, nr: u64, entry: Option<&'static Syscall>) -> SysResult {
        if self.k.report.first_unsupported(entry.map_or(u64::MAX, |_| nr)) {
            let name = entry.map_or_else(
                || format!("syscall {nr} (and any other number without a syscall)"),
                |e| format!("{} ({nr})", e.name),
            );
            let comm = self.proc().comm.clone();
            self.k.diag(&format!("{comm}: {name} is not supported (-ENOSYS)"));
        }
        Err(ENOSYS)
    }

    /// --strace: the call's line (or its count with -c).
    fn trace_call(&mut self, nr: u64, entry: Option<&'static Syscall>, args: [u64; 6], ret: i64, took: Duration) {
        let Some(st) = self.k.cfg.strace.clone() else { return };
        let e = entry.unwrap_or(&UNKNOWN);
        if !st.filter.matches(e) {
            return;
        }
        let gone = self.thread_gone();
        // A thread that exited made no return.
        let shown = if gone && matches!(e.name, "exit" | "exit_group") { None } else { Some(ret) };
        if st.count {
            let mut c = st.counts.lock().unwrap_or_else(|p| p.into_inner());
            let slot = c.entry(e.name).or_insert((0, 0, Default::default()));
            slot.0 += 1;
            slot.1 += u64::from(Errno::from_ret(ret).is_some());
            slot.2 += took;
            return;
        }
        let name_args = if entry.is_none() {
            let mut a = [0; 6];
            a[0] = nr;
            a[1..].copy_from_slice(&args[..5]);
            a
        } else {
            args
        };
        let mut line = super::strace::line(&self.k, self.pid, self.tid, e, name_args, shown, st.times.then_some(took));
        if shown.is_none() {
            if let Some(s) = self.k.tasks.proc(self.pid).and_then(|p| p.group_exit) {
                line.push_str(&match s {
                    super::ExitStatus::Exited(c) => format!("\n+++ exited with {c} +++"),
                    super::ExitStatus::Killed(sig) | super::ExitStatus::Dumped(sig) => {
                        format!("\n+++ killed by {} +++", super::signal::name(sig))
                    }
                });
            }
        }
        st.sink.emit(&line);
    }
}
