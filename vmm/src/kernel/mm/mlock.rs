//! Pinning: mlock, mlock2, munlock, mlockall, munlockall, as Linux does
//! them for an unprivileged process (mm/mlock.c), and `--pin` at load.
//!
//! Locking marks VMAs VM_LOCKED (what RLIMIT_MEMLOCK and VmLck count) and
//! populates their pages at once; their frames count an mlock, and reclaim
//! never evicts such a frame. MLOCK_ONFAULT pins pages as they are touched
//! instead.

use super::super::abi::mman::{MCL_CURRENT, MCL_FUTURE, MCL_ONFAULT, MLOCK_ONFAULT};
use super::super::abi::resource::RLIMIT_MEMLOCK;
use super::super::cred::CAP_IPC_LOCK;
use super::super::errno::*;
use super::super::task::Ctx;
use super::super::KernelState;
use super::with_space;
use crate::arch::layout::USER_TOP;
use crate::arch::PAGE_SIZE;
use crate::kernel::mm::fault::Actor;
use crate::mm::{AddressSpace, MmId, VmaKind};
use crate::timeline::Prefault;

/// Bytes in VM_LOCKED VMAs (mm->locked_vm).
pub(crate) fn locked_bytes(space: &AddressSpace) -> u64 {
    space.vmas.iter().filter(|v| v.locked).map(|v| v.len()).sum()
}

/// Locked bytes inside `[start, end)`.
fn locked_in(space: &AddressSpace, start: u64, end: u64) -> u64 {
    space.vmas.overlapping(start, end).filter(|v| v.locked).map(|v| v.end.min(end) - v.start.max(start)).sum()
}

/// can_do_mlock(): without CAP_IPC_LOCK, a zero limit forbids locking.
pub(crate) fn can_do_mlock(ctx: &Ctx) -> Result<(), Errno> {
    if ctx.proc().limits.cur(RLIMIT_MEMLOCK) == 0 && !ctx.proc().cred.capable(CAP_IPC_LOCK) {
        return Err(EPERM);
    }
    Ok(())
}

/// Whether `extra` more locked bytes stay within RLIMIT_MEMLOCK (no
/// limit with CAP_IPC_LOCK).
pub(crate) fn lock_fits(ctx: &Ctx, extra: u64) -> bool {
    ctx.proc().cred.capable(CAP_IPC_LOCK)
        || locked_bytes(ctx.k.mm.space(ctx.mm())).saturating_add(extra) <= ctx.proc().limits.cur(RLIMIT_MEMLOCK)
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

/// Locks `[start, end)` (which must be mapped) and, unless `on_fault`,
/// populates what the program may access.
fn lock_range(ctx: &mut Ctx, start: u64, end: u64, on_fault: bool) {
    with_space(ctx, |s, p| s.set_locked(p, start, end, true, on_fault));
    if !on_fault {
        let (mm, pid, tid) = (ctx.mm(), ctx.pid, ctx.tid);
        ctx.k.populate(mm, Actor::now(pid, tid), start, end, false, Prefault::Mlock);
    }
}

fn lock(ctx: &mut Ctx, addr: u64, len: u64, on_fault: bool) -> SysResult {
    can_do_mlock(ctx)?;
    let (start, end) = range(addr, len)?;
    if end == start {
        return Ok(0);
    }
    let mm = ctx.mm();
    let newly = (end - start) - locked_in(ctx.k.mm.space(mm), start, end);
    if !lock_fits(ctx, newly) {
        return Err(ENOMEM);
    }
    // Like mprotect: VMA by VMA up to the first hole, then ENOMEM.
    let reach = ctx.k.mm.space(mm).vmas.mapped_prefix(start, end);
    if reach > start {
        lock_range(ctx, start, reach, on_fault);
    }
    if reach < end {
        return Err(ENOMEM);
    }
    // The VMAs stay locked, but populating an inaccessible one fails, and
    // mlock reports it (EFAULT from populate becomes ENOMEM).
    if !on_fault && ctx.k.mm.space(mm).vmas.overlapping(start, end).any(|v| !v.perms.any()) {
        return Err(ENOMEM);
    }
    Ok(0)
}

pub(crate) fn mlock(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    lock(ctx, a[0], a[1], false)
}

pub(crate) fn mlock2(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    if a[2] & !MLOCK_ONFAULT != 0 {
        return Err(EINVAL);
    }
    lock(ctx, a[0], a[1], a[2] & MLOCK_ONFAULT != 0)
}

pub(crate) fn munlock(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let (start, end) = range(a[0], a[1])?;
    if end == start {
        return Ok(0);
    }
    let reach = ctx.k.mm.space(ctx.mm()).vmas.mapped_prefix(start, end);
    if reach > start {
        with_space(ctx, |s, p| s.set_locked(p, start, reach, false, false));
    }
    if reach < end {
        return Err(ENOMEM);
    }
    Ok(0)
}

pub(crate) fn mlockall(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let flags = a[0];
    if flags == 0 || flags & !(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT) != 0 || flags == MCL_ONFAULT {
        return Err(EINVAL);
    }
    can_do_mlock(ctx)?;
    let on_fault = flags & MCL_ONFAULT != 0;
    let mm = ctx.mm();
    if flags & MCL_CURRENT != 0 {
        if ctx.k.mm.space(mm).vmas.total() > ctx.proc().limits.cur(RLIMIT_MEMLOCK) {
            return Err(ENOMEM);
        }
        let all: Vec<(u64, u64)> = ctx.k.mm.space(mm).vmas.iter().map(|v| (v.start, v.end)).collect();
        for (s, e) in all {
            lock_range(ctx, s, e, on_fault);
        }
    }
    let space = ctx.k.mm.space_mut(mm);
    space.lock_future = flags & MCL_FUTURE != 0;
    space.lock_future_onfault = space.lock_future && on_fault;
    Ok(0)
}

pub(crate) fn munlockall(ctx: &mut Ctx, _: [u64; 6]) -> SysResult {
    let mm = ctx.mm();
    let all: Vec<(u64, u64)> = ctx.k.mm.space(mm).vmas.iter().map(|v| (v.start, v.end)).collect();
    for (s, e) in all {
        with_space(ctx, |sp, p| sp.set_locked(p, s, e, false, false));
    }
    let space = ctx.k.mm.space_mut(mm);
    space.lock_future = false;
    space.lock_future_onfault = false;
    Ok(0)
}

impl KernelState {
    /// `--pin REGION`: populate and pin a region at load, as if the program
    /// had locked it (but outside RLIMIT_MEMLOCK: it is the sandbox's
    /// doing). `heap` and `mmap` are empty at load; their pages are pinned
    /// as they are mapped. Returns false for an unknown region.
    pub(crate) fn pin_region(&mut self, mm: MmId, pid: u32, name: &str) -> bool {
        if !self.mm.contains(mm) {
            return true;
        }
        let mut ranges = Vec::new();
        let space = self.mm.space_mut(mm);
        match name {
            "all" => {
                space.pin_heap = true;
                space.pin_mmap = true;
                ranges.extend(space.vmas.iter().map(|v| (v.start, v.end)));
            }
            "heap" => space.pin_heap = true,
            "mmap" => space.pin_mmap = true,
            "stack" => ranges.extend(space.vmas.iter().filter(|v| v.kind == VmaKind::Stack).map(|v| (v.start, v.end))),
            section => {
                let Some(id) = self.report.recorder().regions().find(section) else { return false };
                let space = self.mm.space(mm);
                ranges.extend(space.sections.iter().filter(|s| s.region == id).map(|s| (s.start, s.end)));
                if ranges.is_empty() {
                    return false;
                }
            }
        }
        for (s, e) in ranges {
            // Pinning more than fits kills the process (the OOM killer
            // finds nothing else), and its address space goes with it.
            if !self.mm.contains(mm) {
                break;
            }
            self.pin_host(mm, pid, s, e);
        }
        true
    }
}
