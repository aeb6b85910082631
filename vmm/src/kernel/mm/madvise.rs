//! Advice about a range (mm/madvise.c): dropping pages (DONTNEED, FREE,
//! REMOVE), bringing them in (WILLNEED, POPULATE_*), reclaiming them now
//! (PAGEOUT), and what fork does with them. Linux applies the advice to
//! what is mapped and reports ENOMEM for holes afterwards.

use std::time::Instant;

use super::with_space;
use crate::arch::PAGE_SIZE;
use crate::fault;
use crate::kernel::errno::*;
use crate::kernel::mm::fault::Actor;
use crate::kernel::task::Ctx;
use crate::mm::{Residency, Vma};
use crate::timeline::Prefault;

/// The advice, decoded. Hints Linux accepts that change nothing here
/// (NORMAL, RANDOM, SEQUENTIAL, MERGEABLE, HUGEPAGE, COLD, …) are
/// [`Advice::Hint`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Advice {
    DontNeed,
    DontNeedLocked,
    Free,
    Remove,
    WillNeed,
    PopulateRead,
    PopulateWrite,
    DontFork,
    DoFork,
    WipeOnFork,
    KeepOnFork,
    /// VM_DONTDUMP on or off: whether a core dump holds the range.
    DontDump,
    DoDump,
    /// Guard markers in or out (6.13).
    GuardInstall,
    GuardRemove,
    PageOut,
    Hint,
}

/// Applies `advice` to `[addr, end)` (checked by the handler, not empty).
pub(crate) fn madvise(ctx: &mut Ctx, addr: u64, end: u64, advice: Advice) -> Result<(), Errno> {
    use Advice::*;
    let mm = ctx.mm();
    let vmas: Vec<Vma> = ctx.k.mm.space(mm).vmas.overlapping(addr, end).cloned().collect();
    let hole = !ctx.k.mm.space(mm).vmas.covers(addr, end);
    for v in &vmas {
        let (s, e) = (v.start.max(addr), v.end.min(end));
        match advice {
            DontNeed | Free | DontNeedLocked | Remove => drop_pages(ctx, v, s, e, advice)?,
            WillNeed => will_need(ctx, v, s, e),
            PopulateRead | PopulateWrite => {
                let write = advice == PopulateWrite;
                // Populating what the access would not be allowed to touch.
                if (!write && !v.perms.read) || (write && !v.perms.write) {
                    return Err(EINVAL);
                }
                let (pid, tid) = (ctx.pid, ctx.tid);
                if !ctx.k.populate(mm, Actor::now(pid, tid), s, e, write, Prefault::Populate) {
                    return Err(EFAULT);
                }
            }
            DontFork | DoFork | WipeOnFork | KeepOnFork => {
                if advice == WipeOnFork && (!v.is_anon() || v.shared) {
                    return Err(EINVAL);
                }
                with_space(ctx, |sp, _| {
                    sp.vmas.update(s, e, |v| match advice {
                        DontFork => v.dontcopy = true,
                        DoFork => v.dontcopy = false,
                        WipeOnFork => v.wipeonfork = true,
                        _ => v.wipeonfork = false,
                    })
                });
            }
            DontDump | DoDump => {
                // MADV_DODUMP cannot make a special mapping (VM_SPECIAL)
                // dumpable: none here is one but the vDSO's reserved areas.
                if advice == DoDump && v.anon_name.as_deref().is_some_and(|n| n.starts_with("[v")) {
                    return Err(EINVAL);
                }
                with_space(ctx, |sp, _| sp.vmas.update(s, e, |v| v.dontdump = advice == DontDump));
            }
            PageOut => pageout(ctx, s, e),
            GuardInstall | GuardRemove => guard(ctx, v, s, e, advice == GuardInstall)?,
            Hint => {}
        }
    }
    if hole {
        return Err(ENOMEM);
    }
    Ok(())
}

/// DONTNEED, DONTNEED_LOCKED, FREE and REMOVE: the pages of `[s, e)` go;
/// the next touch faults in zeroes, or the file's data again.
fn drop_pages(ctx: &mut Ctx, v: &Vma, s: u64, e: u64, advice: Advice) -> Result<(), Errno> {
    if v.locked && advice != Advice::DontNeedLocked {
        return Err(EINVAL);
    }
    if advice == Advice::Free && !v.is_anon() {
        return Err(EINVAL);
    }
    if advice == Advice::Remove && !v.shared {
        return Err(EINVAL);
    }
    with_space(ctx, |sp, p| sp.zap(p, s, e));
    if advice == Advice::Remove {
        punch_hole(ctx, v, s, e);
    }
    Ok(())
}

/// MADV_GUARD_INSTALL and MADV_GUARD_REMOVE on `[s, e)` of `v`:
/// is_valid_guard_vma() takes only private anonymous memory that is no
/// special mapping (the vDSO's) and, to install, not locked (its pages
/// would have to go).
fn guard(ctx: &mut Ctx, v: &Vma, s: u64, e: u64, install: bool) -> Result<(), Errno> {
    let special = v.anon_name.as_deref().is_some_and(|n| n.starts_with("[v"));
    if !v.is_anon() || v.shared || special || (install && v.locked) {
        return Err(EINVAL);
    }
    if !install {
        with_space(ctx, |sp, _| sp.remove_guards(s, e));
        return Ok(());
    }
    with_space(ctx, |sp, p| sp.install_guards(p, s, e)).map_err(|_| ENOMEM)
}

/// WILLNEED reads ahead what is not there: swapped-out pages and file
/// pages. Never-touched anonymous memory stays untouched.
fn will_need(ctx: &mut Ctx, v: &Vma, s: u64, e: u64) {
    let (mm, pid, tid) = (ctx.mm(), ctx.pid, ctx.tid);
    let frames = ctx.k.mm.space(mm).mapped_frames(s, e);
    for (va, gpa) in frames {
        if matches!(ctx.k.phys.frame(gpa).map(|f| f.residency), Some(Residency::Swapped(_))) {
            ctx.k.populate(mm, Actor::now(pid, tid), va, va + PAGE_SIZE, false, Prefault::WillNeed);
        }
    }
    if let Some((file, first)) = v.file_page(s).map(|(f, i)| (f.id, i)) {
        let pages = (e - s) / PAGE_SIZE;
        let mut evicted = Vec::new();
        for i in first..first + pages {
            let size = ctx.k.phys.cache.get(&file).map_or(0, |c| c.data.size());
            if i * PAGE_SIZE >= size {
                break;
            }
            let _ = ctx.k.cache_page(file, i, &mut evicted);
        }
        ctx.k.note_evictions(&evicted, Instant::now());
    }
}

/// MADV_PAGEOUT: reclaims the pages of `[s, e)` now (to swap, or dropped
/// if clean), as reclaim would.
fn pageout(ctx: &mut Ctx, s: u64, e: u64) {
    let mm = ctx.mm();
    let frames = ctx.k.mm.space(mm).mapped_frames(s, e);
    let mut evicted = Vec::new();
    for (_, gpa) in frames {
        let only_us = ctx.k.phys.frame(gpa).is_some_and(|f| f.maps.len() == 1 && f.evictable());
        if only_us {
            fault::reclaim::evict_now(&mut ctx.k.phys, gpa, &mut evicted);
        }
    }
    ctx.k.note_evictions(&evicted, Instant::now());
}

/// MADV_REMOVE on shared memory: its pages leave the page cache.
fn punch_hole(ctx: &mut Ctx, v: &Vma, s: u64, e: u64) {
    let Some((file, first)) = v.file_page(s).map(|(f, i)| (f.id, i)) else { return };
    let last = first + (e - s) / PAGE_SIZE;
    let gone: Vec<u64> = match ctx.k.phys.cache.get_mut(&file) {
        Some(c) => {
            let keys: Vec<u64> = c.pages.range(first..last).map(|(&i, _)| i).collect();
            keys.into_iter().filter_map(|i| c.pages.remove(&i)).collect()
        }
        None => return,
    };
    ctx.k.files.vfs_mut().note_cached(file, -(gone.len() as i64));
    for gpa in gone {
        ctx.k.phys.update(gpa, |f| f.cached = false);
        ctx.k.phys.free_if_unused(gpa);
    }
}
