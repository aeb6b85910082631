//! The kernel's access to user memory (copy_from_user, copy_to_user).
//!
//! Every address is checked against the process's own page tables, page
//! by page, for the access the copy makes: user pages only, writable for
//! writes. A page not there yet is faulted in as the guest's touch would
//! (first-touch fill, copy-on-write, file pages), recorded as the VMM's
//! doing. The VMM touches a host page only once it is resident, so it never
//! blocks on its own userfaultfd; and it never forms a host pointer from a
//! guest value: host accesses go through `Phys::read`/`write`, bounded by
//! the RAM mapping.

use std::time::Instant;

use super::super::errno::{Errno, EFAULT};
use super::super::process::{Pid, Tid};
use super::super::KernelState;
use super::fault::{Actor, Outcome, Want};
use crate::arch::layout::USER_TOP;
use crate::arch::PAGE_SIZE;
use crate::fault::{self, Need};
use crate::mm::{MmId, Residency};
use crate::timeline::{Access, Event, Origin};

impl KernelState {
    /// The frame behind `va` of address space `mm` (of `pid`), made ready
    /// for the VMM to `want` it: mapped with the right permission, and
    /// resident.
    fn user_frame(&mut self, mm: MmId, pid: Pid, tid: Tid, va: u64, want: Want) -> Result<u64, Errno> {
        if va >= USER_TOP || !self.mm.contains(mm) {
            return Err(EFAULT);
        }
        let page = va & !(PAGE_SIZE - 1);
        let at = Instant::now();
        for _ in 0..3 {
            let pte = self.mm.space(mm).pte(page);
            let ok = pte.user_accessible() && (want != Want::Write || pte.writable());
            if !ok {
                match self.handle_fault(mm, Actor { pid, tid, origin: Origin::Vmm, at }, page, want) {
                    Outcome::Done => continue,
                    _ => return Err(EFAULT),
                }
            }
            let gpa = pte.frame();
            let need = if want == Want::Write { Need::Write } else { Need::Read };
            let residency = self.phys.frame(gpa).ok_or(EFAULT)?.residency;
            let ready = match need {
                Need::Read => matches!(residency, Residency::Resident | Residency::Zero),
                Need::Write => residency == Residency::Resident,
            };
            if !ready {
                let mut evicted = Vec::new();
                let filled = fault::populate(&mut self.phys, &*self.backing, gpa, need, &mut evicted);
                self.note_evictions(&evicted, at);
                match filled {
                    Ok(f) => {
                        if let Some(kind) = super::fault::event_kind(f) {
                            let region = self.mm.space(mm).region_of(page).unwrap_or(crate::timeline::RegionId(0));
                            let access = if want == Want::Write { Access::Write } else { Access::Read };
                            let e = Event {
                                latency_ns: at.elapsed().as_nanos() as u64,
                                pid,
                                tid,
                                ..Event::new(kind, access, Origin::Vmm, region, page, gpa)
                            };
                            self.record(e, at);
                        }
                    }
                    Err(fault::FaultError::OutOfMemory) => {
                        self.out_of_memory(pid, tid, page, at);
                        return Err(EFAULT);
                    }
                    Err(_) => return Err(EFAULT),
                }
            }
            if want == Want::Write {
                self.phys.update(gpa, |f| f.dirty = true);
                self.mm.space(mm).mark_soft_dirty(page);
            }
            return Ok(gpa);
        }
        Err(EFAULT)
    }

    /// Copies user memory of `pid` at `addr` into `buf`. Stops with EFAULT
    /// at the first page the program may not read.
    pub(crate) fn copy_from_user(&mut self, pid: Pid, tid: Tid, addr: u64, buf: &mut [u8]) -> Result<(), Errno> {
        let mm = self.tasks.proc(pid).ok_or(EFAULT)?.mm;
        self.copy_from_mm(mm, pid, tid, addr, buf)
    }

    /// Copies `buf` into user memory of `pid` at `addr`. Stops with EFAULT
    /// at the first page the program may not write (what went before stays
    /// written, as on Linux).
    pub(crate) fn copy_to_user(&mut self, pid: Pid, tid: Tid, addr: u64, buf: &[u8]) -> Result<(), Errno> {
        let mm = self.tasks.proc(pid).ok_or(EFAULT)?.mm;
        self.copy_to_mm(mm, pid, tid, addr, buf)
    }

    /// [`KernelState::copy_from_user`] in address space `mm`.
    fn copy_from_mm(&mut self, mm: MmId, pid: Pid, tid: Tid, addr: u64, buf: &mut [u8]) -> Result<(), Errno> {
        let end = addr.checked_add(buf.len() as u64).ok_or(EFAULT)?;
        let mut at = addr;
        while at < end {
            let off = at % PAGE_SIZE;
            let n = (PAGE_SIZE - off).min(end - at) as usize;
            let gpa = self.user_frame(mm, pid, tid, at, Want::Read)?;
            let i = (at - addr) as usize;
            if !self.phys.read(gpa, off, &mut buf[i..i + n]) {
                return Err(EFAULT);
            }
            at += n as u64;
        }
        Ok(())
    }

    /// [`KernelState::copy_to_user`] in address space `mm`.
    pub(crate) fn copy_to_mm(&mut self, mm: MmId, pid: Pid, tid: Tid, addr: u64, buf: &[u8]) -> Result<(), Errno> {
        let end = addr.checked_add(buf.len() as u64).ok_or(EFAULT)?;
        let mut at = addr;
        while at < end {
            let off = at % PAGE_SIZE;
            let n = (PAGE_SIZE - off).min(end - at) as usize;
            let gpa = self.user_frame(mm, pid, tid, at, Want::Write)?;
            let i = (at - addr) as usize;
            if !self.phys.write(gpa, off, &buf[i..i + n]) {
                return Err(EFAULT);
            }
            at += n as u64;
        }
        Ok(())
    }

    /// Bytes from `addr` the program may read, up to `n`, without faulting
    /// anything in (for short writes at a bad page).
    pub(crate) fn readable_prefix(&self, pid: Pid, addr: u64, n: u64) -> u64 {
        let Some(mm) = self.tasks.proc(pid).map(|p| p.mm) else { return 0 };
        let space = self.mm.space(mm);
        let mut good = 0u64;
        while good < n {
            let Some(a) = addr.checked_add(good) else { break };
            if a >= USER_TOP {
                break;
            }
            let pte = space.pte(a);
            let ok = pte.user_accessible() || space.vmas.find(a).is_some_and(|v| v.perms.any());
            if !ok {
                break;
            }
            good += (PAGE_SIZE - a % PAGE_SIZE).min(n - good);
        }
        good
    }
}

/// Reads user memory of `space` at `addr` into `buf` only if every page of
/// it is mapped for the user and already in RAM (its own page or the zero
/// page): nothing is faulted in, swapped in or marked accessed, so a
/// reader that only looks (the unwinder) changes nothing the program or
/// the timeline could see. False if any page is not so.
pub(crate) fn peek(space: &crate::mm::AddressSpace, phys: &crate::mm::Phys, addr: u64, buf: &mut [u8]) -> bool {
    let Some(end) = addr.checked_add(buf.len() as u64).filter(|&e| e <= USER_TOP) else { return false };
    let mut at = addr;
    while at < end {
        let off = at % PAGE_SIZE;
        let n = (PAGE_SIZE - off).min(end - at) as usize;
        let pte = space.pte(at);
        if !pte.user_accessible() {
            return false;
        }
        let gpa = pte.frame();
        if !phys.frame(gpa).is_some_and(|f| matches!(f.residency, Residency::Resident | Residency::Zero)) {
            return false;
        }
        let i = (at - addr) as usize;
        if !phys.read(gpa, off, &mut buf[i..i + n]) {
            return false;
        }
        at += n as u64;
    }
    true
}
