//! Memory accounting: the figures /proc/meminfo and /proc/PID/status's
//! memory lines show, what sysinfo(2) and overcommit use (CommitLimit,
//! Committed_AS), and the report of them at pid 1's exit.

use std::fmt::Write as _;

use crate::arch::PAGE_SIZE;
use crate::kernel::process::Pid;
use crate::kernel::KernelState;
use crate::mm::{FileId, KmemClass, VmaKind};

const KIB: u64 = PAGE_SIZE / 1024;

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
    pub(crate) fn mem_status(&self, pid: Pid) -> MemStatus {
        let mut m = MemStatus::default();
        let Some(p) = self.tasks.proc(pid) else { return m };
        let Some(mm) = self.mm.get(p.mm) else { return m };
        let space = mm;
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
        space.for_each_mapped(0, crate::arch::layout::USER_TOP, |_, l| {
            if self.phys.frame(l.pte.frame()).is_some_and(|f| f.pinned) {
                pinned += 1;
            }
        });
        m.vm_pin = pinned * KIB;
        m
    }

    pub(crate) fn mem_info(&self) -> MemInfo {
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

    pub(crate) fn memory_report(&self, pid: Pid) -> MemoryReport {
        MemoryReport { status: self.mem_status(pid), info: self.mem_info() }
    }

    /// CommitLimit: swap plus RAM × overcommit_ratio.
    pub(crate) fn commit_limit(&self) -> u64 {
        self.phys.budget.swap_pages + self.phys.budget.resident_pages * self.cfg.overcommit_ratio / 100
    }

    /// Committed_AS, in pages: every VM_ACCOUNT mapping of every address
    /// space (a copy made by fork is charged again), and each shared
    /// anonymous object once, whoever maps it (shmem_acct_size).
    pub(crate) fn committed_pages(&self) -> u64 {
        let vmas = || self.mm.spaces().flat_map(|m| m.vmas.iter());
        let private: u64 = vmas().filter(|v| v.account).map(|v| v.len() / PAGE_SIZE).sum();
        let segments: std::collections::BTreeMap<FileId, u64> = self.shm.committed().collect();
        let shmem: std::collections::BTreeSet<FileId> = vmas()
            .filter(|v| v.shared && v.kind == VmaKind::Anon)
            .filter_map(|v| v.file_page(v.start).map(|(f, _)| f.id))
            .filter(|id| !self.shm.owns(*id))
            .collect();
        let shmem_pages: u64 =
            shmem.iter().filter_map(|id| self.phys.cache.get(id)).map(|c| c.data.size().div_ceil(PAGE_SIZE)).sum();
        // SysV segments are charged from shmget to their destruction.
        private + shmem_pages + segments.values().sum::<u64>()
    }
}

pub(crate) fn meminfo(k: &KernelState) -> String {
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
