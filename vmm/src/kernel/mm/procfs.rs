//! The /proc views of memory that walk page tables: /proc/PID/smaps and
//! smaps_rollup (per-VMA Rss, Pss, shared and private, clean and dirty,
//! Referenced, Anonymous, Swap, Locked), and /proc/vmstat's counters, in
//! the formats of a 6.x kernel.

use std::fmt::Write as _;

use super::super::KernelState;
use crate::arch::PAGE_SIZE;
use crate::mm::{FrameKind, Residency, Vma};

/// What one VMA (or all of them) holds, in bytes; Pss in 1/4096 byte
/// units for exactness, as the kernel keeps it shifted.
#[derive(Clone, Copy, Default)]
struct Usage {
    rss: u64,
    pss: u64,
    pss_dirty: u64,
    pss_anon: u64,
    pss_file: u64,
    pss_shmem: u64,
    shared_clean: u64,
    shared_dirty: u64,
    private_clean: u64,
    private_dirty: u64,
    referenced: u64,
    anonymous: u64,
    swap: u64,
    locked: u64,
}

impl Usage {
    fn add(&mut self, o: &Usage) {
        self.rss += o.rss;
        self.pss += o.pss;
        self.pss_dirty += o.pss_dirty;
        self.pss_anon += o.pss_anon;
        self.pss_file += o.pss_file;
        self.pss_shmem += o.pss_shmem;
        self.shared_clean += o.shared_clean;
        self.shared_dirty += o.shared_dirty;
        self.private_clean += o.private_clean;
        self.private_dirty += o.private_dirty;
        self.referenced += o.referenced;
        self.anonymous += o.anonymous;
        self.swap += o.swap;
        self.locked += o.locked;
    }
}

fn usage(k: &KernelState, mm: crate::mm::MmId, v: &Vma) -> Usage {
    let mut u = Usage::default();
    let Some(m) = k.mm.get(mm) else { return u };
    m.for_each_mapped(v.start, v.end, |_, leaf| {
        let Some(f) = k.phys.frame(leaf.pte.frame()) else { return };
        match f.residency {
            Residency::Resident => {}
            Residency::Swapped(_) => {
                u.swap += PAGE_SIZE;
                return;
            }
            Residency::Absent | Residency::Zero => return,
        }
        let mapcount = f.maps.len().max(1) as u64;
        let dirty = f.dirty || leaf.pte.dirty();
        let pss = (PAGE_SIZE << 12) / mapcount;
        u.rss += PAGE_SIZE;
        u.pss += pss;
        if dirty {
            u.pss_dirty += pss;
        }
        match f.kind {
            FrameKind::Anon => {
                u.pss_anon += pss;
                u.anonymous += PAGE_SIZE;
            }
            FrameKind::File => u.pss_file += pss,
            FrameKind::Shmem => u.pss_shmem += pss,
        }
        match (mapcount > 1, dirty) {
            (true, true) => u.shared_dirty += PAGE_SIZE,
            (true, false) => u.shared_clean += PAGE_SIZE,
            (false, true) => u.private_dirty += PAGE_SIZE,
            (false, false) => u.private_clean += PAGE_SIZE,
        }
        if leaf.pte.accessed() {
            u.referenced += PAGE_SIZE;
        }
        if v.locked {
            u.locked += PAGE_SIZE;
        }
    });
    u
}

fn kb(out: &mut String, key: &str, bytes: u64) {
    let _ = writeln!(out, "{:<16}{:>8} kB", format!("{key}:"), bytes >> 10);
}

/// The lines smaps and smaps_rollup share, from Rss to SwapPss; the
/// rollup splits Pss by kind.
fn usage_lines(out: &mut String, u: &Usage, rollup: bool) {
    kb(out, "Rss", u.rss);
    kb(out, "Pss", u.pss >> 12);
    kb(out, "Pss_Dirty", u.pss_dirty >> 12);
    if rollup {
        kb(out, "Pss_Anon", u.pss_anon >> 12);
        kb(out, "Pss_File", u.pss_file >> 12);
        kb(out, "Pss_Shmem", u.pss_shmem >> 12);
    }
    kb(out, "Shared_Clean", u.shared_clean);
    kb(out, "Shared_Dirty", u.shared_dirty);
    kb(out, "Private_Clean", u.private_clean);
    kb(out, "Private_Dirty", u.private_dirty);
    kb(out, "Referenced", u.referenced);
    kb(out, "Anonymous", u.anonymous);
    for key in
        ["KSM", "LazyFree", "AnonHugePages", "ShmemPmdMapped", "FilePmdMapped", "Shared_Hugetlb", "Private_Hugetlb"]
    {
        kb(out, key, 0);
    }
    kb(out, "Swap", u.swap);
    kb(out, "SwapPss", u.swap);
}

/// VmFlags as smaps prints them: in the order of their bits in vm_flags.
fn vm_flags(v: &Vma) -> String {
    let mut f = Vec::new();
    for (on, name) in [
        (v.perms.read, "rd"),
        (v.perms.write, "wr"),
        (v.perms.exec, "ex"),
        (v.shared, "sh"),
        (true, "mr"),
        (v.may_write || v.perms.write, "mw"),
        (true, "me"),
        (v.shared, "ms"),
        (v.growsdown, "gd"),
        (v.locked, "lo"),
        (v.dontcopy, "dc"),
        (v.account, "ac"),
        (v.noreserve, "nr"),
        (v.wipeonfork, "wf"),
        (v.dontdump, "dd"),
        (v.soft_dirty, "sd"),
    ] {
        if on {
            f.push(name);
        }
    }
    f.join(" ")
}

/// One VMA's record of /proc/PID/smaps: its maps line and its figures.
pub(crate) fn smaps_record(k: &KernelState, p: &super::super::Process, v: &Vma, out: &mut String) {
    let u = usage(k, p.mm, v);
    super::super::procfs::map_line(k, p, v, out);
    kb(out, "Size", v.end - v.start);
    kb(out, "KernelPageSize", PAGE_SIZE);
    kb(out, "MMUPageSize", PAGE_SIZE);
    usage_lines(out, &u, false);
    kb(out, "Locked", u.locked);
    let _ = writeln!(out, "THPeligible:    0");
    let _ = writeln!(out, "VmFlags: {} ", vm_flags(v));
}

/// /proc/PID/smaps_rollup: the sums, under one `[rollup]` line.
pub(crate) fn smaps_rollup(k: &KernelState, p: &super::super::Process) -> String {
    let Some(m) = k.mm.get(p.mm) else { return String::new() };
    let mut total = Usage::default();
    let (mut lo, mut hi) = (u64::MAX, 0);
    for v in m.vmas.iter() {
        total.add(&usage(k, p.mm, v));
        lo = lo.min(v.start);
        hi = hi.max(v.end);
    }
    let mut out = format!("{:08x}-{:08x} ---p 00000000 00:00 0", lo.min(hi), hi);
    while out.len() < 73 {
        out.push(' ');
    }
    out.push_str("[rollup]\n");
    usage_lines(&mut out, &total, true);
    kb(&mut out, "Locked", total.locked);
    out
}

/// /proc/vmstat: the counters faultline keeps, under Linux's names.
pub(crate) fn vmstat(k: &KernelState) -> String {
    let c = k.phys.counters;
    let (mut minflt, mut majflt) = (0, 0);
    for p in k.tasks.procs() {
        minflt += p.rusage.minflt + p.children_rusage.minflt;
        majflt += p.rusage.majflt + p.children_rusage.majflt;
    }
    let free = k.phys.buddy.free_pages();
    let mut out = String::new();
    for (name, v) in [
        ("nr_free_pages", free),
        ("nr_inactive_anon", 0),
        ("nr_active_anon", c.anon),
        ("nr_inactive_file", 0),
        ("nr_active_file", c.cached.saturating_sub(c.shmem)),
        ("nr_unevictable", c.mlocked),
        ("nr_mlock", c.mlocked),
        ("nr_anon_pages", c.anon),
        ("nr_mapped", c.cached),
        ("nr_file_pages", c.cached),
        ("nr_shmem", c.shmem),
        ("nr_page_table_pages", k.phys.tables.in_use()),
        ("nr_swapcached", 0),
        ("pswpin", c.swap_ins),
        ("pswpout", c.swap_outs),
        ("pgfault", minflt + majflt),
        ("pgmajfault", majflt),
        ("pgsteal_direct", c.evictions),
        ("pgscan_direct", c.evictions),
        ("oom_kill", k.mm.oom_kills()),
    ] {
        let _ = writeln!(out, "{name} {v}");
    }
    out
}

/// /proc/PID/pagemap's entry size, and where its entries end: TASK_SIZE
/// (x86-64's with 4-level paging keeps the last page below 2^47 from
/// the program).
pub(crate) const PM_ENTRY_BYTES: u64 = 8;
pub(crate) const PM_TASK_SIZE: u64 = crate::arch::layout::USER_TOP;

const PM_SOFT_DIRTY: u64 = 1 << 55;
const PM_MMAP_EXCLUSIVE: u64 = 1 << 56;
const PM_FILE: u64 = 1 << 61;
const PM_SWAP: u64 = 1 << 62;
const PM_PRESENT: u64 = 1 << 63;

/// Entries of /proc/PID/pagemap for at most `n` pages from virtual page
/// `vpn`, made for this read only (the file would be 256 GiB), as
/// fs/proc/task_mmu.c's pagemap_read for a reader without CAP_SYS_ADMIN:
/// bits 0-54 (the PFN, or the swap type and offset) are zero.
///
/// A page is present when its frame has a page: its own, or the zero page
/// (which, as Linux's vm_normal_page() says of the zero page, is neither
/// a file page nor exclusively mapped). Frames assigned ahead of the first
/// touch (the block fill) are not present; anonymous pages in swap are
/// swapped; shared memory swapped out is, as on Linux, a hole (its entry
/// was zapped). Soft-dirty (CONFIG_MEM_SOFT_DIRTY): the VMA's
/// VM_SOFTDIRTY (every new VMA has it, until clear_refs) or the entry's
/// own bit (written since clear_refs; kept in swap).
pub(crate) fn pagemap_entries(k: &KernelState, p: &super::super::Process, vpn: u64, n: u64) -> Vec<u8> {
    let last = PM_TASK_SIZE / PAGE_SIZE;
    let end = vpn.saturating_add(n).min(last);
    let Some(m) = k.mm.get(p.mm).filter(|_| vpn < end) else { return Vec::new() };
    let space = m;
    let mut out = Vec::with_capacity(((end - vpn) * PM_ENTRY_BYTES) as usize);
    let mut page = vpn;
    while page < end {
        let va = page * PAGE_SIZE;
        let Some(v) = space.vmas.find_from(va) else {
            out.resize(((end - vpn) * PM_ENTRY_BYTES) as usize, 0);
            break;
        };
        // The hole before the next VMA.
        let hole_end = (v.start / PAGE_SIZE).clamp(page, end);
        out.resize(out.len() + ((hole_end - page) * PM_ENTRY_BYTES) as usize, 0);
        page = hole_end;
        let vma_end = (v.end / PAGE_SIZE).min(end);
        while page < vma_end {
            out.extend_from_slice(&pagemap_entry(k, space, v, page * PAGE_SIZE).to_le_bytes());
            page += 1;
        }
    }
    out
}

/// The entry of page `va`, which lies in a VMA.
fn pagemap_entry(k: &KernelState, space: &crate::mm::AddressSpace, v: &Vma, va: u64) -> u64 {
    let mut flags = if v.soft_dirty { PM_SOFT_DIRTY } else { 0 };
    let pte = space.pte(va);
    let Some(f) = pte.mapped().then(|| k.phys.frame(pte.frame())).flatten() else { return flags };
    let soft_dirty = if pte.soft_dirty() { PM_SOFT_DIRTY } else { 0 };
    match f.residency {
        Residency::Zero => flags |= PM_PRESENT | soft_dirty,
        Residency::Resident => {
            flags |= PM_PRESENT | soft_dirty;
            if f.kind != FrameKind::Anon {
                flags |= PM_FILE;
            }
            if f.maps.len() == 1 {
                flags |= PM_MMAP_EXCLUSIVE;
            }
        }
        Residency::Swapped(_) if f.kind == FrameKind::Anon => flags |= PM_SWAP | soft_dirty,
        Residency::Swapped(_) | Residency::Absent => {}
    }
    flags
}
