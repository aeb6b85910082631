//! /proc, generated from the kernel's own model in the kernel's formats:
//! one formatter per view, shared by the program's reads, `--status` and
//! the summary at exit.

use std::fmt::Write as _;

use super::abi::dirent::{DT_DIR, DT_LNK, DT_REG};
use super::abi::stat::{S_IFDIR, S_IFLNK, S_IFREG};
use super::errno::*;
use super::files::vfs::{Lookup, ProcLinks};
use super::files::{pipe, FileKind};
use super::process::{Pid, ProcState};
use super::KernelState;
use crate::arch::PAGE_SIZE;
use crate::mm::{Backing, KmemClass, VmaKind};

const KIB: u64 = PAGE_SIZE / 1024;

/// What a /proc path is.
pub enum ProcNode {
    File(Vec<u8>),
    /// A file made record by record at each read (see [`SeqFile`]).
    Seq(SeqFile),
    Dir(Vec<(String, u8)>),
    Link(String),
}

/// Resolves /proc links for path lookups, for a caller.
pub struct Links<'a> {
    pub k: &'a KernelState,
    pub pid: Pid,
}

impl ProcLinks for Links<'_> {
    fn readlink(&self, c: &[String]) -> Option<String> {
        match lookup(self.k, self.pid, c) {
            Ok(ProcNode::Link(t)) => Some(t),
            _ => None,
        }
    }

    fn jump(&self, c: &[String]) -> Option<Lookup> {
        let pid: Pid = match c.first()?.as_str() {
            "self" => self.pid,
            n => n.parse().ok()?,
        };
        // task/TID/… is the process's own.
        let rest = match &c[1..] {
            [t, _, rest @ ..] if t == "task" => rest,
            rest => rest,
        };
        let p = self.k.procs.get(&pid)?;
        match rest {
            [cwd] if cwd == "cwd" => Some(p.cwd.clone()),
            [root] if root == "root" => Some(self.k.vfs.root().clone()),
            [fd, n] if fd == "fd" => match &p.files.get(n.parse().ok()?)?.file.kind {
                FileKind::File(f) => Some(Lookup { path: f.path.clone(), node: f.node.clone() }),
                FileKind::Dir(d) => Some(d.at.clone()),
                FileKind::Path(l) => Some(l.clone()),
                _ => None,
            },
            _ => None,
        }
    }
}

/// Memory figures of /proc/PID/status, in KiB.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemStatus {
    /// VmPeak: the largest the address space has been.
    pub vm_peak: u64,
    /// VmSize: the address space now.
    pub vm_size: u64,
    /// VmLck: locked (mlock) memory.
    pub vm_lck: u64,
    /// VmPin: pinned memory (`--pin`).
    pub vm_pin: u64,
    /// VmHWM: peak resident memory.
    pub vm_hwm: u64,
    /// VmRSS: resident memory now.
    pub vm_rss: u64,
    /// RssAnon: resident anonymous memory.
    pub rss_anon: u64,
    /// RssFile: resident file pages.
    pub rss_file: u64,
    /// RssShmem: resident shared memory.
    pub rss_shmem: u64,
    /// VmData: data, heap and private mappings.
    pub vm_data: u64,
    /// VmStk: the stack.
    pub vm_stk: u64,
    /// VmExe: the program's text.
    pub vm_exe: u64,
    /// VmLib: shared libraries' text.
    pub vm_lib: u64,
    /// VmPTE: page tables.
    pub vm_pte: u64,
    /// VmSwap: swapped out.
    pub vm_swap: u64,
}

/// The sandbox's totals, as /proc/meminfo shows them, in KiB.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemInfo {
    /// MemTotal: what may be resident (`rss_limit`, else all of `mem`).
    pub mem_total: u64,
    /// MemFree: RAM not in use.
    pub mem_free: u64,
    /// MemAvailable: what could be had without swapping.
    pub mem_available: u64,
    /// Cached: the page cache.
    pub cached: u64,
    /// SwapTotal: the swap store.
    pub swap_total: u64,
    /// SwapFree: swap not in use.
    pub swap_free: u64,
    /// Mlocked: locked pages.
    pub mlocked: u64,
    /// AnonPages: resident anonymous pages.
    pub anon_pages: u64,
    /// Shmem: shared memory.
    pub shmem: u64,
    /// PageTables: page tables.
    pub page_tables: u64,
    /// SReclaimable: kernel objects the kernel could shrink (Slab is the
    /// sum of this and the next).
    pub slab_reclaimable: u64,
    /// SUnreclaim: kernel objects it cannot.
    pub slab_unreclaimable: u64,
    /// KernelStack: threads' kernel stacks.
    pub kernel_stack: u64,
    /// CommitLimit: what strict overcommit allows.
    pub commit_limit: u64,
    /// Committed_AS: memory promised to mappings.
    pub committed_as: u64,
}

/// pid 1's memory and the sandbox's, as /proc showed them at its exit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemoryReport {
    /// pid 1's /proc/PID/status figures.
    pub status: MemStatus,
    /// The sandbox's /proc/meminfo figures.
    pub info: MemInfo,
}

impl std::fmt::Display for MemStatus {
    /// The fields as one line, in /proc/PID/status's words.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self;
        write!(
            f,
            "VmPeak {} kB, VmSize {} kB, VmLck {} kB, VmPin {} kB, VmHWM {} kB, VmRSS {} kB \
             (RssAnon {} kB, RssFile {} kB, RssShmem {} kB), VmData {} kB, VmStk {} kB, VmExe {} kB, VmPTE {} kB, \
             VmSwap {} kB",
            s.vm_peak,
            s.vm_size,
            s.vm_lck,
            s.vm_pin,
            s.vm_hwm,
            s.vm_rss,
            s.rss_anon,
            s.rss_file,
            s.rss_shmem,
            s.vm_data,
            s.vm_stk,
            s.vm_exe,
            s.vm_pte,
            s.vm_swap
        )
    }
}

impl std::fmt::Display for MemInfo {
    /// The fields as one line, in /proc/meminfo's words.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let i = self;
        write!(
            f,
            "MemTotal {} kB, MemFree {} kB, Cached {} kB, SwapTotal {} kB, SwapFree {} kB, Mlocked {} kB, \
             PageTables {} kB",
            i.mem_total, i.mem_free, i.cached, i.swap_total, i.swap_free, i.mlocked, i.page_tables
        )
    }
}

impl std::fmt::Display for MemoryReport {
    /// `status:` (pid 1's) and `meminfo:` lines.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "status: {}", self.status)?;
        writeln!(f, "meminfo: {}", self.info)
    }
}

impl KernelState {
    pub fn mem_status(&self, pid: Pid) -> MemStatus {
        let mut m = MemStatus::default();
        let Some(p) = self.procs.get(&pid) else { return m };
        let Some(mm) = self.mms.get(&p.mm) else { return m };
        let space = &mm.space;
        for v in space.vmas.iter() {
            let kib = v.len() / 1024;
            m.vm_size += kib;
            if v.locked {
                m.vm_lck += kib;
            }
            if v.growsdown {
                m.vm_stk += kib;
            } else if v.perms.write && !v.shared {
                m.vm_data += kib;
            }
            if v.perms.exec && !v.perms.write && !v.growsdown {
                if v.kind == VmaKind::Image && space.sections.iter().any(|s| s.start <= v.start && v.start < s.end) {
                    m.vm_exe += kib;
                } else {
                    m.vm_lib += kib;
                }
            }
        }
        let c = self.phys.mm_counters(p.mm);
        m.vm_rss = c.rss() * KIB;
        m.rss_anon = c.anon * KIB;
        m.rss_file = c.file * KIB;
        m.rss_shmem = c.shmem * KIB;
        m.vm_hwm = c.hiwater.max(c.rss()) * KIB;
        m.vm_swap = c.swap * KIB;
        m.vm_pte = space.table_pages() * KIB;
        m.vm_peak = (space.peak_size / 1024).max(m.vm_size);
        let mut pinned = 0;
        space.for_each_mapped(0, 1 << 47, |_, l| {
            if self.phys.frame(l.pte.frame()).is_some_and(|f| f.pinned) {
                pinned += 1;
            }
        });
        m.vm_pin = pinned * KIB;
        m
    }

    pub fn mem_info(&self) -> MemInfo {
        let c = self.phys.counters;
        let total = self.phys.budget.resident_pages * KIB;
        let swap_total = self.phys.swap.capacity() as u64 * KIB;
        // What the page allocator has free: resident frames and page
        // tables hold the rest.
        // Kernel memory's pages freed since its last sync are free.
        let free = (self.phys.buddy.free_pages() + self.phys.kmem_idle_pages()) * KIB;
        let kmem = |c| self.phys.kmem.pages(c) * KIB;
        MemInfo {
            mem_total: total,
            mem_free: free,
            mem_available: free + (c.cached - c.shmem) * KIB,
            cached: c.cached * KIB,
            swap_total,
            swap_free: swap_total.saturating_sub(self.phys.swap.used() as u64 * KIB),
            mlocked: c.mlocked * KIB,
            anon_pages: c.anon * KIB,
            shmem: c.shmem * KIB,
            page_tables: self.phys.tables.in_use() * KIB,
            slab_reclaimable: kmem(KmemClass::SlabReclaimable),
            slab_unreclaimable: kmem(KmemClass::SlabUnreclaimable),
            kernel_stack: kmem(KmemClass::KernelStack),
            commit_limit: self.commit_limit() * KIB,
            committed_as: self.committed_pages() * KIB,
        }
    }

    pub fn memory_report(&self, pid: Pid) -> MemoryReport {
        MemoryReport { status: self.mem_status(pid), info: self.mem_info() }
    }

    /// CommitLimit: swap plus RAM × overcommit_ratio.
    pub fn commit_limit(&self) -> u64 {
        self.phys.budget.swap_pages + self.phys.budget.resident_pages * self.cfg.overcommit_ratio / 100
    }

    /// Committed_AS: private writable and shared mappings of every address
    /// space, in pages (what overcommit accounting charges).
    pub fn committed_pages(&self) -> u64 {
        self.mms
            .values()
            .flat_map(|m| m.space.vmas.iter())
            .filter(|v| v.account || (v.shared && v.is_anon()))
            .map(|v| v.len() / PAGE_SIZE)
            .sum()
    }
}

/// The name /proc/PID/maps shows for a VMA.
fn vma_name(k: &KernelState, p: &super::Process, v: &crate::mm::Vma) -> String {
    let space = &k.mms[&p.mm].space;
    if let Some(n) = &v.anon_name {
        return if n.starts_with('[') { n.to_string() } else { format!("[anon:{n}]") };
    }
    match (&v.backing, v.kind) {
        // d_path() of an unlinked file.
        (Backing::File { file, .. }, _) if k.vfs.is_orphan(file.id) && !file.path.ends_with(" (deleted)") => {
            format!("{} (deleted)", file.path)
        }
        (Backing::File { file, .. }, _) => file.path.to_string(),
        // vma_is_initial_heap(): any anonymous VMA overlapping
        // [start_brk, brk), a PROT_NONE one a libc put there included.
        (_, _) if v.start < space.brk && v.end > space.brk_start => "[heap]".into(),
        (_, VmaKind::Heap) => "[heap]".into(),
        (_, _) if v.start <= space.start_stack && space.start_stack < v.end => "[stack]".into(),
        _ if v.shared => "/dev/zero (deleted)".into(),
        _ => String::new(),
    }
}

/// The vsyscall page's line, after every VMA's (Linux's gate VMA).
const GATE_LINE: &str = "ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]\n";

/// /proc/PID/maps: one line per VMA in the kernel's format (show_map_vma:
/// the name column starts at byte 73), and the vsyscall page.
pub fn maps(k: &KernelState, p: &super::Process) -> String {
    let mut out = String::new();
    let Some(mm) = k.mms.get(&p.mm) else { return out };
    for v in mm.space.vmas.iter() {
        map_line(k, p, v, &mut out);
    }
    out.push_str(GATE_LINE);
    out
}

/// One VMA's line of /proc/PID/maps.
pub fn map_line(k: &KernelState, p: &super::Process, v: &crate::mm::Vma, out: &mut String) {
    let (offset, dev, ino) = match &v.backing {
        Backing::File { file, pgoff } => (pgoff * PAGE_SIZE, file.dev, file.ino),
        Backing::Anon => (0, 0, 0),
    };
    let start = out.len();
    let _ = write!(
        out,
        "{:08x}-{:08x} {}{}{}{} {:08x} {:02x}:{:02x} {} ",
        v.start,
        v.end,
        if v.perms.read { 'r' } else { '-' },
        if v.perms.write { 'w' } else { '-' },
        if v.perms.exec { 'x' } else { '-' },
        if v.shared { 's' } else { 'p' },
        offset,
        (dev >> 8) & 0xfff,
        dev & 0xff,
        ino,
    );
    let name = vma_name(k, p, v);
    if !name.is_empty() {
        while out.len() - start < 73 {
            out.push(' ');
        }
        out.push_str(&name);
    }
    out.push('\n');
}

/// The /proc files made record by record, as Linux's seq_file makes them:
/// a read generates only the records it returns, resuming at the VMA where
/// the last one stopped, so a read costs what it returns (not the whole
/// file, which with 65 530 VMAs is megabytes) and nothing is kept between
/// reads but the place and one record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SeqFile {
    /// /proc/PID/maps.
    Maps,
    /// /proc/PID/smaps.
    Smaps,
}

/// The index after the last VMA: the gate (vsyscall) record, as Linux's
/// m_next gives it (-2).
const SEQ_GATE: u64 = u64::MAX - 1;

/// Appends the record of `which` for process `pid` at `index` (an address:
/// the first VMA ending above it, as m_start's find_vma) to `out`, and
/// returns the index of the next one; `None` at the end (or if the process
/// is gone: its file then reads empty).
pub fn seq_record(k: &KernelState, pid: Pid, which: SeqFile, index: u64, out: &mut Vec<u8>) -> Option<u64> {
    let p = k.procs.get(&pid)?;
    let space = &k.mms.get(&p.mm)?.space;
    let mut s = String::new();
    let next = match space.vmas.find_from(index).filter(|_| index < SEQ_GATE) {
        Some(v) => {
            match which {
                SeqFile::Maps => map_line(k, p, v, &mut s),
                SeqFile::Smaps => super::mm::procfs::smaps_record(k, p, v, &mut s),
            }
            v.end
        }
        // smaps shows no gate record (as before).
        None if index <= SEQ_GATE && which == SeqFile::Maps => {
            s.push_str(GATE_LINE);
            u64::MAX
        }
        None => return None,
    };
    out.extend_from_slice(s.as_bytes());
    Some(next)
}

/// A process's state letter, as the thread-group leader's (or, once it
/// has exited, the first thread's): running, sleeping in the kernel, or a
/// zombie.
pub(super) fn state_of(k: &KernelState, p: &super::Process) -> char {
    if p.is_zombie() {
        return 'Z';
    }
    let t = k.threads.get(&p.pid).filter(|t| !t.exited).or_else(|| p.threads.first().and_then(|t| k.threads.get(t)));
    if t.is_some_and(|t| t.sleeping) {
        'S'
    } else {
        'R'
    }
}

fn status(k: &KernelState, p: &super::Process) -> String {
    let m = k.mem_status(p.pid);
    let mut s = String::new();
    let state = match state_of(k, p) {
        'Z' => "Z (zombie)",
        'S' => "S (sleeping)",
        _ => "R (running)",
    };
    let c = &p.cred;
    let t0 = p.threads.first().and_then(|t| k.threads.get(t));
    let (blk, pnd) = t0.map_or((0, 0), |t| (t.sigmask, t.pending.set));
    let (mut ign, mut cgt) = (0u64, 0u64);
    for sig in 1..=super::signal::NSIG {
        match p.sig.get(sig).handler {
            super::signal::SIG_DFL => {}
            super::signal::SIG_IGN => ign |= super::signal::bit(sig),
            _ => cgt |= super::signal::bit(sig),
        }
    }
    let _ = write!(
        s,
        "Name:\t{}\nUmask:\t{:04o}\nState:\t{}\nTgid:\t{}\nNgid:\t0\nPid:\t{}\nPPid:\t{}\nTracerPid:\t0\n\
         Uid:\t{}\t{}\t{}\t{}\nGid:\t{}\t{}\t{}\t{}\nFDSize:\t{}\nGroups:\t{groups}\nNStgid:\t{}\nNSpid:\t{}\n\
         NSpgid:\t{}\nNSsid:\t{}\nKthread:\t0\n",
        p.comm,
        p.umask,
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
    if !p.is_zombie() {
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
    s
}

/// /proc/PID/stat, all 52 fields.
fn stat(k: &KernelState, p: &super::Process) -> String {
    let state = state_of(k, p);
    let ticks = |ns: u64| ns / 10_000_000;
    let (vsize, rss, start_stack) = match k.mms.get(&p.mm) {
        Some(m) if !p.is_zombie() => (m.space.vmas.total(), k.phys.mm_counters(p.mm).rss(), m.space.start_stack),
        _ => (0, 0, 0),
    };
    let (arg, env, brk_start) =
        k.mms.get(&p.mm).map_or(((0, 0), (0, 0), 0), |m| (m.space.arg, m.space.env, m.space.brk_start));
    let start = p.started.saturating_duration_since(k.started).as_nanos() as u64;
    let exit = match p.state {
        ProcState::Zombie(s) => s.wait_status(),
        ProcState::Running => 0,
    };
    format!(
        "{} ({}) {} {} {} {} 0 -1 4194304 {} {} {} {} {} {} {} {} 20 0 {} 0 {} {} {} 18446744073709551615 0 0 {} 0 0 \
         0 0 0 0 0 0 0 {} 0 0 0 0 0 0 0 {} {} {} {} {} {}\n",
        p.pid,
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

fn statm(k: &KernelState, p: &super::Process) -> String {
    let Some(m) = k.mms.get(&p.mm) else { return "0 0 0 0 0 0 0\n".into() };
    let c = k.phys.mm_counters(p.mm);
    let data: u64 = m.space.vmas.iter().filter(|v| v.perms.write && !v.shared).map(|v| v.len() / PAGE_SIZE).sum();
    let text: u64 =
        m.space.vmas.iter().filter(|v| v.perms.exec && v.kind == VmaKind::Image).map(|v| v.len() / PAGE_SIZE).sum();
    format!("{} {} {} {} 0 {} 0\n", m.space.vmas.total() / PAGE_SIZE, c.rss(), c.file + c.shmem, text, data)
}

pub fn meminfo(k: &KernelState) -> String {
    let i = k.mem_info();
    let mut s = String::new();
    for (key, v) in [
        ("MemTotal", i.mem_total),
        ("MemFree", i.mem_free),
        ("MemAvailable", i.mem_available),
        ("Buffers", 0),
        ("Cached", i.cached),
        ("SwapCached", 0),
        ("Active", i.anon_pages + i.cached),
        ("Inactive", 0),
        ("Active(anon)", i.anon_pages),
        ("Inactive(anon)", 0),
        ("Active(file)", i.cached),
        ("Inactive(file)", 0),
        ("Unevictable", i.mlocked),
        ("Mlocked", i.mlocked),
        ("SwapTotal", i.swap_total),
        ("SwapFree", i.swap_free),
        ("Zswap", 0),
        ("Zswapped", 0),
        ("Dirty", 0),
        ("Writeback", 0),
        ("AnonPages", i.anon_pages),
        ("Mapped", i.cached),
        ("Shmem", i.shmem),
        ("KReclaimable", i.slab_reclaimable),
        ("Slab", i.slab_reclaimable + i.slab_unreclaimable),
        ("SReclaimable", i.slab_reclaimable),
        ("SUnreclaim", i.slab_unreclaimable),
        ("KernelStack", i.kernel_stack),
        ("PageTables", i.page_tables),
        ("SecPageTables", 0),
        ("NFS_Unstable", 0),
        ("Bounce", 0),
        ("WritebackTmp", 0),
        ("CommitLimit", i.commit_limit),
        ("Committed_AS", i.committed_as),
        ("VmallocTotal", 34359738367),
        ("VmallocUsed", 0),
        ("VmallocChunk", 0),
        ("Percpu", 0),
        ("HardwareCorrupted", 0),
        ("AnonHugePages", 0),
        ("ShmemHugePages", 0),
        ("ShmemPmdMapped", 0),
        ("FileHugePages", 0),
        ("FilePmdMapped", 0),
        ("Unaccepted", 0),
        ("HugePages_Total", u64::MAX),
        ("HugePages_Free", u64::MAX),
        ("HugePages_Rsvd", u64::MAX),
        ("HugePages_Surp", u64::MAX),
        ("Hugepagesize", 2048),
        ("Hugetlb", 0),
        ("DirectMap4k", i.mem_total),
    ] {
        if v == u64::MAX {
            let _ = writeln!(s, "{:<16}{:>8}", format!("{key}:"), 0);
        } else {
            let _ = writeln!(s, "{:<16}{:>8} kB", format!("{key}:"), v);
        }
    }
    s
}

/// What `/proc/<c...>` is for `caller`.
pub fn lookup(k: &KernelState, caller: Pid, c: &[String]) -> Result<ProcNode, Errno> {
    let tid_of_caller = k.procs.get(&caller).and_then(|p| p.threads.first().copied()).unwrap_or(caller);
    let Some(first) = c.first().map(String::as_str) else {
        let mut e: Vec<(String, u8)> = k.procs.keys().map(|p| (p.to_string(), DT_DIR)).collect();
        for n in ["self", "thread-self"] {
            e.push((n.into(), DT_LNK));
        }
        for n in ["meminfo", "vmstat", "uptime", "version", "loadavg", "stat", "cpuinfo", "mounts", "filesystems"] {
            e.push((n.into(), DT_REG));
        }
        for n in ["buddyinfo", "zoneinfo"] {
            e.push((n.into(), DT_REG));
        }
        e.push(("sys".into(), DT_DIR));
        return Ok(ProcNode::Dir(e));
    };
    // `@link` marks /dev's links into /proc: follow them.
    if c.last().is_some_and(|l| l == "@link") {
        let rest: Vec<String> = c[..c.len() - 1].to_vec();
        return Ok(ProcNode::Link(format!("/proc/{}", rest.join("/"))));
    }
    match first {
        "self" if c.len() == 1 => return Ok(ProcNode::Link(caller.to_string())),
        "thread-self" if c.len() == 1 => return Ok(ProcNode::Link(format!("{caller}/task/{tid_of_caller}"))),
        "self" => return lookup(k, caller, &[&[caller.to_string()], &c[1..]].concat()),
        "meminfo" if c.len() == 1 => return Ok(ProcNode::File(meminfo(k).into_bytes())),
        "vmstat" if c.len() == 1 => return Ok(ProcNode::File(super::mm::procfs::vmstat(k).into_bytes())),
        "uptime" if c.len() == 1 => {
            let t = k.started.elapsed().as_secs_f64();
            return Ok(ProcNode::File(format!("{t:.2} {:.2}\n", t * 2.0).into_bytes()));
        }
        "version" if c.len() == 1 => {
            return Ok(ProcNode::File(
                format!("Linux version {} (faultline) #1 SMP\n", super::syscalls::system::RELEASE).into_bytes(),
            ))
        }
        "loadavg" if c.len() == 1 => {
            return Ok(ProcNode::File(format!("0.00 0.00 0.00 1/{} {}\n", k.threads.len(), k.procs.len()).into_bytes()))
        }
        "filesystems" if c.len() == 1 => return Ok(ProcNode::File(b"nodev\tproc\nnodev\ttmpfs\n\text4\n".to_vec())),
        "mounts" if c.len() == 1 => {
            let mut m = String::from("overlay / overlay rw,relatime 0 0\nproc /proc proc rw 0 0\n");
            for b in k.vfs.binds() {
                let _ = writeln!(m, "/dev/root {} ext4 {} 0 0", b.guest, if b.rw { "rw" } else { "ro" });
            }
            return Ok(ProcNode::File(m.into_bytes()));
        }
        "buddyinfo" if c.len() == 1 => return Ok(ProcNode::File(super::mm::zoneinfo::buddyinfo(k).into_bytes())),
        "zoneinfo" if c.len() == 1 => return Ok(ProcNode::File(super::mm::zoneinfo::zoneinfo(k).into_bytes())),
        "sys" => return sys(k, &c[1..]),
        _ => {}
    }
    let pid: Pid = first.parse().map_err(|_| ENOENT)?;
    let p = k.procs.get(&pid).ok_or(ENOENT)?;
    let rest: Vec<&str> = c[1..].iter().map(String::as_str).collect();
    Ok(match rest.as_slice() {
        [] => ProcNode::Dir(
            [
                ("maps", DT_REG),
                ("smaps", DT_REG),
                ("smaps_rollup", DT_REG),
                ("status", DT_REG),
                ("stat", DT_REG),
                ("statm", DT_REG),
                ("cmdline", DT_REG),
                ("comm", DT_REG),
                ("environ", DT_REG),
                ("exe", DT_LNK),
                ("cwd", DT_LNK),
                ("root", DT_LNK),
                ("fd", DT_DIR),
                ("task", DT_DIR),
                ("oom_score", DT_REG),
                ("oom_score_adj", DT_REG),
                ("limits", DT_REG),
                ("pagemap", DT_REG),
                ("clear_refs", DT_REG),
            ]
            .iter()
            .map(|(n, t)| (n.to_string(), *t))
            .collect(),
        ),
        ["maps"] => ProcNode::Seq(SeqFile::Maps),
        ["smaps"] => ProcNode::Seq(SeqFile::Smaps),
        ["smaps_rollup"] => ProcNode::File(super::mm::procfs::smaps_rollup(k, p).into_bytes()),
        ["status"] => ProcNode::File(status(k, p).into_bytes()),
        ["stat"] => ProcNode::File(stat(k, p).into_bytes()),
        ["statm"] => ProcNode::File(statm(k, p).into_bytes()),
        ["cmdline"] => ProcNode::File(p.cmdline.bytes.clone()),
        ["comm"] => ProcNode::File(format!("{}\n", p.comm).into_bytes()),
        ["environ"] => {
            let mut env = Vec::new();
            if let Some(m) = k.mms.get(&p.mm) {
                let (a, b) = m.space.env;
                env = read_mem(k, p, a, b);
            }
            ProcNode::File(env)
        }
        ["oom_score"] => ProcNode::File(format!("{}\n", k.oom_score(pid)).into_bytes()),
        ["oom_score_adj"] => ProcNode::File(format!("{}\n", p.oom_score_adj).into_bytes()),
        ["limits"] => ProcNode::File(limits(p).into_bytes()),
        // Made per read (see procfs_mm::pagemap_entries): empty here.
        ["pagemap"] => ProcNode::File(Vec::new()),
        // Written only (see syscalls::io).
        ["clear_refs"] => ProcNode::File(Vec::new()),
        ["exe"] => ProcNode::Link(p.exe.clone()),
        ["cwd"] => ProcNode::Link(p.cwd.path.clone()),
        ["root"] => ProcNode::Link("/".into()),
        ["fd"] => ProcNode::Dir(p.files.iter().map(|(fd, _)| (fd.to_string(), DT_LNK)).collect()),
        ["fd", n] => {
            let fd: i32 = n.parse().map_err(|_| ENOENT)?;
            let f = p.files.get(fd).ok_or(ENOENT)?;
            ProcNode::Link(fd_target(&f.file))
        }
        ["task"] => ProcNode::Dir(p.threads.iter().map(|t| (t.to_string(), DT_DIR)).collect()),
        ["task", t, more @ ..] => {
            let t: u32 = t.parse().map_err(|_| ENOENT)?;
            if !p.threads.contains(&t) {
                return Err(ENOENT);
            }
            let mut c2 = vec![pid.to_string()];
            c2.extend(more.iter().map(|s| s.to_string()));
            return lookup(k, caller, &c2);
        }
        _ => return Err(ENOENT),
    })
}

/// What /proc/PID/fd/N points at.
pub fn fd_target(f: &super::files::OpenFile) -> String {
    match &f.kind {
        FileKind::PipeRead(p) | FileKind::PipeWrite(p) => {
            format!("pipe:[{}]", std::sync::Arc::as_ptr(p) as usize % 100_000)
        }
        FileKind::Input(_) | FileKind::Output(_) => {
            if f.path.is_empty() {
                "/dev/pts/0".into()
            } else {
                f.path.clone()
            }
        }
        _ => f.path.clone(),
    }
}

fn read_mem(k: &KernelState, p: &super::Process, a: u64, b: u64) -> Vec<u8> {
    // Reading another process's memory here would need its pages in: only
    // what is resident is shown (a snapshot); argv/envp always are.
    let mut out = Vec::new();
    let Some(m) = k.mms.get(&p.mm) else { return out };
    let mut at = a;
    while at < b {
        let pte = m.space.pte(at);
        let n = (PAGE_SIZE - at % PAGE_SIZE).min(b - at) as usize;
        let resident =
            pte.mapped() && k.phys.frame(pte.frame()).is_some_and(|f| f.residency == crate::mm::Residency::Resident);
        if !resident {
            break;
        }
        let mut buf = vec![0u8; n];
        if !k.phys.read(pte.frame(), at % PAGE_SIZE, &mut buf) {
            break;
        }
        out.extend_from_slice(&buf);
        at += n as u64;
    }
    out
}

fn limits(p: &super::Process) -> String {
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

fn sys(k: &KernelState, c: &[String]) -> Result<ProcNode, Errno> {
    let rest: Vec<&str> = c.iter().map(String::as_str).collect();
    let v = |x: u64| Ok(ProcNode::File(format!("{x}\n").into_bytes()));
    match rest.as_slice() {
        [] => Ok(ProcNode::Dir(vec![("vm".into(), DT_DIR), ("kernel".into(), DT_DIR), ("fs".into(), DT_DIR)])),
        ["fs"] => Ok(ProcNode::Dir(
            ["file-max", "file-nr", "nr_open", "pipe-max-size", "pipe-user-pages-hard", "pipe-user-pages-soft"]
                .iter()
                .map(|n| (n.to_string(), DT_REG))
                .collect(),
        )),
        ["fs", "file-max"] => v(k.file_max()),
        // Allocated, free (always 0 since 2.6), maximum.
        ["fs", "file-nr"] => Ok(ProcNode::File(format!("{}\t0\t{}\n", k.nr_files(), k.file_max()).into_bytes())),
        ["fs", "nr_open"] => v(super::mm::kmem::NR_OPEN),
        ["fs", "pipe-max-size"] => v(pipe::PIPE_MAX_SIZE),
        ["fs", "pipe-user-pages-hard"] => v(pipe::PIPE_USER_PAGES_HARD),
        ["fs", "pipe-user-pages-soft"] => v(pipe::PIPE_USER_PAGES_SOFT),
        ["vm"] => Ok(ProcNode::Dir(
            [
                "overcommit_memory",
                "overcommit_ratio",
                "max_map_count",
                "min_free_kbytes",
                "swappiness",
                "admin_reserve_kbytes",
                "user_reserve_kbytes",
            ]
            .iter()
            .map(|n| (n.to_string(), DT_REG))
            .collect(),
        )),
        ["vm", "overcommit_memory"] => v(k.cfg.overcommit as u64),
        ["vm", "overcommit_ratio"] => v(k.cfg.overcommit_ratio),
        ["vm", "max_map_count"] => v(k.cfg.max_map_count as u64),
        ["vm", "min_free_kbytes"] => v(k.phys.buddy.min_free_kbytes()),
        ["vm", "swappiness"] => v(60),
        ["vm", "admin_reserve_kbytes"] => v(k.admin_reserve_pages() * KIB),
        ["vm", "user_reserve_kbytes"] => v(k.user_reserve_pages() * KIB),
        ["kernel"] => Ok(ProcNode::Dir(
            ["ostype", "osrelease", "pid_max", "threads-max", "hostname"]
                .iter()
                .map(|n| (n.to_string(), DT_REG))
                .collect(),
        )),
        ["kernel", "ostype"] => Ok(ProcNode::File(b"Linux\n".to_vec())),
        ["kernel", "osrelease"] => Ok(ProcNode::File(format!("{}\n", super::syscalls::system::RELEASE).into_bytes())),
        ["kernel", "hostname"] => Ok(ProcNode::File(b"faultline\n".to_vec())),
        ["kernel", "pid_max"] => v(4_194_304),
        ["kernel", "threads-max"] => v(k.cfg.max_tasks as u64),
        _ => Err(ENOENT),
    }
}

/// The mode stat(2) reports for a /proc node.
pub fn mode_of(n: &ProcNode) -> u32 {
    match n {
        ProcNode::File(_) | ProcNode::Seq(_) => S_IFREG | 0o444,
        ProcNode::Dir(_) => S_IFDIR | 0o555,
        ProcNode::Link(_) => S_IFLNK | 0o777,
    }
}
