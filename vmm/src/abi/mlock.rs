//! Pinning: mlock, mlock2, munlock, mlockall, munlockall, as Linux does
//! them for an unprivileged process (mm/mlock.c), and `--pin` at load.
//!
//! Locking marks VMAs VM_LOCKED (what RLIMIT_MEMLOCK and VmLck count) and
//! populates their pages at once; the pages are pinned in the backing,
//! which reclaim never evicts. MLOCK_ONFAULT pins pages as they are
//! touched instead.

use super::errno::*;
use super::limits::RLIMIT_MEMLOCK;
use super::Task;
use crate::arch::layout::USER_TOP;
use crate::arch::PAGE_SIZE;
use crate::mm::VmaKind;
use crate::timeline::Prefault;

const MLOCK_ONFAULT: u64 = 1;
const MCL_CURRENT: u64 = 1;
const MCL_FUTURE: u64 = 2;
const MCL_ONFAULT: u64 = 4;

/// Bytes in VM_LOCKED VMAs (mm->locked_vm).
pub fn locked_bytes(task: &Task) -> u64 {
    task.space.vmas().iter().filter(|v| v.locked).map(|v| v.len()).sum()
}

/// Locked bytes inside `[start, end)`.
fn locked_in(task: &Task, start: u64, end: u64) -> u64 {
    task.space.vmas().overlapping(start, end).filter(|v| v.locked).map(|v| v.end.min(end) - v.start.max(start)).sum()
}

/// can_do_mlock(): without CAP_IPC_LOCK, a zero limit forbids locking.
fn can_do_mlock(task: &Task) -> Result<(), Errno> {
    if task.limits.cur(RLIMIT_MEMLOCK) == 0 {
        return Err(EPERM);
    }
    Ok(())
}

/// Whether `extra` more locked bytes stay within RLIMIT_MEMLOCK.
pub fn lock_fits(task: &Task, extra: u64) -> bool {
    locked_bytes(task).saturating_add(extra) <= task.limits.cur(RLIMIT_MEMLOCK)
}

/// The page range mlock and munlock act on: start rounded down, length
/// rounded up with it.
fn range(addr: u64, len: u64) -> Result<(u64, u64), Errno> {
    let start = addr & !(PAGE_SIZE - 1);
    let end = addr.checked_add(len).and_then(crate::arch::page_ceil).ok_or(EINVAL)?;
    if end > USER_TOP && len != 0 {
        return Err(ENOMEM);
    }
    Ok((start, end))
}

/// Populates and pins the pages of `[start, end)` that the program may
/// access; with `on_fault`, pins them only when they are touched.
pub fn pin_pages(task: &Task, start: u64, end: u64, on_fault: bool, why: Prefault) {
    let backing = task.space.backing().clone();
    let vmas: Vec<_> = task.space.vmas().overlapping(start, end).cloned().collect();
    for v in vmas {
        let (s, e) = (v.start.max(start), v.end.min(end));
        task.space.for_each_frame(s, e, |_, gpa| {
            if on_fault {
                backing.set_pinned(gpa, true, !backing.is_resident(gpa));
            } else {
                // Linux does not populate what the program cannot access.
                if v.perms.any() {
                    let _ = backing.prefault(gpa, why);
                }
                backing.set_pinned(gpa, true, !backing.is_resident(gpa));
            }
        });
    }
}

fn unpin_pages(task: &Task, start: u64, end: u64) {
    let backing = task.space.backing().clone();
    task.space.for_each_frame(start, end, |_, gpa| backing.set_pinned(gpa, false, false));
}

fn lock(task: &mut Task, addr: u64, len: u64, on_fault: bool) -> SysResult {
    can_do_mlock(task)?;
    let (start, end) = range(addr, len)?;
    if end == start {
        return Ok(0);
    }
    let newly = (end - start) - locked_in(task, start, end);
    if !lock_fits(task, newly) {
        return Err(ENOMEM);
    }
    // Like mprotect: VMA by VMA up to the first hole, then ENOMEM.
    let reach = task.space.vmas().mapped_prefix(start, end);
    task.space.update_vmas(start, reach, |v| {
        v.locked = true;
        v.lock_on_fault = on_fault;
    });
    pin_pages(task, start, reach, on_fault, Prefault::Mlock);
    if reach < end {
        return Err(ENOMEM);
    }
    // The VMAs stay locked, but populating an inaccessible one fails, and
    // mlock reports it (EFAULT from populate becomes ENOMEM).
    if !on_fault && task.space.vmas().overlapping(start, end).any(|v| !v.perms.any()) {
        return Err(ENOMEM);
    }
    Ok(0)
}

pub fn mlock(task: &mut Task, addr: u64, len: u64) -> SysResult {
    lock(task, addr, len, false)
}

pub fn mlock2(task: &mut Task, addr: u64, len: u64, flags: u64) -> SysResult {
    if flags & !MLOCK_ONFAULT != 0 {
        return Err(EINVAL);
    }
    lock(task, addr, len, flags & MLOCK_ONFAULT != 0)
}

pub fn munlock(task: &mut Task, addr: u64, len: u64) -> SysResult {
    let (start, end) = range(addr, len)?;
    if end == start {
        return Ok(0);
    }
    let reach = task.space.vmas().mapped_prefix(start, end);
    task.space.update_vmas(start, reach, |v| {
        v.locked = false;
        v.lock_on_fault = false;
    });
    unpin_pages(task, start, reach);
    if reach < end {
        return Err(ENOMEM);
    }
    Ok(0)
}

pub fn mlockall(task: &mut Task, flags: u64) -> SysResult {
    if flags == 0 || flags & !(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT) != 0 || flags == MCL_ONFAULT {
        return Err(EINVAL);
    }
    can_do_mlock(task)?;
    let on_fault = flags & MCL_ONFAULT != 0;
    if flags & MCL_CURRENT != 0 {
        if task.space.vmas().total() > task.limits.cur(RLIMIT_MEMLOCK) {
            return Err(ENOMEM);
        }
        let all: Vec<(u64, u64)> = task.space.vmas().iter().map(|v| (v.start, v.end)).collect();
        for (s, e) in all {
            task.space.update_vmas(s, e, |v| {
                v.locked = true;
                v.lock_on_fault = on_fault;
            });
            pin_pages(task, s, e, on_fault, Prefault::Mlock);
        }
    }
    task.mlock_future = flags & MCL_FUTURE != 0;
    task.mlock_future_onfault = task.mlock_future && on_fault;
    Ok(0)
}

pub fn munlockall(task: &mut Task) -> SysResult {
    let all: Vec<(u64, u64)> = task.space.vmas().iter().map(|v| (v.start, v.end)).collect();
    for (s, e) in all {
        task.space.update_vmas(s, e, |v| {
            v.locked = false;
            v.lock_on_fault = false;
        });
        unpin_pages(task, s, e);
    }
    task.mlock_future = false;
    task.mlock_future_onfault = false;
    Ok(0)
}

/// `--pin REGION`: populate and pin a region at load, as if the program had
/// locked it (but outside RLIMIT_MEMLOCK: it is the sandbox's doing).
/// `heap` and `mmap` are empty at load; their pages are pinned as they are
/// mapped. Returns false for an unknown region.
pub fn pin_region(task: &mut Task, name: &str) -> bool {
    let mut ranges = Vec::new();
    match name {
        "all" => {
            task.pin_heap = true;
            task.pin_mmap = true;
            ranges.extend(task.space.vmas().iter().map(|v| (v.start, v.end)));
        }
        "heap" => task.pin_heap = true,
        "mmap" => task.pin_mmap = true,
        "stack" => {
            ranges.extend(task.space.vmas().iter().filter(|v| v.kind == VmaKind::Stack).map(|v| (v.start, v.end)))
        }
        section => {
            let r = task.space.regions().iter().find(|(_, r)| r.name == section).map(|(_, r)| (r.start, r.end));
            ranges.extend(r);
            if ranges.is_empty() {
                return false;
            }
        }
    }
    for (s, e) in ranges {
        pin_host(task, s, e);
    }
    true
}

/// Populates and pins `[start, end)` for the sandbox (`--pin`).
pub fn pin_host(task: &Task, start: u64, end: u64) {
    let backing = task.space.backing().clone();
    task.space.for_each_frame(start, end, |_, gpa| {
        let _ = backing.prefault(gpa, Prefault::Pin);
        backing.set_host_pinned(gpa);
    });
}
