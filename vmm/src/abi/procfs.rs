//! The /proc files a program may read about itself, generated from the
//! VMM's own model of it.

use std::fmt::Write as _;

use super::Task;
use crate::arch::PAGE_SIZE;
use crate::mm::{Vma, VmaKind};

/// Contents of `path`, if faultline provides it.
pub fn generate(task: &Task, path: &str) -> Option<Vec<u8>> {
    match path {
        "/proc/self/maps" => Some(maps(task).into_bytes()),
        "/proc/self/status" => Some(status(task).into_bytes()),
        "/proc/self/comm" => Some(format!("{}\n", task.comm).into_bytes()),
        "/proc/meminfo" => Some(meminfo(task).into_bytes()),
        "/proc/self/cmdline" => None,
        _ => None,
    }
}

fn vma_name(task: &Task, v: &Vma) -> String {
    match v.kind {
        VmaKind::Image { .. } => task.exe.clone(),
        VmaKind::Heap => "[heap]".into(),
        VmaKind::Stack => "[stack]".into(),
        VmaKind::Anon if v.shared => "/dev/zero (deleted)".into(),
        VmaKind::Anon => String::new(),
    }
}

/// One line per VMA, in the kernel's format (show_map_vma): the name
/// column starts at byte 73.
pub fn maps(task: &Task) -> String {
    let mut out = String::new();
    for v in task.space.vmas().iter() {
        let offset = match v.kind {
            VmaKind::Image { offset } => offset,
            _ => 0,
        };
        let mut line = format!(
            "{:08x}-{:08x} {}{}{}{} {:08x} 00:00 {} ",
            v.start,
            v.end,
            if v.perms.read { 'r' } else { '-' },
            if v.perms.write { 'w' } else { '-' },
            if v.perms.exec { 'x' } else { '-' },
            if v.shared { 's' } else { 'p' },
            offset,
            if matches!(v.kind, VmaKind::Image { .. }) { 1 } else { 0 },
        );
        let name = vma_name(task, v);
        if !name.is_empty() {
            while line.len() < 73 {
                line.push(' ');
            }
            line.push_str(&name);
        }
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// Memory figures of /proc/self/status, in KiB.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemStatus {
    pub vm_peak: u64,
    pub vm_size: u64,
    pub vm_lck: u64,
    pub vm_pin: u64,
    pub vm_hwm: u64,
    pub vm_rss: u64,
    pub rss_anon: u64,
    pub rss_file: u64,
    pub vm_data: u64,
    pub vm_stk: u64,
    pub vm_exe: u64,
    pub vm_swap: u64,
}

/// The sandbox's totals, as /proc/meminfo shows them, in KiB.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemInfo {
    pub mem_total: u64,
    pub mem_free: u64,
    pub swap_total: u64,
    pub swap_free: u64,
    pub mlocked: u64,
}

/// Both, for the report at exit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemoryReport {
    pub status: MemStatus,
    pub info: MemInfo,
}

const KIB: u64 = PAGE_SIZE / 1024;

pub fn mem_status(task: &Task) -> MemStatus {
    let mut m = MemStatus::default();
    let backing = task.space.backing();
    let c = backing.counters();
    for v in task.space.vmas().iter() {
        let kib = v.len() / 1024;
        m.vm_size += kib;
        if v.locked {
            m.vm_lck += kib;
        }
        match v.kind {
            VmaKind::Stack => m.vm_stk += kib,
            VmaKind::Image { .. } if v.perms.exec => m.vm_exe += kib,
            _ => {}
        }
        // VmData: private writable, non-stack mappings.
        if v.perms.write && !v.shared && v.kind != VmaKind::Stack {
            m.vm_data += kib;
        }
        let (mut resident, mut swapped) = (0, 0);
        task.space.for_each_frame(v.start, v.end, |_, gpa| {
            resident += u64::from(backing.is_resident(gpa));
            swapped += u64::from(backing.is_swapped(gpa));
        });
        m.vm_rss += resident * KIB;
        m.vm_swap += swapped * KIB;
        match v.kind {
            // Read-only image pages hold the file's bytes: file pages.
            VmaKind::Image { .. } if !v.perms.write => m.rss_file += resident * KIB,
            _ => m.rss_anon += resident * KIB,
        }
    }
    m.vm_peak = (task.vm_peak / 1024).max(m.vm_size);
    m.vm_pin = c.host_pinned * KIB;
    m.vm_hwm = (c.peak_resident * KIB).max(m.vm_rss);
    m
}

pub fn mem_info(task: &Task) -> MemInfo {
    let backing = task.space.backing();
    let c = backing.counters();
    let total = backing.budget().resident_pages * KIB;
    MemInfo {
        mem_total: total,
        mem_free: total.saturating_sub(c.resident * KIB),
        swap_total: c.swap_capacity * KIB,
        swap_free: (c.swap_capacity - c.swapped) * KIB,
        mlocked: c.pinned * KIB,
    }
}

pub fn memory_report(task: &Task) -> MemoryReport {
    MemoryReport { status: mem_status(task), info: mem_info(task) }
}

impl std::fmt::Display for MemoryReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = &self.status;
        let i = &self.info;
        writeln!(
            f,
            "status: VmPeak {} kB, VmSize {} kB, VmLck {} kB, VmPin {} kB, VmHWM {} kB, VmRSS {} kB \
             (RssAnon {} kB, RssFile {} kB), VmData {} kB, VmStk {} kB, VmExe {} kB, VmSwap {} kB",
            s.vm_peak,
            s.vm_size,
            s.vm_lck,
            s.vm_pin,
            s.vm_hwm,
            s.vm_rss,
            s.rss_anon,
            s.rss_file,
            s.vm_data,
            s.vm_stk,
            s.vm_exe,
            s.vm_swap
        )?;
        writeln!(
            f,
            "meminfo: MemTotal {} kB, MemFree {} kB, SwapTotal {} kB, SwapFree {} kB, Mlocked {} kB",
            i.mem_total, i.mem_free, i.swap_total, i.swap_free, i.mlocked
        )
    }
}

pub fn status(task: &Task) -> String {
    let m = mem_status(task);
    let mut s = String::new();
    let _ = writeln!(s, "Name:\t{}", task.comm);
    let _ = writeln!(s, "Umask:\t0022\nState:\tR (running)\nTgid:\t1\nNgid:\t0\nPid:\t1\nPPid:\t0\nTracerPid:\t0");
    let _ = writeln!(s, "Uid:\t1000\t1000\t1000\t1000\nGid:\t1000\t1000\t1000\t1000\nFDSize:\t64\nGroups:\t");
    for (k, v) in [
        ("VmPeak", m.vm_peak),
        ("VmSize", m.vm_size),
        ("VmLck", m.vm_lck),
        ("VmPin", m.vm_pin),
        ("VmHWM", m.vm_hwm),
        ("VmRSS", m.vm_rss),
        ("RssAnon", m.rss_anon),
        ("RssFile", m.rss_file),
        ("RssShmem", 0),
        ("VmData", m.vm_data),
        ("VmStk", m.vm_stk),
        ("VmExe", m.vm_exe),
        ("VmLib", 0),
        ("VmPTE", task.space.tables().table_pages() * KIB),
        ("VmSwap", m.vm_swap),
    ] {
        let _ = writeln!(s, "{k}:\t{v:>8} kB");
    }
    let _ = writeln!(s, "Threads:\t1");
    s
}

pub fn meminfo(task: &Task) -> String {
    let i = mem_info(task);
    let mut s = String::new();
    for (k, v) in [
        ("MemTotal", i.mem_total),
        ("MemFree", i.mem_free),
        ("MemAvailable", i.mem_free),
        ("SwapTotal", i.swap_total),
        ("SwapFree", i.swap_free),
        ("Mlocked", i.mlocked),
    ] {
        let _ = writeln!(s, "{:<16}{:>8} kB", format!("{k}:"), v);
    }
    s
}
