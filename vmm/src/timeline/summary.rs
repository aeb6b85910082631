//! The summary: per process and region, what a person reads at a glance
//! after a run. Counts are kept as events happen ([`RegionCounts`]); the
//! shape of each region (range, mapped and resident pages) comes from the
//! process's address space when it ends.

use std::fmt::Write as _;

use super::{Access, Event, EventKind};
use crate::arch::Perms;

/// Latencies in a fixed histogram: 32 sub-buckets per power of two (about
/// 2 % resolution), so a million faults cost no more than ten.
#[derive(Clone, Debug)]
pub struct Latencies {
    buckets: Vec<u32>,
    n: u64,
}

impl Default for Latencies {
    fn default() -> Self {
        Latencies { buckets: vec![0; 64 * SUB], n: 0 }
    }
}

const SUB: usize = 32;

impl Latencies {
    fn bucket(ns: u64) -> usize {
        if ns < SUB as u64 {
            return ns as usize;
        }
        let exp = 63 - ns.leading_zeros() as usize; // ≥ 5
        let sub = ((ns >> (exp - 5)) & (SUB as u64 - 1)) as usize;
        (exp - 4) * SUB + sub
    }

    fn value(bucket: usize) -> u64 {
        if bucket < SUB {
            return bucket as u64;
        }
        let exp = bucket / SUB + 4;
        let sub = (bucket % SUB) as u64;
        // The middle of the bucket.
        ((SUB as u64 + sub) << (exp - 5)) + (1u64 << (exp - 5)) / 2
    }

    pub fn add(&mut self, ns: u64) {
        let b = Self::bucket(ns).min(self.buckets.len() - 1);
        self.buckets[b] += 1;
        self.n += 1;
    }

    /// The median, to the histogram's resolution.
    pub fn median(&self) -> Option<u64> {
        if self.n == 0 {
            return None;
        }
        let mut seen = 0u64;
        let want = self.n / 2 + 1;
        for (i, &c) in self.buckets.iter().enumerate() {
            seen += c as u64;
            if seen >= want {
                return Some(Self::value(i));
            }
        }
        None
    }
}

/// What happened in one region of one process.
#[derive(Clone, Debug, Default)]
pub struct RegionCounts {
    pub read_faults: u64,
    pub write_faults: u64,
    pub prefaults: u64,
    pub swap_ins: u64,
    pub cows: u64,
    pub cache_hits: u64,
    pub major_faults: u64,
    pub evictions: u64,
    pub releases: u64,
    pub first_fault_ns: Option<u64>,
    pub last_fault_ns: Option<u64>,
    pub latency: Latencies,
    /// How long faultline held each fault's thread (see
    /// [`RegionSummary::median_held_ns`]).
    pub held: Latencies,
}

impl RegionCounts {
    pub(super) fn add(&mut self, e: &Event) {
        match e.kind {
            EventKind::Prefault(_) => self.prefaults += 1,
            EventKind::Evict => self.evictions += 1,
            EventKind::Release => self.releases += 1,
            _ => {}
        }
        if !e.is_guest_fault() {
            return;
        }
        match e.access {
            Access::Read => self.read_faults += 1,
            Access::Write => self.write_faults += 1,
            Access::None => {}
        }
        match e.kind {
            EventKind::SwapIn => self.swap_ins += 1,
            EventKind::Cow => self.cows += 1,
            EventKind::CacheHit => self.cache_hits += 1,
            _ => {}
        }
        if e.kind.is_major() {
            self.major_faults += 1;
        }
        self.first_fault_ns = Some(self.first_fault_ns.map_or(e.time_ns, |t| t.min(e.time_ns)));
        self.last_fault_ns = Some(self.last_fault_ns.map_or(e.time_ns, |t| t.max(e.time_ns)));
        self.latency.add(e.latency_ns);
    }
}

/// A region as its process's address space shows it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RegionShape {
    pub start: u64,
    pub end: u64,
    pub perms: Perms,
    pub mapped_pages: u64,
    pub resident_pages: u64,
    /// The separate address ranges it is made of, lowest first.
    pub areas: Vec<(u64, u64)>,
}

impl RegionShape {
    /// Adds `[start, end)`, joining the last range if it ends there.
    pub fn add_area(&mut self, start: u64, end: u64) {
        match self.areas.last_mut() {
            Some(last) if last.1 == start => last.1 = end,
            _ => self.areas.push((start, end)),
        }
    }
}

/// One region of one process at its exit: its shape, what faulted in it
/// and what stayed resident (a row of the summary table and of the JSON
/// summary).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegionSummary {
    /// The process.
    pub pid: u32,
    /// The region (`.text`, `.bss`, `heap`, `stack`, a file's path, …).
    pub name: String,
    /// Its lowest address.
    pub start: u64,
    /// The address after its highest.
    pub end: u64,
    /// The permissions of its mappings, together.
    pub perms: Perms,
    /// Pages mapped.
    pub mapped_pages: u64,
    /// The program's read faults.
    pub read_faults: u64,
    /// The program's write faults.
    pub write_faults: u64,
    /// Pages brought in ahead of use (populate, mlock, --pin).
    pub prefaults: u64,
    /// Faults served from swap (also counted as read or write faults).
    pub swap_ins: u64,
    /// Copy-on-write faults (also counted as write faults).
    pub cows: u64,
    /// Pages reclaim took away.
    pub evictions: u64,
    /// Resident pages the process stopped mapping (munmap, MADV_DONTNEED,
    /// brk shrinking, a mapping replaced): `release` rows.
    pub releases: u64,
    /// Pages resident at exit.
    pub resident_pages: u64,
    /// The separate address ranges it is made of at exit, lowest first
    /// (`start` and `end` span them all: anonymous mmaps, say, lie
    /// between libraries).
    pub areas: Vec<(u64, u64)>,
    /// When the first fault came, in ns since exec.
    pub first_fault_ns: Option<u64>,
    /// When the last fault came, in ns since exec.
    pub last_fault_ns: Option<u64>,
    /// The median time to resolve a fault (the fault handler's work).
    pub median_latency_ns: Option<u64>,
    /// The median time faultline held the faulting thread for a fault:
    /// from its vCPU's exit to its next entry for a fault the kernel side
    /// handles, from reading the fault to waking the vCPU for one that
    /// reached userfaultfd inside KVM_RUN. What the program paid is this
    /// and the hypervisor's part (taking the fault, leaving and entering
    /// the guest, waking threads), which cannot be seen from here.
    pub median_held_ns: Option<u64>,
}

impl RegionSummary {
    pub(crate) fn new(pid: u32, name: String, shape: RegionShape, c: &RegionCounts) -> Self {
        let shape = RegionShape { start: shape.start.min(shape.end), ..shape };
        RegionSummary {
            pid,
            name,
            start: shape.start,
            end: shape.end,
            perms: shape.perms,
            mapped_pages: shape.mapped_pages,
            read_faults: c.read_faults,
            write_faults: c.write_faults,
            prefaults: c.prefaults,
            swap_ins: c.swap_ins,
            cows: c.cows,
            evictions: c.evictions,
            releases: c.releases,
            resident_pages: shape.resident_pages,
            areas: shape.areas,
            first_fault_ns: c.first_fault_ns,
            last_fault_ns: c.last_fault_ns,
            median_latency_ns: c.latency.median(),
            median_held_ns: c.held.median(),
        }
    }

    /// The program's faults: read and write.
    pub fn faults(&self) -> u64 {
        self.read_faults + self.write_faults
    }
}

/// One process: its regions, and how it ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessSummary {
    /// Its pid.
    pub pid: u32,
    /// Its name (comm) at exit.
    pub comm: String,
    /// Its regions, as the summary table lists them.
    pub regions: Vec<RegionSummary>,
    /// Pages the VMM backed on the process's behalf.
    pub vmm_pages: u64,
    /// The most pages it had resident at once (ru_maxrss, in pages).
    pub peak_resident_pages: u64,
}

impl ProcessSummary {
    /// Its region called `name`.
    pub fn region(&self, name: &str) -> Option<&RegionSummary> {
        self.regions.iter().find(|r| r.name == name)
    }

    /// Pages resident when it ended (VmRSS then).
    pub fn resident_pages(&self) -> u64 {
        self.regions.iter().map(|r| r.resident_pages).sum()
    }

    /// Resident pages it stopped mapping.
    pub fn releases(&self) -> u64 {
        self.regions.iter().map(|r| r.releases).sum()
    }

    /// Its own faults, in every region.
    pub fn guest_faults(&self) -> u64 {
        self.regions.iter().map(RegionSummary::faults).sum()
    }
}

/// Faults and residency per process and region: what the summary table
/// shows and `--summary` writes as JSON.
///
/// ```
/// use faultline::{Program, Sandbox};
///
/// let outcome = Sandbox::builder(Program::demo()).build()?.run()?;
/// let demo = outcome.summary.process(1).unwrap();
/// assert_eq!(demo.comm, "demo");
/// assert_eq!(demo.region(".data").unwrap().read_faults, 4);
/// assert_eq!(outcome.summary.guest_faults(), outcome.summary.regions().map(|r| r.faults()).sum::<u64>());
/// # Ok::<(), faultline::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Every process that ran, in pid order.
    pub processes: Vec<ProcessSummary>,
    /// The most pages the sandbox had resident at once: every process's
    /// pages (a page shared by several once) and the page cache. Never
    /// above MemTotal, unlike a sum of each process's peak.
    pub peak_resident_pages: u64,
    /// The pages the sandbox had resident when pid 1 ended, counted the
    /// same way.
    pub end_resident_pages: u64,
}

impl Summary {
    /// Region `name` of the first process (the program itself).
    pub fn region(&self, name: &str) -> Option<&RegionSummary> {
        self.processes.first().and_then(|p| p.region(name))
    }

    /// Process `pid`.
    pub fn process(&self, pid: u32) -> Option<&ProcessSummary> {
        self.processes.iter().find(|p| p.pid == pid)
    }

    /// Every region row of every process.
    pub fn regions(&self) -> impl Iterator<Item = &RegionSummary> {
        self.processes.iter().flat_map(|p| p.regions.iter())
    }

    /// Every process's own faults.
    pub fn guest_faults(&self) -> u64 {
        self.processes.iter().map(ProcessSummary::guest_faults).sum()
    }
}

fn ms(ns: Option<u64>) -> String {
    ns.map(|n| format!("{:.3}", n as f64 / 1e6)).unwrap_or_else(|| "-".into())
}

fn us(ns: Option<u64>) -> String {
    ns.map(|n| format!("{:.1}", n as f64 / 1e3)).unwrap_or_else(|| "-".into())
}

/// One table: a header and rows, names left-aligned and numbers right.
struct Table {
    header: Vec<&'static str>,
    left: Vec<usize>,
    rows: Vec<Vec<String>>,
}

impl Table {
    fn write(&self, s: &mut String) {
        let mut width: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (w, cell) in width.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let mut line = |cells: &[&str]| {
            for (i, (cell, w)) in cells.iter().zip(&width).enumerate() {
                let pad = " ".repeat(w - cell.chars().count());
                if self.left.contains(&i) {
                    let _ = write!(s, "{cell}{pad}");
                } else {
                    let _ = write!(s, "{pad}{cell}");
                }
                s.push_str(if i + 1 < cells.len() { "  " } else { "\n" });
            }
        };
        line(&self.header);
        for row in &self.rows {
            line(&row.iter().map(String::as_str).collect::<Vec<_>>());
        }
    }
}

/// A region's range: its one area, or the first of several and how many
/// more (a span would overlap the regions between them).
fn range(r: &RegionSummary) -> String {
    match r.areas.as_slice() {
        [] => "-".into(),
        [(s, e)] => format!("{s:#x}-{e:#x}"),
        [(s, e), more @ ..] => format!("{s:#x}-{e:#x} +{}", more.len()),
    }
}

fn kib(pages: u64) -> String {
    (pages * 4).to_string()
}

impl std::fmt::Display for Summary {
    /// The region table (each row named by its process when there are
    /// several), the process table, and the sandbox's peak and end.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let several = self.processes.len() > 1;
        let mut regions = Table {
            header: vec![
                "region", "range", "perm", "mapped", "faults", "read", "write", "cow", "prefault", "swapin", "evict",
                "release", "resident", "first ms", "last ms", "held µs",
            ],
            left: vec![0, 1, 2],
            rows: Vec::new(),
        };
        if several {
            regions.header.insert(0, "process");
            regions.left = vec![0, 1, 2, 3];
        }
        for p in &self.processes {
            // Regions that never held a page say nothing.
            for r in p.regions.iter().filter(|r| r.start < r.end || r.faults() > 0 || r.prefaults > 0) {
                let mut row = vec![
                    r.name.clone(),
                    range(r),
                    r.perms.to_string(),
                    r.mapped_pages.to_string(),
                    r.faults().to_string(),
                    r.read_faults.to_string(),
                    r.write_faults.to_string(),
                    r.cows.to_string(),
                    r.prefaults.to_string(),
                    r.swap_ins.to_string(),
                    r.evictions.to_string(),
                    r.releases.to_string(),
                    r.resident_pages.to_string(),
                    ms(r.first_fault_ns),
                    ms(r.last_fault_ns),
                    us(r.median_held_ns),
                ];
                if several {
                    row.insert(0, format!("{} {}", p.pid, crate::text::tame(&p.comm)));
                }
                regions.rows.push(row);
            }
        }
        let mut s = String::new();
        regions.write(&mut s);
        s.push('\n');
        let procs = Table {
            header: vec![
                "pid", "process", "faults", "prefault", "vmm", "swapin", "evict", "release", "peak KiB", "end KiB",
            ],
            left: vec![1],
            rows: self
                .processes
                .iter()
                .map(|p| {
                    let sum = |f: fn(&RegionSummary) -> u64| p.regions.iter().map(f).sum::<u64>().to_string();
                    vec![
                        p.pid.to_string(),
                        crate::text::tame(&p.comm),
                        p.guest_faults().to_string(),
                        sum(|r| r.prefaults),
                        p.vmm_pages.to_string(),
                        sum(|r| r.swap_ins),
                        sum(|r| r.evictions),
                        p.releases().to_string(),
                        kib(p.peak_resident_pages),
                        kib(p.resident_pages()),
                    ]
                })
                .collect(),
        };
        procs.write(&mut s);
        let _ = writeln!(
            s,
            "sandbox: {} KiB resident at most, {} KiB when pid 1 ended (every process's pages, a shared page once, and \
             the page cache)",
            kib(self.peak_resident_pages),
            kib(self.end_resident_pages)
        );
        f.write_str(&s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_median_is_within_its_resolution() {
        let mut l = Latencies::default();
        assert_eq!(l.median(), None);
        for v in [1_000, 2_000, 3_000, 40_000, 50_000] {
            l.add(v);
        }
        let m = l.median().unwrap();
        assert!((2_900..=3_100).contains(&m), "{m}");
        let mut small = Latencies::default();
        small.add(7);
        assert_eq!(small.median(), Some(7));
        let mut huge = Latencies::default();
        huge.add(u64::MAX);
        assert!(huge.median().is_some());
    }
}
