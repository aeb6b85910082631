//! Moving and resizing a mapping (mm/mremap.c): shrinking in place,
//! growing in place when the space after it is free, moving it (its pages
//! go along, not copied) when MREMAP_MAYMOVE allows, and MREMAP_DONTUNMAP.

use super::overcommit::check_as;
use super::with_space;
use crate::arch::layout::{MMAP_MIN_ADDR, USER_TOP};
use crate::arch::PAGE_SIZE;
use crate::kernel::errno::*;
use crate::kernel::mm::fault::Actor;
use crate::kernel::task::Ctx;
use crate::mm::{Backing, Vma, STACK_GUARD_GAP};
use crate::timeline::Prefault;

/// What mremap was asked, decoded; lengths page-rounded and not 0.
pub(crate) struct MremapOpts {
    pub(crate) old: u64,
    pub(crate) old_len: u64,
    pub(crate) new_len: u64,
    pub(crate) may_move: bool,
    /// MREMAP_FIXED: exactly there.
    pub(crate) fixed: Option<u64>,
    pub(crate) dontunmap: bool,
}

/// Resizes or moves `[old, old + old_len)`, which must lie in one VMA;
/// where it is now.
pub(crate) fn mremap(ctx: &mut Ctx, o: MremapOpts) -> Result<u64, Errno> {
    let MremapOpts { old, old_len, new_len, dontunmap, .. } = o;
    let mm = ctx.mm();
    let old_end = old + old_len;
    let vma = ctx.k.mm.space(mm).vmas.find(old).cloned().ok_or(EFAULT)?;
    if old_end > vma.end {
        return Err(EFAULT);
    }
    if dontunmap && (!vma.is_anon() || vma.shared) {
        return Err(EINVAL);
    }
    // vma_to_resize(): a locked mapping may not grow past RLIMIT_MEMLOCK.
    if vma.locked && new_len > old_len && !super::mlock::lock_fits(ctx, new_len - old_len) {
        return Err(EAGAIN);
    }
    if new_len > old_len && vma.account {
        ctx.k.enough_memory(mm, (new_len - old_len) / PAGE_SIZE)?;
    }
    if let Some(to) = o.fixed {
        return move_fixed(ctx, &o, &vma, to);
    }
    if new_len <= old_len && !dontunmap {
        with_space(ctx, |s, p| s.unmap(p, old + new_len, old_end));
        return Ok(old);
    }
    let grow = new_len - old_len;
    check_as(ctx, grow)?;
    // In place if the VMA ends here and the space after it is free.
    if !dontunmap
        && old_end == vma.end
        && old_end.checked_add(grow).is_some_and(|e| e <= USER_TOP)
        && ctx.k.mm.space(mm).vmas.is_free(old_end, old_end + grow)
    {
        grow_vma(ctx, &vma, old_end, old_end, old_end + grow);
        return Ok(old);
    }
    if !o.may_move {
        return Err(ENOMEM);
    }
    let s = ctx.k.mm.space(mm);
    let to = s.vmas.gap_top_down(new_len, MMAP_MIN_ADDR, s.mmap_base, STACK_GUARD_GAP).ok_or(ENOMEM)?;
    with_space(ctx, |s, p| s.move_range(p, old, old_len, to)).map_err(|_| ENOMEM)?;
    if dontunmap {
        leave_behind(ctx, &vma, old, old_len);
    }
    if new_len > old_len {
        grow_vma(ctx, &vma, old_end, to + old_len, to + new_len);
    }
    Ok(to)
}

/// MREMAP_FIXED: to `to`, over whatever is there, never overlapping the
/// old range.
fn move_fixed(ctx: &mut Ctx, o: &MremapOpts, vma: &Vma, to: u64) -> Result<u64, Errno> {
    let MremapOpts { old, old_len, new_len, dontunmap, .. } = *o;
    let old_end = old + old_len;
    if !to.is_multiple_of(PAGE_SIZE) || to < MMAP_MIN_ADDR {
        return Err(EINVAL);
    }
    let ne = to.checked_add(new_len).filter(|&e| e <= USER_TOP).ok_or(EINVAL)?;
    if to < old_end && old < ne {
        return Err(EINVAL);
    }
    check_as(ctx, new_len)?;
    with_space(ctx, |s, p| s.unmap(p, to, ne));
    if new_len < old_len {
        with_space(ctx, |s, p| s.unmap(p, old + new_len, old_end));
    }
    let keep = old_len.min(new_len);
    with_space(ctx, |s, p| s.move_range(p, old, keep, to)).map_err(|_| ENOMEM)?;
    if dontunmap {
        leave_behind(ctx, vma, old, keep);
    }
    if new_len > keep {
        grow_vma(ctx, vma, old + keep, to + keep, to + new_len);
    }
    Ok(to)
}

/// Maps `[start, end)` (free) as more of `vma`, as mremap grows it: its
/// attributes, populated if it is locked. A file mapping goes on with the
/// file page that would follow `continues` (an address in `vma`, where
/// the moved range ended).
fn grow_vma(ctx: &mut Ctx, vma: &Vma, continues: u64, start: u64, end: u64) {
    let mut v = vma.clone();
    if let Backing::File { pgoff, .. } = &mut v.backing {
        *pgoff += (continues - vma.start) / PAGE_SIZE;
    }
    v.start = start;
    v.end = end;
    with_space(ctx, |s, _| s.vmas.insert(v));
    if vma.locked && !vma.lock_on_fault {
        let (mm, pid, tid) = (ctx.mm(), ctx.pid, ctx.tid);
        ctx.k.populate(mm, Actor::now(pid, tid), start, end, false, Prefault::Mlock);
    }
}

/// MREMAP_DONTUNMAP: the old range stays mapped, empty (its next touch
/// faults in fresh zeroes).
fn leave_behind(ctx: &mut Ctx, vma: &Vma, old: u64, len: u64) {
    let v = Vma { start: old, end: old + len, ..vma.clone() };
    with_space(ctx, |s, _| s.vmas.insert(v));
}
