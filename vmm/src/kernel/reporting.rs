//! What the run tells the one who started it: the timeline's recorder,
//! kernel-style lines about processes that died of a signal or the OOM
//! killer, each process's summary as it ended, how pid 1 ended, why
//! everything is being stopped, and which syscalls were reported as
//! unsupported. The sandbox reads these once the run is over.

use std::collections::{BTreeMap, BTreeSet};

use super::process::{ExitStatus, Pid, Rusage};
use super::procfs::MemoryReport;
use super::{KernelState, Stop};
use crate::mm::Residency;
use crate::timeline::{ProcessSummary, Recorder, RegionId, RegionShape, RegionSummary};

pub(crate) struct Reporting {
    recorder: Recorder,
    /// Kernel-style lines about processes that died of a signal or the OOM
    /// killer.
    reports: Vec<String>,
    /// Summaries of processes that have exited, in exit order.
    summaries: Vec<ProcessSummary>,
    /// Syscalls already reported as unsupported.
    unsupported: BTreeSet<u64>,
    stop: Option<Stop>,
    init: InitEnd,
}

/// How pid 1 ended, once it has: what the outcome reports of it.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct InitEnd {
    pub(crate) status: Option<ExitStatus>,
    /// Its memory as /proc showed it when it ended.
    pub(crate) memory: Option<MemoryReport>,
    /// Frames resident when it ended, before its memory went.
    pub(crate) end_resident: Option<u64>,
    /// Its resource use and its reaped children's.
    pub(crate) usage: Option<Rusage>,
}

impl Reporting {
    pub(super) fn new(recorder: Recorder) -> Self {
        Reporting {
            recorder,
            reports: Vec::new(),
            summaries: Vec::new(),
            unsupported: BTreeSet::new(),
            stop: None,
            init: InitEnd::default(),
        }
    }

    pub(crate) fn recorder(&self) -> &Recorder {
        &self.recorder
    }

    pub(crate) fn recorder_mut(&mut self) -> &mut Recorder {
        &mut self.recorder
    }

    /// A kernel-style line about a process's death, for the outcome.
    pub(super) fn add_report(&mut self, line: String) {
        self.reports.push(line);
    }

    pub(crate) fn reports(&self) -> &[String] {
        &self.reports
    }

    /// Process `s.pid` has ended (or is summarized as it is, the run
    /// being over): its summary, once.
    pub(crate) fn add_summary(&mut self, s: ProcessSummary) {
        if !self.has_summary(s.pid) {
            self.summaries.push(s);
        }
    }

    pub(crate) fn has_summary(&self, pid: Pid) -> bool {
        self.summaries.iter().any(|s| s.pid == pid)
    }

    /// Processes summarized, in exit order.
    pub(crate) fn summaries(&self) -> &[ProcessSummary] {
        &self.summaries
    }

    /// True the first time syscall `nr` is reported as unsupported.
    pub(super) fn first_unsupported(&mut self, nr: u64) -> bool {
        self.unsupported.insert(nr)
    }

    /// Why everything is being stopped, if it is.
    pub(crate) fn stop(&self) -> Option<&Stop> {
        self.stop.as_ref()
    }

    /// Everything is being stopped for `why`, unless it already was (the
    /// first reason stays).
    pub(crate) fn set_stop(&mut self, why: Stop) {
        if self.stop.is_none() {
            self.stop = Some(why);
        }
    }

    /// Pid 1 has ended.
    pub(super) fn init_ended(&mut self, end: InitEnd) {
        self.init = end;
    }

    pub(crate) fn init(&self) -> &InitEnd {
        &self.init
    }

    /// Whether the supervisor has something to look at: pid 1 has ended,
    /// or everything is being stopped.
    pub(crate) fn over(&self) -> bool {
        self.init.status.is_some() || self.stop.is_some()
    }
}

impl KernelState {
    /// Processes a stuck thread kept from exiting, summarized with their
    /// counts so far.
    pub(crate) fn summarize_living(&mut self) {
        let live: Vec<Pid> = self.tasks.procs().filter(|p| !p.is_zombie()).map(|p| p.pid).collect();
        for pid in live {
            if !self.report.has_summary(pid) {
                let s = self.snapshot(pid);
                self.report.add_summary(s);
            }
        }
    }

    /// What process `pid` looks like now, region by region.
    pub(crate) fn snapshot(&self, pid: Pid) -> ProcessSummary {
        let Some(p) = self.tasks.proc(pid) else {
            return ProcessSummary {
                pid,
                comm: String::new(),
                regions: Vec::new(),
                vmm_pages: 0,
                peak_resident_pages: 0,
            };
        };
        let mut shapes: BTreeMap<RegionId, RegionShape> = BTreeMap::new();
        if let Some(mm) = self.mm.get(p.mm) {
            let space = mm;
            for v in space.vmas.iter() {
                let mut va = v.start;
                while va < v.end {
                    let region = space.region_of(va).unwrap_or(v.region);
                    // The run of pages in the same region.
                    let next = space
                        .sections
                        .iter()
                        .map(|s| if s.start > va { s.start } else { s.end })
                        .filter(|&b| b > va)
                        .min()
                        .unwrap_or(v.end)
                        .min(v.end);
                    let s = shapes.entry(region).or_insert(RegionShape { start: u64::MAX, ..Default::default() });
                    s.start = s.start.min(va);
                    s.end = s.end.max(next);
                    s.perms = s.perms.union(v.perms);
                    s.mapped_pages += (next - va) / crate::arch::PAGE_SIZE;
                    s.add_area(va, next);
                    va = next;
                }
                space.for_each_mapped(v.start, v.end, |va, leaf| {
                    if self.phys.frame(leaf.pte.frame()).is_some_and(|f| f.residency == Residency::Resident) {
                        let region = space.region_of(va).unwrap_or(v.region);
                        if let Some(s) = shapes.get_mut(&region) {
                            s.resident_pages += 1;
                        }
                    }
                });
            }
        }
        let regions = self.report.recorder().regions();
        let counts = self.report.recorder().counts();
        let mut ids: Vec<RegionId> = shapes.keys().copied().collect();
        for &(cpid, r) in counts.keys() {
            if cpid == pid && !ids.contains(&r) {
                ids.push(r);
            }
        }
        // In address order; regions no longer mapped last.
        ids.sort_by_key(|r| (shapes.get(r).map_or(u64::MAX, |s| s.start), r.0));
        let rows = ids
            .into_iter()
            .map(|r| {
                let shape = shapes.get(&r).cloned().unwrap_or_default();
                let c = counts.get(&(pid, r)).cloned().unwrap_or_default();
                RegionSummary::new(pid, regions.name(r).to_string(), shape, &c)
            })
            .collect();
        ProcessSummary {
            pid,
            comm: p.comm.clone(),
            regions: rows,
            vmm_pages: self.report.recorder().vmm_pages(pid),
            peak_resident_pages: p.rusage.maxrss.max(self.phys.mm_counters(p.mm).hiwater),
        }
    }
}
