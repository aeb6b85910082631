//! Changing a range's protection (mm/mprotect.c): VMA by VMA, stopping
//! with ENOMEM at the first hole and keeping what it changed.

use super::with_space;
use crate::arch::{Perms, PAGE_SIZE};
use crate::kernel::errno::*;
use crate::kernel::mm::fault::Actor;
use crate::kernel::task::Ctx;
use crate::timeline::Prefault;

/// Gives `[start, end)` (checked by the handler) the protection `perms`;
/// with `growsdown`, down to the start of the grows-down VMA at `start`.
pub(crate) fn mprotect(ctx: &mut Ctx, start: u64, end: u64, perms: Perms, growsdown: bool) -> Result<(), Errno> {
    let mm = ctx.mm();
    let mut start = start;
    if growsdown {
        match ctx.k.mm.space(mm).vmas.find(start) {
            Some(v) if v.growsdown => start = v.start,
            Some(_) => return Err(EINVAL),
            None => return Err(ENOMEM),
        }
    }
    // Making a private file mapping writable needs no write access to the
    // file; a shared one does (VM_MAYWRITE).
    if perms.write && ctx.k.mm.space(mm).vmas.overlapping(start, end).any(|v| !v.may_write) {
        return Err(EACCES);
    }
    let reach = ctx.k.mm.space(mm).vmas.mapped_prefix(start, end);
    if reach > start {
        charge(ctx, start, reach, perms)?;
        with_space(ctx, |s, p| s.protect(p, start, reach, perms));
        // A locked range that becomes accessible is populated, as
        // mprotect_fixup does for VM_LOCKED.
        let locked: Vec<(u64, u64)> = ctx
            .k
            .mm
            .space(mm)
            .vmas
            .overlapping(start, reach)
            .filter(|v| v.locked && !v.lock_on_fault && v.perms.any())
            .map(|v| (v.start.max(start), v.end.min(reach)))
            .collect();
        let (pid, tid) = (ctx.pid, ctx.tid);
        for (s, e) in locked {
            ctx.k.populate(mm, Actor::now(pid, tid), s, e, false, Prefault::Mlock);
        }
    }
    if reach < end {
        return Err(ENOMEM);
    }
    Ok(())
}

/// mprotect_fixup(): a private mapping made writable for the first time is
/// committed now (VM_ACCOUNT), VMA by VMA; the first that does not fit
/// stops the call with ENOMEM, the ones before it changed.
fn charge(ctx: &mut Ctx, start: u64, end: u64, perms: Perms) -> Result<(), Errno> {
    if !perms.write {
        return Ok(());
    }
    let mm = ctx.mm();
    let parts: Vec<(u64, u64, bool)> = ctx
        .k
        .mm
        .space(mm)
        .vmas
        .overlapping(start, end)
        .map(|v| {
            let charge = !(v.account || v.perms.write || v.shared || v.noreserve);
            (v.start.max(start), v.end.min(end), charge)
        })
        .collect();
    for (s, e, charge) in parts {
        if !charge {
            continue;
        }
        if let Err(err) = ctx.k.enough_memory(mm, (e - s) / PAGE_SIZE) {
            if s > start {
                with_space(ctx, |sp, p| sp.protect(p, start, s, perms));
            }
            return Err(err);
        }
        with_space(ctx, |sp, _| sp.vmas.update(s, e, |v| v.account = true));
    }
    Ok(())
}
