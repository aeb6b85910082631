//! Per-region summary: what a person reads at a glance after a run.

use std::fmt::Write as _;

use super::{Access, Event, EventKind, Origin};
use crate::arch::Perms;
use crate::mm::{RegionId, RegionTable};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegionSummary {
    pub name: String,
    pub start: u64,
    pub end: u64,
    pub perms: Perms,
    pub mapped_pages: u64,
    pub read_faults: u64,
    pub write_faults: u64,
    /// Pages brought in ahead of use (populate, mlock, --pin).
    pub prefaults: u64,
    /// Faults served from swap (also counted as read or write faults).
    pub swap_ins: u64,
    pub evictions: u64,
    pub resident_pages: u64,
    pub first_fault_ns: Option<u64>,
    pub last_fault_ns: Option<u64>,
    pub median_latency_ns: Option<u64>,
}

impl RegionSummary {
    pub fn faults(&self) -> u64 {
        self.read_faults + self.write_faults
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Summary {
    pub regions: Vec<RegionSummary>,
    /// Pages the VMM backed on the program's behalf.
    pub vmm_pages: u64,
}

impl Summary {
    pub fn region(&self, name: &str) -> Option<&RegionSummary> {
        self.regions.iter().find(|r| r.name == name)
    }

    pub fn guest_faults(&self) -> u64 {
        self.regions.iter().map(RegionSummary::faults).sum()
    }
}

/// Summarises `events`; `resident(region)` counts a region's resident pages.
pub fn summarize(events: &[Event], regions: &RegionTable, resident: impl Fn(RegionId) -> u64) -> Summary {
    let mut out = Vec::new();
    for (id, r) in regions.iter() {
        let mine = || events.iter().filter(move |e| e.region == Some(id));
        // The program's faults: its own touches, whatever served them.
        let guest: Vec<&Event> = mine()
            .filter(|e| e.origin == Origin::Guest && e.access != Access::None && e.kind != EventKind::OomKill)
            .collect();
        let mut lat: Vec<u64> = guest.iter().map(|e| e.latency_ns).collect();
        lat.sort_unstable();
        out.push(RegionSummary {
            name: r.name.clone(),
            start: r.start,
            end: r.end,
            perms: r.perms,
            mapped_pages: r.pages,
            read_faults: guest.iter().filter(|e| e.access == Access::Read).count() as u64,
            write_faults: guest.iter().filter(|e| e.access == Access::Write).count() as u64,
            prefaults: mine().filter(|e| matches!(e.kind, EventKind::Prefault(_))).count() as u64,
            swap_ins: guest.iter().filter(|e| e.kind == EventKind::SwapIn).count() as u64,
            evictions: mine().filter(|e| e.kind == EventKind::Evict).count() as u64,
            resident_pages: resident(id),
            first_fault_ns: guest.iter().map(|e| e.time_ns).min(),
            last_fault_ns: guest.iter().map(|e| e.time_ns).max(),
            median_latency_ns: lat.get(lat.len() / 2).copied(),
        });
    }
    let vmm_pages = events.iter().filter(|e| e.origin == Origin::Vmm && e.kind != EventKind::Evict).count() as u64;
    Summary { regions: out, vmm_pages }
}

fn ms(ns: Option<u64>) -> String {
    ns.map(|n| format!("{:.3}", n as f64 / 1e6)).unwrap_or_else(|| "-".into())
}

fn us(ns: Option<u64>) -> String {
    ns.map(|n| format!("{:.1}", n as f64 / 1e3)).unwrap_or_else(|| "-".into())
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let header = [
            "region", "range", "perm", "mapped", "faults", "read", "write", "prefault", "swapin", "evict", "resident",
            "first ms", "last ms", "med µs",
        ];
        // Regions that never held a page (an mmap region of a program that
        // never mapped anything) say nothing.
        let rows: Vec<[String; 14]> = self
            .regions
            .iter()
            .filter(|r| r.start < r.end)
            .map(|r| {
                [
                    r.name.clone(),
                    format!("{:#x}-{:#x}", r.start, r.end),
                    r.perms.to_string(),
                    r.mapped_pages.to_string(),
                    r.faults().to_string(),
                    r.read_faults.to_string(),
                    r.write_faults.to_string(),
                    r.prefaults.to_string(),
                    r.swap_ins.to_string(),
                    r.evictions.to_string(),
                    r.resident_pages.to_string(),
                    ms(r.first_fault_ns),
                    ms(r.last_fault_ns),
                    us(r.median_latency_ns),
                ]
            })
            .collect();
        let mut width = header.map(|h| h.chars().count());
        for row in &rows {
            for (w, cell) in width.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let mut s = String::new();
        let mut line = |cells: &[&str]| {
            for (i, (cell, w)) in cells.iter().zip(width).enumerate() {
                let pad = w - cell.chars().count();
                // Names and permissions left-aligned, numbers right-aligned.
                if i == 0 || i == 2 {
                    let _ = write!(s, "{cell}{}", " ".repeat(pad));
                } else {
                    let _ = write!(s, "{}{cell}", " ".repeat(pad));
                }
                s.push_str(if i + 1 < cells.len() { "  " } else { "\n" });
            }
        };
        line(&header);
        for row in &rows {
            line(&row.iter().map(String::as_str).collect::<Vec<_>>());
        }
        let mapped: u64 = self.regions.iter().map(|r| r.mapped_pages).sum();
        let resident: u64 = self.regions.iter().map(|r| r.resident_pages).sum();
        let _ = writeln!(
            s,
            "total: {} pages mapped, {} faulted in by the program, {} backed by the VMM for it, {} resident ({} KiB)",
            mapped,
            self.guest_faults(),
            self.vmm_pages,
            resident,
            resident * 4
        );
        f.write_str(&s)
    }
}
