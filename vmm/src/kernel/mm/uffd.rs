//! The kernel's side of userfaultfd: what the handler thread reads is
//! resolved here, under the kernel lock, and recorded for the thread that
//! took it (userfaultfd reports the faulting host thread, and each vCPU
//! thread runs one guest thread). Faults that wait for memory to be freed
//! (an OOM victim dying) are kept and retried.

use std::sync::Arc;
use std::time::Instant;

use super::super::{Kernel, KernelState};
use crate::arch::PAGE_SIZE;
use crate::fault::{self, FaultError, FaultSink, Filled, Need, PageFault, UffdError};
use crate::timeline::{Access, Event, EventKind, Origin, RegionId};

/// Feeds the handler thread's faults to the kernel.
pub struct KernelSink {
    kernel: Arc<Kernel>,
    kept: Vec<(PageFault, Instant)>,
}

impl KernelSink {
    pub fn new(kernel: Arc<Kernel>) -> Self {
        KernelSink { kernel, kept: Vec::new() }
    }
}

impl FaultSink for KernelSink {
    fn resolve(&mut self, faults: &[PageFault], read_at: Instant) -> Result<bool, UffdError> {
        let mut k = self.kernel.lock();
        for f in faults {
            if !k.resolve_uffd(f, read_at)? {
                self.kept.push((*f, read_at));
            }
        }
        k.check_host();
        if matches!(k.stop, Some(super::super::Stop::Failure(_))) {
            // The supervisor looks now, not when the last thread is gone.
            self.kernel.done.notify_all();
        }
        Ok(!self.kept.is_empty())
    }

    fn retry(&mut self) -> Result<bool, UffdError> {
        if self.kept.is_empty() {
            return Ok(false);
        }
        let mut k = self.kernel.lock();
        let kept = std::mem::take(&mut self.kept);
        for (f, at) in kept {
            if !k.resolve_uffd(&f, at)? {
                self.kept.push((f, at));
            }
        }
        Ok(!self.kept.is_empty())
    }
}

impl KernelState {
    /// Resolves one userfaultfd fault. False: not now (memory is being
    /// freed), keep it.
    pub(crate) fn resolve_uffd(&mut self, f: &PageFault, at: Instant) -> Result<bool, UffdError> {
        let backing = self.backing.clone();
        let page = f.address & !(PAGE_SIZE - 1);
        let Some(gpa) = self.phys.gpa_of_host(f.address) else {
            backing.wake(page, PAGE_SIZE)?;
            return Ok(true);
        };
        // Whose fault: a vCPU thread's (the guest's), or the VMM's own.
        let who = self.host_threads.get(&f.thread).and_then(|t| self.threads.get(t)).map(|t| (t.pid, t.tid, t.killed));
        if let Some((_, _, true)) = who {
            // It is being killed: let it go, nothing to record.
            backing.wake(page, PAGE_SIZE)?;
            return Ok(true);
        }
        if self.phys.frame(gpa).is_none() {
            // The frame was freed since (an munmap raced the touch): the
            // retry walks the tables afresh.
            backing.wake(page, PAGE_SIZE)?;
            return Ok(true);
        }
        let need = if f.write { Need::Write } else { Need::Read };
        let mut evicted = Vec::new();
        let r = fault::populate(&mut self.phys, &*backing, gpa, need, &mut evicted);
        // Filling the page woke the vCPU waiting for it.
        let held = at.elapsed();
        self.note_evictions(&evicted, at);
        let (pid, tid) = who.map_or((0, 0), |(p, t, _)| (p, t));
        match r {
            Ok(filled) => {
                let kind = match (filled, f.wp) {
                    (Filled::AlreadyThere, _) => None,
                    (Filled::ZeroCow, _) => Some(EventKind::Cow),
                    (other, _) => super::fault::event_kind(other),
                };
                if let Some(kind) = kind {
                    let region = self.record_frame_event(gpa, pid, tid, f.write, kind, who.is_some(), at);
                    if who.is_some() && kind.is_fault() && self.cfg.record {
                        self.recorder.add_held(pid, region, held.as_nanos() as u64);
                    }
                }
                Ok(true)
            }
            Err(FaultError::OutOfMemory) => {
                let va = self.mapping_of(gpa, pid).map_or(0, |(_, va)| va);
                self.out_of_memory(pid, tid, va, at);
                Ok(false)
            }
            // A failed ioctl (the host out of memory for UFFDIO_COPY) or
            // buffer: the run ends with it named; the handler lives on to
            // let the faults of the threads being killed go.
            Err(e) => {
                let va = self.mapping_of(gpa, pid).map_or(0, |(_, va)| va);
                self.stop_on_failure(format!("resolving a fault at {va:#x}: {e}"));
                backing.wake(page, PAGE_SIZE)?;
                Ok(true)
            }
        }
    }

    /// Frame `gpa`'s mapping in `pid`'s address space (or its first).
    fn mapping_of(&self, gpa: u64, pid: u32) -> Option<(crate::mm::MmId, u64)> {
        let f = self.phys.frame(gpa)?;
        let mm = self.procs.get(&pid).map(|p| p.mm);
        let m = f.maps.iter().find(|m| Some(m.mm) == mm).or(f.maps.first())?;
        Some((m.mm, m.va))
    }

    #[allow(clippy::too_many_arguments)]
    fn record_frame_event(
        &mut self,
        gpa: u64,
        pid: u32,
        tid: u32,
        write: bool,
        kind: EventKind,
        guest: bool,
        at: Instant,
    ) -> RegionId {
        let (region, va) = match self.mapping_of(gpa, pid) {
            Some((mm, va)) => (self.mms.get(&mm).and_then(|m| m.space.region_of(va)).unwrap_or(RegionId(0)), va),
            None => (self.recorder.region("page cache", crate::timeline::RegionKind::File), 0),
        };
        let e = Event {
            latency_ns: at.elapsed().as_nanos() as u64,
            pid,
            tid,
            ..Event::new(
                kind,
                if write { Access::Write } else { Access::Read },
                if guest { Origin::Guest } else { Origin::Vmm },
                region,
                va,
                gpa,
            )
        };
        self.record(e, at);
        region
    }

    /// A /proc file's contents now. Reads of the same file at the same state
    /// share one copy, however many descriptors ask.
    pub fn proc_contents(&mut self, _pid: u32, path: &str) -> Option<Arc<[u8]>> {
        if let Some((epoch, c)) = self.proc_cache.get(path) {
            if *epoch == self.epoch {
                return Some(c.clone());
            }
        }
        let comps: Vec<String> = path.split('/').filter(|c| !c.is_empty()).map(str::to_owned).collect();
        match super::super::procfs::lookup(self, 0, &comps) {
            Ok(super::super::procfs::ProcNode::File(b)) => {
                let a: Arc<[u8]> = b.into();
                let held: usize = self.proc_cache.values().map(|(_, c)| c.len()).sum();
                if self.proc_cache.len() >= 64 || held + a.len() > super::super::PROC_CACHE_BYTES {
                    self.proc_cache.clear();
                }
                self.proc_cache.insert(path.to_owned(), (self.epoch, a.clone()));
                Some(a)
            }
            _ => None,
        }
    }
}

impl Kernel {
    /// Fires the interval timers that are due (SIGALRM); returns when the
    /// next one is due.
    pub fn fire_timers(&self) -> Option<Instant> {
        let mut k = self.lock();
        let now = Instant::now();
        let due: Vec<u32> = k
            .procs
            .values()
            .filter(|p| !p.is_zombie() && p.itimer_real.is_some_and(|(at, _)| at <= now))
            .map(|p| p.pid)
            .collect();
        for pid in due {
            let p = k.procs.get_mut(&pid).expect("just found");
            let (_, every) = p.itimer_real.expect("due");
            p.itimer_real = if every.is_zero() { None } else { Some((now + every, every)) };
            k.send_process_signal(pid, super::super::signal::SigInfo::kernel(super::super::signal::SIGALRM));
        }
        k.procs.values().filter_map(|p| p.itimer_real.map(|(at, _)| at)).min()
    }
}
