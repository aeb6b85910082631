//! The timeline's view of memory: each fault, release, eviction and
//! signalled fault recorded with the process's RSS, the mapping and the
//! faulting instruction; and the run stopped when faultline cannot go on.

use std::time::Instant;

use super::super::super::process::{Pid, Tid};
use super::super::super::signal::{self, SigInfo};
use super::super::super::KernelState;
use super::{Actor, Resolved, Want};
use crate::arch::page_floor;
use crate::fault::{Evicted, Filled};
use crate::mm::{MmId, Vma};
use crate::timeline::{Access, Event, EventKind, Origin};

impl KernelState {
    /// Records a resolved fault at `page` of `vma` (frame `gpa`), or, while
    /// populating ahead of use, the prefault it stands for.
    pub(super) fn record_fault(&mut self, mm: MmId, who: Actor, vma: &Vma, page: u64, done: Resolved, want: Want) {
        let (kind, gpa) = done;
        let region = self.mm.space(mm).region_of(page).unwrap_or(vma.region);
        let (kind, access) = match self.mm.prefault {
            Some(p) => (EventKind::Prefault(p), Access::None),
            None => (kind, want.access()),
        };
        let e = Event {
            latency_ns: who.at.elapsed().as_nanos() as u64,
            pid: who.pid,
            tid: who.tid,
            ..Event::new(kind, access, who.origin, region, page, gpa)
        };
        self.record(e, who.at);
    }

    /// Records an event, counting it for the process (getrusage), with the
    /// process's RSS after it, the mapping holding the page, and the
    /// faulting instruction and its symbol where there is one.
    pub(crate) fn record(&mut self, mut e: Event, at: Instant) {
        let mm = match self.mm.loading {
            Some((pid, mm)) if pid == e.pid => Some(mm),
            _ => self.tasks.proc(e.pid).map(|p| p.mm),
        };
        if let Some(mm) = mm {
            // An exit's process maps nothing any more (a vfork child's
            // address space lives on with its parent).
            if e.kind != EventKind::Release && e.kind != EventKind::Exit {
                e.rss = self.phys.mm_counters(mm).rss();
            }
            if e.origin == Origin::Guest && e.ip == 0 && e.kind != EventKind::Release {
                e.ip = self.mm.fault_ip.unwrap_or(0);
            }
            if e.origin == Origin::Guest && e.stack.is_none() && e.kind != EventKind::Release && self.unwind.active() {
                e.stack = self.fault_stack(mm);
            }
            if let Some(m) = self.mm.get(mm) {
                if e.mapping == 0 {
                    e.mapping = m.vmas.find(e.gva).map_or(0, |v| v.start);
                }
                if e.ip != 0 {
                    if let Some(vma) = m.vmas.find(e.ip) {
                        let data = match &vma.backing {
                            crate::mm::Backing::File { file, .. } => {
                                self.phys.cache.get(&file.id).map(|c| c.data.clone())
                            }
                            crate::mm::Backing::Anon => None,
                        };
                        e.symbol = self.unwind.symbol(vma, e.ip, data.as_ref());
                    }
                }
            }
        }
        if e.is_guest_fault() || (e.origin == Origin::Vmm && e.kind.is_fault()) {
            if let Some(p) = self.tasks.proc_mut(e.pid) {
                if e.kind.is_major() {
                    p.rusage.majflt += 1;
                } else {
                    p.rusage.minflt += 1;
                }
            }
        }
        // A fault its vCPU stopped for (one the kernel side saw, with an
        // ip): faultline holds the thread until the vCPU goes back in.
        if e.is_guest_fault() && self.mm.fault_ip.is_some() {
            if let Some(t) = self.tasks.thread_mut(e.tid) {
                t.held = Some((e.pid, e.region));
            }
        }
        e.sandbox_rss = self.phys.counters.resident;
        e.swap = self.phys.swap.used() as u64;
        self.procfs.changed();
        if self.cfg.record {
            self.report.recorder_mut().record(e, at);
        }
    }

    /// Records the pages `pid`'s address space gave back since the last
    /// call, one `release` row each, the RSS going down row by row.
    pub(crate) fn record_releases(&mut self, pid: Pid, tid: Tid, at: Instant) {
        let Some(mm) = self.tasks.proc(pid).map(|p| p.mm) else { return };
        let Some(m) = self.mm.get_mut(mm) else { return };
        if m.released.is_empty() {
            return;
        }
        let released = std::mem::take(&mut m.released);
        let rss = self.phys.mm_counters(mm).rss();
        let n = released.len() as u64;
        for (i, r) in released.into_iter().enumerate() {
            let e = Event {
                pid,
                tid,
                rss: rss + (n - 1 - i as u64),
                mapping: r.mapping,
                ..Event::new(EventKind::Release, Access::None, Origin::Guest, r.region, r.va, r.gpa)
            };
            self.record(e, at);
        }
    }

    /// Records evictions done to make room.
    pub(crate) fn note_evictions(&mut self, evicted: &[Evicted], at: Instant) {
        for ev in evicted {
            let (pid, region, va) = match ev.mapping {
                Some(m) => {
                    let pid = self.tasks.procs().find(|p| p.mm == m.mm).map_or(0, |p| p.pid);
                    let region = self.mm.get(m.mm).and_then(|mm| mm.region_of(m.va));
                    (pid, region, m.va)
                }
                None => (0, None, 0),
            };
            let region = region
                .unwrap_or_else(|| self.report.recorder_mut().region("page cache", crate::timeline::RegionKind::File));
            let e = Event {
                latency_ns: ev.latency_ns,
                pid,
                tid: 0,
                ..Event::new(EventKind::Evict, Access::None, Origin::Vmm, region, va, ev.gpa)
            };
            self.record(e, at);
        }
        if !evicted.is_empty() {
            self.reclaim_status();
        }
    }

    /// Ends the run if the host refused to flush stale translations
    /// ([`crate::mm::Phys::flush_failed`]); true if it did.
    pub(crate) fn check_host(&mut self) -> bool {
        match self.phys.flush_failed.take() {
            Some(why) => {
                self.stop_on_failure(why);
                true
            }
            None => false,
        }
    }

    /// faultline itself cannot go on.
    pub(crate) fn stop_on_failure(&mut self, what: String) {
        self.report.set_stop(crate::kernel::Stop::Failure(what));
        let pids: Vec<Pid> = self.tasks.pids();
        for pid in pids {
            self.kill_process(pid, crate::kernel::ExitStatus::Killed(signal::SIGKILL));
        }
    }
}

/// The event a first touch makes, by how its page was filled.
pub(crate) fn event_kind(f: Filled) -> Option<EventKind> {
    match f {
        Filled::AlreadyThere => None,
        Filled::Zeroes => Some(EventKind::ZeroFill),
        Filled::FileRead => Some(EventKind::FileCopy),
        Filled::PreCached => Some(EventKind::CacheHit),
        Filled::SwappedIn => Some(EventKind::SwapIn),
        Filled::ZeroCow => Some(EventKind::Cow),
    }
}

impl KernelState {
    /// A fault the program's handler will see: its own timeline row.
    pub(crate) fn note_signal(&mut self, pid: Pid, tid: Tid, addr: u64, write: bool, info: &SigInfo, at: Instant) {
        let Some(mm) = self.tasks.proc(pid).map(|p| p.mm) else { return };
        let region = self
            .mm
            .get(mm)
            .and_then(|m| m.region_of(addr))
            .unwrap_or_else(|| self.report.recorder_mut().region("unmapped", crate::timeline::RegionKind::Mmap));
        let e = Event {
            latency_ns: at.elapsed().as_nanos() as u64,
            pid,
            tid,
            ..Event::new(
                EventKind::Signal { signo: info.signo as u8, code: info.code },
                if write { Access::Write } else { Access::Read },
                Origin::Guest,
                region,
                page_floor(addr),
                0,
            )
        };
        self.record(e, at);
    }
}
