//! The kernel's side of userfaultfd: what the handler thread reads is
//! resolved here, under the kernel lock, and recorded for the thread that
//! took it (userfaultfd reports the faulting host thread, and each vCPU
//! thread runs one guest thread). Faults that wait for memory to be freed
//! (an OOM victim dying) are kept and retried.

use std::sync::Arc;
use std::time::Instant;

use super::super::{Kernel, KernelState};
use super::fault::Actor;
use crate::arch::PAGE_SIZE;
use crate::fault::{self, FaultError, FaultSink, Filled, Need, PageFault, UffdError};
use crate::timeline::{Access, Event, EventKind, Origin, RegionId};

/// Feeds the handler thread's faults to the kernel.
pub(crate) struct KernelSink {
    kernel: Arc<Kernel>,
    kept: Vec<(PageFault, Instant)>,
}

impl KernelSink {
    pub(crate) fn new(kernel: Arc<Kernel>) -> Self {
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
        if matches!(k.report.stop(), Some(super::super::Stop::Failure(_))) {
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
        let who = self.tasks.by_host(f.thread).map(|t| (t.pid, t.tid, t.killed));
        if let Some((_, _, true)) = who {
            // It is being killed: let it go, nothing to record. Where the
            // host's userfaultfd wait inside KVM_RUN is not interrupted by
            // the kick (Linux 6.1's KVM faults are only killable), the
            // woken fault comes straight back for the same page: then it
            // is filled with zeros (a page of host memory until the dying
            // process's frames go), so that KVM_RUN can see the kick.
            if self.let_go.contains(&(f.thread, page)) {
                self.let_go.retain(|&(t, _)| t != f.thread);
                backing.copy(page, &[0u8; PAGE_SIZE as usize])?;
            } else {
                self.let_go.retain(|&(t, _)| t != f.thread);
                self.let_go.push((f.thread, page));
                backing.wake(page, PAGE_SIZE)?;
            }
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
                    let origin = if who.is_some() { Origin::Guest } else { Origin::Vmm };
                    let region = self.record_frame_event(gpa, Actor { pid, tid, origin, at }, f.write, kind);
                    if who.is_some() && kind.is_fault() && self.cfg.record {
                        self.report.recorder_mut().add_held(pid, region, held.as_nanos() as u64);
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
        let mm = self.tasks.proc(pid).map(|p| p.mm);
        let m = f.maps.iter().find(|m| Some(m.mm) == mm).or(f.maps.first())?;
        Some((m.mm, m.va))
    }

    fn record_frame_event(&mut self, gpa: u64, who: Actor, write: bool, kind: EventKind) -> RegionId {
        let Actor { pid, tid, origin, at } = who;
        let (region, va) = match self.mapping_of(gpa, pid) {
            Some((mm, va)) => (self.mm.get(mm).and_then(|m| m.region_of(va)).unwrap_or(RegionId(0)), va),
            None => (self.report.recorder_mut().region("page cache", crate::timeline::RegionKind::File), 0),
        };
        let e = Event {
            latency_ns: at.elapsed().as_nanos() as u64,
            pid,
            tid,
            ..Event::new(kind, if write { Access::Write } else { Access::Read }, origin, region, va, gpa)
        };
        self.record(e, at);
        region
    }
}
