//! Populating: bringing pages in before they are touched, as touching them
//! would (MAP_POPULATE, mlock, MADV_POPULATE_*, MADV_WILLNEED, `--pin`),
//! each page recorded as a prefault of its kind.

use super::fault::{Actor, Outcome, Want};
use crate::arch::PAGE_SIZE;
use crate::fault::{self, Need};
use crate::kernel::KernelState;
use crate::mm::{MmId, Residency};
use crate::timeline::{Access, Event, EventKind, Origin, Prefault};

impl KernelState {
    /// Populates `[start, end)` of `mm` as touching it would (MAP_POPULATE,
    /// mlock, MADV_POPULATE_*), recording each page brought in as `why`.
    /// Pages the area does not allow to be accessed are skipped. Returns
    /// false if a page could not be brought in.
    pub(crate) fn populate(&mut self, mm: MmId, who: Actor, start: u64, end: u64, write: bool, why: Prefault) -> bool {
        let mut ok = true;
        let mut va = start;
        while va < end {
            // Populating may end in the OOM killer taking this very process.
            if !self.mm.contains(mm) {
                return false;
            }
            let Some(vma) = self.mm.space(mm).vmas.find(va).cloned() else {
                ok = false;
                va += PAGE_SIZE;
                continue;
            };
            let stop = vma.end.min(end);
            if !vma.perms.any() {
                va = stop;
                ok = false;
                continue;
            }
            // populate_vma_page_range(): private writable areas are
            // populated for writing (their copy-on-write broken), and so is
            // everything MADV_POPULATE_WRITE asks for.
            let want = if vma.perms.write && (write || !vma.shared) { Want::Write } else { Want::Read };
            while va < stop {
                if !self.populate_page(mm, who, va, want, why) {
                    ok = false;
                }
                va += PAGE_SIZE;
            }
        }
        ok
    }

    fn populate_page(&mut self, mm: MmId, who: Actor, va: u64, want: Want, why: Prefault) -> bool {
        let Actor { pid, tid, at, .. } = who;
        for _ in 0..3 {
            if !self.mm.contains(mm) {
                return false;
            }
            let pte = self.mm.space(mm).pte(va);
            if !pte.present() || (want == Want::Write && !pte.writable()) {
                match self.handle_fault_as(mm, who, va, want, why) {
                    Outcome::Done => continue,
                    _ => return false,
                }
            }
            let gpa = pte.frame();
            let need = if want == Want::Write { Need::Write } else { Need::Read };
            let Some(f) = self.phys.frame(gpa) else { return false };
            if f.residency == Residency::Resident || (f.residency == Residency::Zero && need == Need::Read) {
                return true;
            }
            let mut evicted = Vec::new();
            let r = fault::populate(&mut self.phys, &*self.backing, gpa, Need::Write, &mut evicted);
            self.note_evictions(&evicted, at);
            return match r {
                Ok(_) => {
                    let region = self.mm.space(mm).region_of(va).unwrap_or(crate::timeline::RegionId(0));
                    let e = Event {
                        latency_ns: at.elapsed().as_nanos() as u64,
                        pid,
                        tid,
                        ..Event::new(EventKind::Prefault(why), Access::None, Origin::Guest, region, va, gpa)
                    };
                    self.record(e, at);
                    true
                }
                Err(fault::FaultError::OutOfMemory) => {
                    self.out_of_memory(pid, tid, va, at);
                    false
                }
                Err(_) => false,
            };
        }
        false
    }

    /// The fault path, with its event labelled as prefault `why`.
    fn handle_fault_as(&mut self, mm: MmId, who: Actor, va: u64, want: Want, why: Prefault) -> Outcome {
        self.mm.prefault = Some(why);
        let r = self.handle_fault(mm, who, va, want);
        self.mm.prefault = None;
        r
    }

    /// Pins `[start, end)` for the sandbox (`--pin`): populated, and never
    /// evicted whatever the program locks or unlocks.
    pub(crate) fn pin_host(&mut self, mm: MmId, pid: u32, start: u64, end: u64) {
        self.populate(mm, Actor::now(pid, pid), start, end, false, Prefault::Pin);
        let Some(m) = self.mm.get(mm) else { return };
        let frames = m.mapped_frames(start, end);
        for (_, gpa) in frames {
            self.phys.update(gpa, |f| f.pinned = true);
        }
    }
}
