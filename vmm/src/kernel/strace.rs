//! The syscall log, in strace's conventions: each call with its arguments
//! decoded by its real signature (from the syscall table), its result as
//! `-1 ENOENT (No such file or directory)`, optionally its time (`-T`),
//! filtered like `-e trace=`, and a `-c` table of counts, errors and time
//! per call at the end.
//!
//! Decoding never changes what it observes: guest strings and buffers are
//! shown only as far as their pages are already resident.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::process::Pid;
use super::syscalls::{Arg, Class, Syscall};
use super::{Errno, KernelState};

/// Where strace lines go.
#[derive(Clone, Debug)]
pub enum Sink {
    /// faultline's stderr.
    Stderr,
    /// A file (shared by every thread that logs).
    File(Arc<Mutex<std::fs::File>>),
    /// Collected in memory; keep a clone of the buffer to read it.
    Capture(Arc<Mutex<Vec<u8>>>),
}

impl Sink {
    /// Writes one line (a newline is added).
    pub fn emit(&self, line: &str) {
        match self {
            Sink::Stderr => {
                let _ = writeln!(std::io::stderr().lock(), "{line}");
            }
            Sink::File(f) => {
                let _ = writeln!(f.lock().unwrap_or_else(|p| p.into_inner()), "{line}");
            }
            Sink::Capture(v) => {
                let mut v = v.lock().unwrap_or_else(|p| p.into_inner());
                v.extend_from_slice(line.as_bytes());
                v.push(b'\n');
            }
        }
    }
}

/// One syscall as the reports show it: who made it, when (ns since exec),
/// how long it took and what it returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallRecord {
    /// The calling process.
    pub pid: u32,
    /// The calling thread.
    pub tid: u32,
    /// The syscall's name.
    pub name: &'static str,
    /// When it was entered, in ns since exec.
    pub start_ns: u64,
    /// How long it took, in ns.
    pub dur_ns: u64,
    /// What it returned (`-errno` on failure).
    pub ret: i64,
}

/// Where the syscalls of a run are collected, when a report wants them.
pub type CallLog = Arc<Mutex<Vec<CallRecord>>>;

/// Per syscall name: calls, errors, total time.
type Counts = BTreeMap<&'static str, (u64, u64, Duration)>;

/// Which calls are traced (`-e trace=`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filter {
    /// None: every call.
    pub(crate) classes: Option<Class>,
    pub(crate) names: BTreeSet<String>,
    /// `!` in front: everything but these.
    pub(crate) negate: bool,
}

impl Filter {
    /// Parses strace's `-e trace=` expression: names and `%classes`,
    /// comma-separated, optionally negated with a leading `!`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.strip_prefix("trace=").unwrap_or(s);
        let (negate, s) = match s.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, s),
        };
        let mut f = Filter { classes: None, names: BTreeSet::new(), negate };
        for item in s.split(',').filter(|i| !i.is_empty()) {
            let class = match item.trim_start_matches('%') {
                "memory" => Some(Class::MEMORY),
                "file" => Some(Class::FILE),
                "desc" => Some(Class::DESC),
                "process" => Some(Class::PROCESS),
                "signal" => Some(Class::SIGNAL),
                "ipc" => Some(Class::IPC),
                "network" | "net" => Some(Class::NETWORK),
                "all" => Some(Class::all()),
                _ if item.starts_with('%') => return Err(format!("unknown syscall class {item:?}")),
                _ => None,
            };
            match class {
                Some(c) => f.classes = Some(f.classes.unwrap_or(Class::empty()) | c),
                None => {
                    if super::syscalls::by_name(item).is_none() {
                        return Err(format!("unknown syscall {item:?}"));
                    }
                    f.names.insert(item.to_string());
                }
            }
        }
        Ok(f)
    }

    pub(crate) fn matches(&self, s: &Syscall) -> bool {
        let hit = (self.classes.is_none() && self.names.is_empty())
            || self.classes.is_some_and(|c| c.intersects(s.class))
            || self.names.contains(s.name);
        hit != self.negate
    }
}

/// The `--strace` configuration.
#[derive(Clone, Debug)]
pub struct Strace {
    /// Where the lines go.
    pub sink: Sink,
    /// Which calls are logged.
    pub filter: Filter,
    /// `-T`: each call's time.
    pub times: bool,
    /// `-c`: count instead of logging, and print the table at the end.
    pub count: bool,
    /// Counts: calls, errors, time, per syscall.
    pub(crate) counts: Arc<Mutex<Counts>>,
}

impl Strace {
    /// Logs every call to `sink`, as strace does by default.
    pub fn new(sink: Sink) -> Self {
        Strace { sink, filter: Filter::default(), times: false, count: false, counts: Arc::default() }
    }

    /// The `-c` table, as strace prints it.
    pub fn table(&self) -> String {
        let counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        let total: Duration = counts.values().map(|c| c.2).sum();
        let mut rows: Vec<_> = counts.iter().collect();
        rows.sort_by(|a, b| b.1 .2.cmp(&a.1 .2).then(b.1 .0.cmp(&a.1 .0)).then(a.0.cmp(b.0)));
        let mut s = String::new();
        let _ = writeln!(s, "% time     seconds  usecs/call     calls    errors syscall");
        let _ = writeln!(s, "------ ----------- ----------- --------- --------- ----------------");
        let (mut calls, mut errors) = (0u64, 0u64);
        for (name, (n, e, t)) in rows {
            calls += n;
            errors += e;
            let pct = if total.is_zero() { 0.0 } else { t.as_secs_f64() * 100.0 / total.as_secs_f64() };
            let errs = if *e > 0 { e.to_string() } else { String::new() };
            let _ = writeln!(
                s,
                "{:>6.2} {:>11.6} {:>11} {:>9} {:>9} {}",
                pct,
                t.as_secs_f64(),
                (t.as_micros() as u64) / n.max(&1),
                n,
                errs,
                name
            );
        }
        let _ = writeln!(s, "------ ----------- ----------- --------- --------- ----------------");
        let errs = if errors > 0 { errors.to_string() } else { String::new() };
        let _ = writeln!(s, "100.00 {:>11.6} {:>11} {:>9} {:>9} total", total.as_secs_f64(), "", calls, errs);
        s
    }
}

/// Up to `max` bytes at `addr` of `pid`, as far as they are resident.
fn peek(k: &KernelState, pid: Pid, addr: u64, max: usize) -> Vec<u8> {
    let Some(mm) = k.tasks.proc(pid).map(|p| p.mm) else { return Vec::new() };
    let Some(m) = k.mm.get(mm) else { return Vec::new() };
    let mut out = Vec::new();
    let mut at = addr;
    while out.len() < max {
        let pte = m.pte(at);
        let resident = pte.user_accessible()
            && k.phys
                .frame(pte.frame())
                .is_some_and(|f| matches!(f.residency, crate::mm::Residency::Resident | crate::mm::Residency::Zero));
        if !resident {
            break;
        }
        let n = ((4096 - at % 4096) as usize).min(max - out.len());
        let mut buf = vec![0u8; n];
        if !k.phys.read(pte.frame(), at % 4096, &mut buf) {
            break;
        }
        out.extend_from_slice(&buf);
        let Some(next) = at.checked_add(n as u64) else { break };
        at = next;
    }
    out
}

fn quote(b: &[u8], limit: usize, more: bool) -> String {
    let mut s = String::from("\"");
    for &c in b.iter().take(limit) {
        match c {
            b'"' => s.push_str("\\\""),
            b'\\' => s.push_str("\\\\"),
            b'\n' => s.push_str("\\n"),
            b'\t' => s.push_str("\\t"),
            0x20..=0x7e => s.push(c as char),
            _ => {
                let _ = write!(s, "\\{c:o}");
            }
        }
    }
    s.push('"');
    if more || b.len() > limit {
        s.push_str("...");
    }
    s
}

/// A table of names, its values widened for `flags`.
fn bits<T: Copy + Into<u64>>(t: &'static [(T, &'static str)]) -> impl Iterator<Item = (u64, &'static str)> {
    t.iter().map(|&(v, n)| (v.into(), n))
}

/// `v` as `A|B|0x…` from the bits `names` gives (in its order, the first
/// that matches taking its bits), `zero` if it is 0.
fn flags(v: u64, names: impl Iterator<Item = (u64, &'static str)>, zero: &str) -> String {
    if v == 0 {
        return zero.into();
    }
    let mut parts = Vec::new();
    let mut left = v;
    for (bit, name) in names {
        if bit != 0 && left & bit == bit {
            parts.push(name.to_string());
            left &= !bit;
        }
    }
    if left != 0 {
        parts.push(format!("{left:#x}"));
    }
    parts.join("|")
}

/// One argument, decoded.
fn arg(k: &KernelState, pid: Pid, a: Arg, v: u64, all: &[u64; 6], ret: Option<i64>) -> String {
    use super::abi::{epoll, fcntl, futex, mman, name_of, prctl, resource, sched, signal, socket, time, wait};
    match a {
        Arg::Int => (v as i32).to_string(),
        Arg::Long => (v as i64).to_string(),
        Arg::Hex => format!("{v:#x}"),
        Arg::Ptr => {
            if v == 0 {
                "NULL".into()
            } else {
                format!("{v:#x}")
            }
        }
        Arg::Fd => name_of(fcntl::DIRFDS, v as i32).map_or((v as i32).to_string(), str::to_string),
        Arg::Path => {
            if v == 0 {
                return "NULL".into();
            }
            let b = peek(k, pid, v, 4096);
            match b.iter().position(|&c| c == 0) {
                Some(n) => quote(&b[..n], 4096, false),
                None => format!("{v:#x}"),
            }
        }
        Arg::InBuf(len) | Arg::OutBuf(len) => {
            if v == 0 {
                return "NULL".into();
            }
            // Output buffers are shown after the call, as far as it filled them.
            let n = match a {
                Arg::OutBuf(_) => match ret {
                    Some(r) if r >= 0 => (r as usize).min(all[len] as usize),
                    _ => return format!("{v:#x}"),
                },
                _ => all[len] as usize,
            };
            let b = peek(k, pid, v, n.min(32));
            if b.len() < n.min(32) {
                format!("{v:#x}")
            } else {
                quote(&b, 32, n > 32)
            }
        }
        Arg::Prot => flags(v, bits(mman::PROT), name_of(mman::PROT, mman::PROT_NONE).unwrap_or_default()),
        Arg::MapFlags => {
            let kind = name_of(mman::MAP_TYPES, v & mman::MAP_TYPE).unwrap_or("");
            let rest = flags(v & !mman::MAP_TYPE, bits(mman::MAP_FLAGS), "");
            match (kind.is_empty(), rest.is_empty()) {
                (false, false) => format!("{kind}|{rest}"),
                (false, true) => kind.into(),
                (true, _) => format!("{v:#x}"),
            }
        }
        Arg::OpenFlags => {
            let mode = fcntl::O_ACCMODE as u64;
            let acc = name_of(fcntl::O_ACCMODES, (v & mode) as u32).unwrap_or_default();
            let rest = flags(v & !mode, bits(fcntl::O_FLAGS), "");
            if rest.is_empty() {
                acc.into()
            } else {
                format!("{acc}|{rest}")
            }
        }
        Arg::Mode => format!("{v:#o}"),
        Arg::Madvise => name_of(mman::MADVICE, v).map_or(v.to_string(), str::to_string),
        Arg::Signal => {
            if (1..=signal::NSIG as u64).contains(&v) {
                super::signal::name(v as i32)
            } else {
                v.to_string()
            }
        }
        Arg::SigHow => name_of(signal::SIG_HOWS, v).map_or(v.to_string(), str::to_string),
        Arg::Clock => name_of(time::CLOCKS, v).map_or(v.to_string(), str::to_string),
        Arg::ArchPrctl => name_of(prctl::ARCH_PRCTL_CODES, v).map_or(format!("{v:#x}"), str::to_string),
        Arg::Resource => name_of(resource::RLIMITS, v as usize).map_or(v.to_string(), str::to_string),
        Arg::CloneFlags => {
            // The exit signal in the low byte, shown when it is SIGCHLD.
            let sigchld = signal::SIGNALS.iter().filter(|&&(s, _)| s == signal::SIGCHLD).map(|&(s, n)| (s as u64, n));
            flags(v, bits(sched::CLONE_FLAGS).chain(sigchld), "0")
        }
        Arg::FutexOp => {
            let op = name_of(futex::FUTEX_OPS, v & (futex::FUTEX_PRIVATE_FLAG - 1)).unwrap_or("FUTEX_?");
            let p = if v & futex::FUTEX_PRIVATE_FLAG != 0 { "_PRIVATE" } else { "" };
            format!("{op}{p}")
        }
        Arg::Whence => name_of(fcntl::WHENCE, v).map_or(v.to_string(), str::to_string),
        Arg::Fcntl => name_of(fcntl::FCNTL_CMDS, v).map_or(v.to_string(), str::to_string),
        Arg::WaitOpts => flags(v, bits(wait::WAIT_OPTIONS), "0"),
        Arg::Family => name_of(socket::ADDRESS_FAMILIES, v as u16).map_or(v.to_string(), str::to_string),
        Arg::SockType => {
            let mask = socket::SOCK_TYPE_MASK as u64;
            let ty = name_of(socket::SOCK_TYPES, (v & mask) as u32).map_or((v & mask).to_string(), str::to_string);
            let rest = flags(v & !mask, bits(socket::SOCK_FLAGS), "");
            if rest.is_empty() {
                ty
            } else {
                format!("{ty}|{rest}")
            }
        }
        Arg::MsgFlags => flags(v, bits(socket::MSG_FLAGS), "0"),
        Arg::SockLevel => name_of(socket::SOCKOPT_LEVELS, v as i32).map_or(v.to_string(), str::to_string),
        Arg::SockOpt => {
            let table = match all[1] as i32 {
                socket::SOL_SOCKET => socket::SO_OPTIONS,
                socket::SOL_TCP => socket::TCP_OPTIONS,
                socket::SOL_IP => socket::IP_OPTIONS,
                _ => &[],
            };
            name_of(table, v as i32).map_or(v.to_string(), str::to_string)
        }
        Arg::ShutHow => name_of(socket::SHUT_HOW, v as i32).map_or(v.to_string(), str::to_string),
        Arg::EpollOp => name_of(epoll::EPOLL_OPS, v).map_or(v.to_string(), str::to_string),
    }
}

/// The line for a call thread `tid` of `pid` made, that returned `ret`
/// (None: it did not return). As `strace -f`, the prefix names the thread.
pub(crate) fn line(
    k: &KernelState,
    pid: Pid,
    tid: Pid,
    s: &Syscall,
    a: [u64; 6],
    ret: Option<i64>,
    time: Option<Duration>,
) -> String {
    let args: Vec<String> = s.args.iter().enumerate().map(|(i, &t)| arg(k, pid, t, a[i], &a, ret)).collect();
    let mut out = String::new();
    let many = k.tasks.process_count() > 1 || k.tasks.task_count() > 1;
    if many {
        let _ = write!(out, "[pid {tid:>5}] ");
    }
    let _ = write!(out, "{}({})", s.name, args.join(", "));
    match ret {
        None => out.push_str(" = ?"),
        // Never seen by the program: restarted, or EINTR on the way out.
        Some(r) if Errno::from_ret(r).is_some_and(Errno::is_restart) => {
            let e = Errno(-r as i32);
            let _ = write!(out, " = ? {} ({})", e.name(), e.describe());
        }
        Some(r) if Errno::from_ret(r).is_some() => {
            let e = Errno(-r as i32);
            let _ = write!(out, " = -1 {}", e.name());
            let d = e.describe();
            if !d.is_empty() {
                let _ = write!(out, " ({d})");
            }
        }
        Some(r) => match s.ret {
            super::syscalls::Ret::Hex => {
                let _ = write!(out, " = {:#x}", r as u64);
            }
            super::syscalls::Ret::Int => {
                let _ = write!(out, " = {r}");
            }
        },
    }
    if let Some(t) = time {
        let _ = write!(out, " <{:.6}>", t.as_secs_f64());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::abi::{errno, fcntl, mman, sched, wait};

    #[test]
    fn flags_are_named_in_their_tables_order() {
        assert_eq!(flags(0, bits(mman::PROT), "PROT_NONE"), "PROT_NONE");
        assert_eq!(flags(mman::PROT_READ | mman::PROT_WRITE, bits(mman::PROT), "PROT_NONE"), "PROT_READ|PROT_WRITE");
        // O_SYNC holds O_DSYNC's bit: shown whole, not as O_DSYNC|0x100000.
        let sync = u64::from(fcntl::O_SYNC | fcntl::O_CLOEXEC);
        assert_eq!(flags(sync, bits(fcntl::O_FLAGS), ""), "O_SYNC|O_CLOEXEC");
        // What no name covers is left in hex.
        assert_eq!(flags(sched::CLONE_VM | 0x11, bits(sched::CLONE_FLAGS), "0"), "CLONE_VM|0x11");
        assert_eq!(flags(wait::WNOHANG | wait::__WALL, bits(wait::WAIT_OPTIONS), "0"), "WNOHANG|__WALL");
    }

    #[test]
    fn errnos_carry_their_names_and_descriptions() {
        assert_eq!((errno::ENOENT.name(), errno::ENOENT.describe()), ("ENOENT", "No such file or directory"));
        assert_eq!((errno::EIO.name(), errno::EIO.describe()), ("EIO", ""));
        assert!(errno::ERESTARTSYS.is_restart() && !errno::EINTR.is_restart());
        assert_eq!(Errno::from_ret(-2), Some(errno::ENOENT));
        assert_eq!(Errno::from_ret(-4096), None);
    }
}
