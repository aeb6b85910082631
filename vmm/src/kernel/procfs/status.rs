//! What /proc/PID's status, stat, statm and limits files say.

use std::fmt::Write as _;

use super::super::process::{ProcState, Process, Tid};
use super::super::signal;
use super::super::KernelState;
use crate::arch::PAGE_SIZE;
use crate::mm::VmaKind;

/// A process's state letter, as the thread-group leader's (or, once it
/// has exited, the first thread's): running, sleeping in the kernel, or a
/// zombie.
pub(crate) fn state_of(k: &KernelState, p: &Process) -> char {
    thread_state(k, p, None)
}

/// The state of thread `tid` of `p` (its leader's, or the first left,
/// without one).
fn thread_state(k: &KernelState, p: &Process, tid: Option<Tid>) -> char {
    if p.is_zombie() {
        return 'Z';
    }
    let t = match tid {
        Some(t) => k.tasks.thread(t),
        None => {
            k.tasks.thread(p.pid).filter(|t| !t.exited).or_else(|| p.threads.first().and_then(|t| k.tasks.thread(*t)))
        }
    };
    if t.is_some_and(|t| t.stopped) {
        'T'
    } else if t.is_some_and(|t| t.sleeping) {
        'S'
    } else {
        'R'
    }
}

/// /proc/PID/status, as proc_pid_status() writes it: who the process is,
/// its memory (while it has any), its signals and capabilities.
pub(super) fn status(k: &KernelState, p: &Process) -> String {
    let mut s = String::new();
    status_ids(k, p, &mut s);
    if !p.is_zombie() {
        status_memory(k, p, &mut s);
    }
    status_signals(k, p, &mut s);
    s
}

/// status's first lines (task_state()): name, state, ids, groups.
fn status_ids(k: &KernelState, p: &Process, s: &mut String) {
    let state = match state_of(k, p) {
        'Z' => "Z (zombie)",
        'S' => "S (sleeping)",
        'T' => "T (stopped)",
        _ => "R (running)",
    };
    let c = &p.cred;
    let _ = write!(
        s,
        "Name:\t{}\nUmask:\t{:04o}\nState:\t{}\nTgid:\t{}\nNgid:\t0\nPid:\t{}\nPPid:\t{}\nTracerPid:\t0\n\
         Uid:\t{}\t{}\t{}\t{}\nGid:\t{}\t{}\t{}\t{}\nFDSize:\t{}\nGroups:\t{groups}\nNStgid:\t{}\nNSpid:\t{}\n\
         NSpgid:\t{}\nNSsid:\t{}\nKthread:\t0\n",
        p.comm,
        p.fs.umask(),
        state,
        p.pid,
        p.pid,
        p.ppid,
        c.uid,
        c.euid,
        c.suid,
        c.fsuid,
        c.gid,
        c.egid,
        c.sgid,
        c.fsgid,
        p.files.count().next_power_of_two().max(64),
        p.pid,
        p.pid,
        p.pgid,
        p.sid,
        groups = c.groups.iter().map(|g| format!("{g} ")).collect::<String>(),
    );
}

/// status's memory lines (task_mem()).
fn status_memory(k: &KernelState, p: &Process, s: &mut String) {
    let m = k.mem_status(p.pid);
    for (key, v) in [
        ("VmPeak", m.vm_peak),
        ("VmSize", m.vm_size),
        ("VmLck", m.vm_lck),
        ("VmPin", m.vm_pin),
        ("VmHWM", m.vm_hwm),
        ("VmRSS", m.vm_rss),
        ("RssAnon", m.rss_anon),
        ("RssFile", m.rss_file),
        ("RssShmem", m.rss_shmem),
        ("VmData", m.vm_data),
        ("VmStk", m.vm_stk),
        ("VmExe", m.vm_exe),
        ("VmLib", m.vm_lib),
        ("VmPTE", m.vm_pte),
        ("VmSwap", m.vm_swap),
        ("HugetlbPages", 0),
    ] {
        let _ = writeln!(s, "{key}:\t{v:>8} kB");
    }
    let _ = writeln!(s, "CoreDumping:\t0\nTHP_enabled:\t1\nuntag_mask:\t0xffffffffffffffff");
}

/// status's last lines: threads, signals (task_sig()), capabilities
/// (task_cap()) and the rest.
fn status_signals(k: &KernelState, p: &Process, s: &mut String) {
    let c = &p.cred;
    let t0 = p.threads.first().and_then(|t| k.tasks.thread(*t));
    let (blk, pnd) = t0.map_or((0, 0), |t| (t.sigmask, t.pending.set));
    let (mut ign, mut cgt) = (0u64, 0u64);
    for sig in 1..=signal::NSIG {
        match p.sig.get(sig).handler {
            signal::SIG_DFL => {}
            signal::SIG_IGN => ign |= signal::bit(sig),
            _ => cgt |= signal::bit(sig),
        }
    }
    let _ = write!(
        s,
        "Threads:\t{}\nSigQ:\t0/{}\nSigPnd:\t{pnd:016x}\nShdPnd:\t{:016x}\nSigBlk:\t{blk:016x}\nSigIgn:\t{ign:016x}\n\
         SigCgt:\t{cgt:016x}\nCapInh:\t{:016x}\nCapPrm:\t{:016x}\nCapEff:\t{:016x}\n\
         CapBnd:\t{:016x}\nCapAmb:\t{:016x}\nNoNewPrivs:\t0\nSeccomp:\t0\nSeccomp_filters:\t0\n\
         Speculation_Store_Bypass:\tthread vulnerable\nSpeculationIndirectBranch:\tconditional enabled\n\
         Cpus_allowed:\t3\nCpus_allowed_list:\t0-1\nMems_allowed:\t1\nMems_allowed_list:\t0\n\
         voluntary_ctxt_switches:\t{}\nnonvoluntary_ctxt_switches:\t{}\n",
        p.threads.len(),
        p.limits.cur(11),
        p.shared_pending.set,
        c.cap_inheritable,
        c.cap_permitted,
        c.cap_effective,
        c.cap_bset,
        c.cap_ambient,
        p.rusage.nvcsw,
        p.rusage.nivcsw,
    );
}

/// /proc/PID/stat, all 52 fields.
/// `tid`: a thread's (/proc/PID/task/TID/stat): its id and its state.
pub(super) fn stat(k: &KernelState, p: &Process, tid: Option<Tid>) -> String {
    let state = thread_state(k, p, tid);
    let ticks = |ns: u64| ns / 10_000_000;
    let (vsize, rss, start_stack) = match k.mm.get(p.mm) {
        Some(m) if !p.is_zombie() => (m.vmas.total(), k.phys.mm_counters(p.mm).rss(), m.start_stack),
        _ => (0, 0, 0),
    };
    let (arg, env, brk_start) = k.mm.get(p.mm).map_or(((0, 0), (0, 0), 0), |m| (m.arg, m.env, m.brk_start));
    let start = p.started.saturating_duration_since(k.booted).as_nanos() as u64;
    let exit = match p.state {
        ProcState::Zombie(s) => s.wait_status(),
        ProcState::Running => 0,
    };
    format!(
        "{} ({}) {} {} {} {} 0 -1 4194304 {} {} {} {} {} {} {} {} 20 0 {} 0 {} {} {} 18446744073709551615 0 0 {} 0 0 \
         0 0 0 0 0 0 0 {} 0 0 0 0 0 0 0 {} {} {} {} {} {}\n",
        tid.unwrap_or(p.pid),
        p.comm,
        state,
        p.ppid,
        p.pgid,
        p.sid,
        p.rusage.minflt,
        p.children_rusage.minflt,
        p.rusage.majflt,
        p.children_rusage.majflt,
        ticks(p.rusage.utime_ns),
        ticks(p.rusage.stime_ns),
        ticks(p.children_rusage.utime_ns),
        ticks(p.children_rusage.stime_ns),
        p.threads.len().max(1),
        ticks(start),
        vsize,
        rss,
        start_stack,
        p.exit_signal,
        brk_start,
        arg.0,
        arg.1,
        env.0,
        env.1,
        exit,
    )
}

pub(super) fn statm(k: &KernelState, p: &Process) -> String {
    let Some(m) = k.mm.get(p.mm) else { return "0 0 0 0 0 0 0\n".into() };
    let c = k.phys.mm_counters(p.mm);
    let data: u64 = m.vmas.iter().filter(|v| v.perms.write && !v.shared).map(|v| v.len() / PAGE_SIZE).sum();
    let text: u64 =
        m.vmas.iter().filter(|v| v.perms.exec && v.kind == VmaKind::Image).map(|v| v.len() / PAGE_SIZE).sum();
    format!("{} {} {} {} 0 {} 0\n", m.vmas.total() / PAGE_SIZE, c.rss(), c.file + c.shmem, text, data)
}

pub(super) fn limits(p: &Process) -> String {
    let names = [
        ("Max cpu time", "seconds"),
        ("Max file size", "bytes"),
        ("Max data size", "bytes"),
        ("Max stack size", "bytes"),
        ("Max core file size", "bytes"),
        ("Max resident set", "bytes"),
        ("Max processes", "processes"),
        ("Max open files", "files"),
        ("Max locked memory", "bytes"),
        ("Max address space", "bytes"),
        ("Max file locks", "locks"),
        ("Max pending signals", "signals"),
        ("Max msgqueue size", "bytes"),
        ("Max nice priority", ""),
        ("Max realtime priority", ""),
        ("Max realtime timeout", "us"),
    ];
    let mut s = format!("{:<26}{:<21}{:<21}{:<10}\n", "Limit", "Soft Limit", "Hard Limit", "Units");
    for (i, (n, u)) in names.iter().enumerate() {
        let l = p.limits.get(i);
        let v = |x: u64| if x == u64::MAX { "unlimited".to_string() } else { x.to_string() };
        let _ = writeln!(s, "{:<26}{:<21}{:<21}{:<10}", n, v(l.cur), v(l.max), u);
    }
    s
}
