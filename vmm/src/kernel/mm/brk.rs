//! The program break (mm/mmap.c `brk`): the heap grows and shrinks as one
//! VMA above the program's data, and Linux answers with the current break
//! for anything it cannot do.

use super::overcommit::check_as;
use super::with_space;
use crate::arch::layout::USER_TOP;
use crate::arch::{page_ceil, Perms, PAGE_SIZE};
use crate::kernel::abi::resource::RLIMIT_DATA;
use crate::kernel::mm::fault::Actor;
use crate::kernel::task::Ctx;
use crate::mm::{Vma, VmaKind, STACK_GUARD_GAP};
use crate::timeline::{Prefault, RegionKind};

/// Moves the caller's break to `addr`; the break afterwards.
pub(crate) fn brk(ctx: &mut Ctx, addr: u64) -> u64 {
    let mm = ctx.mm();
    let (old, min) = {
        let s = ctx.k.mm.space(mm);
        (s.brk, s.brk_start)
    };
    if addr < min {
        return old;
    }
    let (Some(new_top), Some(old_top)) = (page_ceil(addr), page_ceil(old)) else { return old };
    if addr.saturating_sub(min) > ctx.proc().limits.cur(RLIMIT_DATA) {
        return old;
    }
    if new_top < old_top {
        with_space(ctx, |s, p| s.unmap(p, new_top, old_top));
    } else if new_top > old_top && !grow(ctx, old_top, new_top) {
        return old;
    }
    ctx.k.mm.space_mut(mm).brk = addr;
    addr
}

/// Maps `[old_top, new_top)` as more heap, if it may: false if not.
fn grow(ctx: &mut Ctx, old_top: u64, new_top: u64) -> bool {
    let mm = ctx.mm();
    let grow = new_top - old_top;
    let space = ctx.k.mm.space(mm);
    // The heap may not run into another mapping or the stack's guard.
    let guard =
        space.vmas.find_from(old_top).map(
            |v| {
                if v.growsdown {
                    v.start - STACK_GUARD_GAP.min(v.start)
                } else {
                    v.start
                }
            },
        );
    if guard.is_some_and(|g| g < new_top) || new_top > USER_TOP {
        return false;
    }
    if check_as(ctx, grow).is_err() || ctx.k.enough_memory(mm, grow / PAGE_SIZE).is_err() {
        return false;
    }
    let (lock_future, onfault, pin_heap) = (space.lock_future, space.lock_future_onfault, space.pin_heap);
    // mlock_future_ok(): MCL_FUTURE growth counts against RLIMIT_MEMLOCK.
    if lock_future && !super::mlock::lock_fits(ctx, grow) {
        return false;
    }
    if ctx.k.mm.space(mm).vmas.count() >= ctx.k.cfg.max_map_count {
        return false;
    }
    let region = ctx.k.report.recorder_mut().region("heap", RegionKind::Heap);
    let mut v = Vma::anon(old_top, new_top, Perms::RW, VmaKind::Heap, region);
    v.locked = lock_future;
    v.lock_on_fault = lock_future && onfault;
    with_space(ctx, |s, _| s.vmas.insert(v));
    let (pid, tid) = (ctx.pid, ctx.tid);
    if lock_future && !onfault {
        ctx.k.populate(mm, Actor::now(pid, tid), old_top, new_top, true, Prefault::Mlock);
    }
    if pin_heap {
        ctx.k.pin_host(mm, pid, old_top, new_top);
    }
    true
}
