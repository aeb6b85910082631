//! Memory syscalls: brk, mmap, munmap, mremap, mprotect, madvise,
//! mincore, msync. Validation order and errno values follow Linux
//! (mm/mmap.c, mm/mremap.c, mm/mprotect.c, mm/madvise.c).

use super::errno::*;
use super::limits::{RLIMIT_AS, RLIMIT_DATA};
use super::Task;
use crate::arch::layout::USER_TOP;
use crate::arch::{page_ceil, Perms, PAGE_SIZE};
use crate::mm::{Vma, VmaKind, STACK_GUARD_GAP};
use crate::timeline::Prefault;

pub const PROT_READ: u64 = 0x1;
pub const PROT_WRITE: u64 = 0x2;
pub const PROT_EXEC: u64 = 0x4;
pub const PROT_GROWSDOWN: u64 = 0x0100_0000;
pub const PROT_GROWSUP: u64 = 0x0200_0000;

pub const MAP_SHARED: u64 = 0x01;
pub const MAP_PRIVATE: u64 = 0x02;
pub const MAP_SHARED_VALIDATE: u64 = 0x03;
pub const MAP_TYPE: u64 = 0x0f;
pub const MAP_FIXED: u64 = 0x10;
pub const MAP_ANONYMOUS: u64 = 0x20;
pub const MAP_32BIT: u64 = 0x40;
pub const MAP_GROWSDOWN: u64 = 0x0100;
pub const MAP_DENYWRITE: u64 = 0x0800;
pub const MAP_EXECUTABLE: u64 = 0x1000;
pub const MAP_LOCKED: u64 = 0x2000;
pub const MAP_NORESERVE: u64 = 0x4000;
pub const MAP_POPULATE: u64 = 0x8000;
pub const MAP_NONBLOCK: u64 = 0x10000;
pub const MAP_STACK: u64 = 0x20000;
pub const MAP_HUGETLB: u64 = 0x40000;
pub const MAP_SYNC: u64 = 0x80000;
pub const MAP_FIXED_NOREPLACE: u64 = 0x100000;
pub const MAP_UNINITIALIZED: u64 = 0x4000000;
/// Flags MAP_SHARED_VALIDATE accepts (LEGACY_MAP_MASK plus the rest).
const KNOWN_MAP_FLAGS: u64 = MAP_SHARED
    | MAP_PRIVATE
    | MAP_FIXED
    | MAP_ANONYMOUS
    | MAP_DENYWRITE
    | MAP_EXECUTABLE
    | MAP_UNINITIALIZED
    | MAP_GROWSDOWN
    | MAP_LOCKED
    | MAP_NORESERVE
    | MAP_POPULATE
    | MAP_NONBLOCK
    | MAP_STACK
    | MAP_HUGETLB
    | MAP_32BIT
    | MAP_FIXED_NOREPLACE
    | MAP_SYNC;

const MREMAP_MAYMOVE: u64 = 1;
const MREMAP_FIXED: u64 = 2;
const MREMAP_DONTUNMAP: u64 = 4;

pub const MADV_NORMAL: u64 = 0;
pub const MADV_RANDOM: u64 = 1;
pub const MADV_SEQUENTIAL: u64 = 2;
pub const MADV_WILLNEED: u64 = 3;
pub const MADV_DONTNEED: u64 = 4;
pub const MADV_FREE: u64 = 8;
pub const MADV_REMOVE: u64 = 9;
pub const MADV_DONTFORK: u64 = 10;
pub const MADV_DOFORK: u64 = 11;
pub const MADV_MERGEABLE: u64 = 12;
pub const MADV_UNMERGEABLE: u64 = 13;
pub const MADV_HUGEPAGE: u64 = 14;
pub const MADV_NOHUGEPAGE: u64 = 15;
pub const MADV_DONTDUMP: u64 = 16;
pub const MADV_DODUMP: u64 = 17;
pub const MADV_WIPEONFORK: u64 = 18;
pub const MADV_KEEPONFORK: u64 = 19;
pub const MADV_COLD: u64 = 20;
pub const MADV_PAGEOUT: u64 = 21;
pub const MADV_POPULATE_READ: u64 = 22;
pub const MADV_POPULATE_WRITE: u64 = 23;
pub const MADV_DONTNEED_LOCKED: u64 = 24;

const MS_ASYNC: u64 = 1;
const MS_INVALIDATE: u64 = 2;
const MS_SYNC: u64 = 4;

/// Linux's mmap_min_addr default.
pub const MMAP_MIN_ADDR: u64 = 0x10000;
/// Linux's MIN_GAP between the stack top and mmap_base.
const MIN_GAP: u64 = 128 << 20;

/// Where top-down mmap placement starts, as Linux computes mmap_base
/// without randomisation: below the stack's rlimit plus guard gap, at
/// least 128 MiB below the top.
pub fn mmap_base(stack_rlimit: u64) -> u64 {
    let gap = stack_rlimit.saturating_add(STACK_GUARD_GAP).clamp(MIN_GAP, USER_TOP / 6 * 5);
    (USER_TOP - gap) & !(PAGE_SIZE - 1)
}

fn perms(prot: u64) -> Perms {
    Perms::new(prot & (PROT_READ | PROT_WRITE | PROT_EXEC) != 0, prot & PROT_WRITE != 0, prot & PROT_EXEC != 0)
}

/// Bytes of `[start, end)` not already mapped (for RLIMIT_AS checks).
fn new_bytes(task: &Task, start: u64, end: u64) -> u64 {
    let mapped: u64 = task.space.vmas().overlapping(start, end).map(|v| v.end.min(end) - v.start.max(start)).sum();
    (end - start) - mapped
}

fn check_as(task: &Task, extra: u64) -> Result<(), Errno> {
    let limit = task.limits.cur(RLIMIT_AS);
    if task.space.vmas().total().saturating_add(extra) > limit {
        return Err(ENOMEM);
    }
    Ok(())
}

/// Prefaults every page of `[start, end)`.
fn populate(task: &Task, start: u64, end: u64, why: Prefault) {
    let backing = task.space.backing().clone();
    task.space.for_each_frame(start, end, |_, gpa| {
        // A failure leaves the page to fault in normally later.
        let _ = backing.prefault(gpa, why);
    });
}

pub fn brk(task: &mut Task, addr: u64) -> i64 {
    let old = task.brk;
    let min = task.brk_start;
    // Linux returns the current break for anything it cannot do.
    if addr < min {
        return old as i64;
    }
    let (Some(new_top), Some(old_top)) = (page_ceil(addr), page_ceil(old)) else { return old as i64 };
    if addr.saturating_sub(task.brk_start) > task.limits.cur(RLIMIT_DATA) {
        return old as i64;
    }
    if new_top < old_top {
        task.space.unmap(new_top, old_top);
    } else if new_top > old_top {
        // The heap may not run into another mapping or the stack's guard.
        let guard = task.space.vmas().find_from(old_top).map(|v| {
            if v.growsdown {
                v.start - STACK_GUARD_GAP.min(v.start)
            } else {
                v.start
            }
        });
        if guard.is_some_and(|g| g < new_top) || new_top > USER_TOP {
            return old as i64;
        }
        if check_as(task, new_top - old_top).is_err() {
            return old as i64;
        }
        // mlock_future_ok(): MCL_FUTURE growth counts against RLIMIT_MEMLOCK.
        if task.mlock_future && !super::mlock::lock_fits(task, new_top - old_top) {
            return old as i64;
        }
        let vma = task.heap_vma(old_top, new_top);
        if task.space.map_anon(vma).is_err() {
            return old as i64;
        }
        if task.mlock_future {
            super::mlock::pin_pages(task, old_top, new_top, task.mlock_future_onfault, Prefault::Mlock);
        }
        if task.pin_heap {
            super::mlock::pin_host(task, old_top, new_top);
        }
    }
    task.brk = addr;
    addr as i64
}

pub fn mmap(task: &mut Task, addr: u64, len: u64, prot: u64, flags: u64, fd: u64, off: u64) -> SysResult {
    // do_mmap's order: length, address space, flags.
    if len == 0 {
        return Err(EINVAL);
    }
    let len = page_ceil(len).filter(|&l| l != 0 && l <= USER_TOP).ok_or(ENOMEM)?;
    if !off.is_multiple_of(PAGE_SIZE) {
        return Err(EINVAL);
    }
    // Unknown PROT bits are ignored by mmap (mprotect rejects them).
    if flags & MAP_ANONYMOUS == 0 {
        // No files behind faultline's descriptors can be mapped; the
        // descriptor is looked up before the flags are.
        if (fd as i32) < 0 || !task.files.is_open(fd as i32) {
            return Err(EBADF);
        }
        return Err(match flags & MAP_TYPE {
            MAP_SHARED_VALIDATE if flags & !KNOWN_MAP_FLAGS != 0 => EOPNOTSUPP,
            _ => ENODEV,
        });
    }
    // Anonymous: only plain shared or private (unknown flags are ignored).
    if !matches!(flags & MAP_TYPE, MAP_SHARED | MAP_PRIVATE) {
        return Err(EINVAL);
    }
    if flags & MAP_HUGETLB != 0 {
        return Err(EINVAL);
    }
    let fixed = flags & (MAP_FIXED | MAP_FIXED_NOREPLACE) != 0;
    let start = if fixed {
        if !addr.is_multiple_of(PAGE_SIZE) {
            return Err(EINVAL);
        }
        if addr.checked_add(len).is_none_or(|e| e > USER_TOP) || addr < MMAP_MIN_ADDR {
            return Err(if addr < MMAP_MIN_ADDR { EPERM } else { ENOMEM });
        }
        if flags & MAP_FIXED_NOREPLACE != 0 && !task.space.vmas().is_free(addr, addr + len) {
            return Err(EEXIST);
        }
        addr
    } else {
        let hint = addr & !(PAGE_SIZE - 1);
        if hint >= MMAP_MIN_ADDR
            && hint.checked_add(len).is_some_and(|e| e <= USER_TOP)
            && task.space.vmas().is_free(hint, hint + len)
        {
            hint
        } else {
            task.space.vmas().gap_top_down(len, MMAP_MIN_ADDR, task.mmap_base).ok_or(ENOMEM)?
        }
    };
    check_as(task, new_bytes(task, start, start + len))?;
    let locked = flags & MAP_LOCKED != 0 || task.mlock_future;
    if locked {
        if flags & MAP_LOCKED != 0 && task.limits.cur(super::limits::RLIMIT_MEMLOCK) == 0 {
            return Err(EPERM);
        }
        if !super::mlock::lock_fits(task, len) {
            return Err(EAGAIN);
        }
    }
    if fixed {
        task.space.unmap(start, start + len);
    }
    let prot = prot & (PROT_READ | PROT_WRITE | PROT_EXEC);
    let vma = Vma {
        shared: flags & MAP_TYPE != MAP_PRIVATE,
        growsdown: flags & MAP_GROWSDOWN != 0,
        noreserve: flags & MAP_NORESERVE != 0,
        locked,
        lock_on_fault: locked && task.mlock_future_onfault && flags & MAP_LOCKED == 0,
        ..Vma::new(start, start + len, perms(prot), VmaKind::Anon, task.mmap_region)
    };
    task.space.map_anon(vma).map_err(|_| ENOMEM)?;
    if locked {
        let on_fault = task.mlock_future_onfault && flags & MAP_LOCKED == 0;
        super::mlock::pin_pages(task, start, start + len, on_fault, Prefault::Mlock);
    } else if flags & MAP_POPULATE != 0 && flags & MAP_NONBLOCK == 0 {
        populate(task, start, start + len, Prefault::Populate);
    }
    if task.pin_mmap {
        super::mlock::pin_host(task, start, start + len);
    }
    Ok(start as i64)
}

pub const EOPNOTSUPP: Errno = Errno(95);

pub fn munmap(task: &mut Task, addr: u64, len: u64) -> SysResult {
    if !addr.is_multiple_of(PAGE_SIZE) || len == 0 {
        return Err(EINVAL);
    }
    let len = page_ceil(len).ok_or(EINVAL)?;
    if addr.checked_add(len).is_none_or(|e| e > USER_TOP) {
        return Err(EINVAL);
    }
    task.space.unmap(addr, addr + len);
    Ok(0)
}

pub fn mprotect(task: &mut Task, addr: u64, len: u64, prot: u64) -> SysResult {
    let grows = prot & (PROT_GROWSDOWN | PROT_GROWSUP);
    if grows == PROT_GROWSDOWN | PROT_GROWSUP || prot & !(PROT_READ | PROT_WRITE | PROT_EXEC | grows) != 0 {
        return Err(EINVAL);
    }
    if !addr.is_multiple_of(PAGE_SIZE) {
        return Err(EINVAL);
    }
    if len == 0 {
        return Ok(0);
    }
    let len = page_ceil(len).ok_or(ENOMEM)?;
    let mut start = addr;
    let end = addr.checked_add(len).ok_or(ENOMEM)?;
    if end > USER_TOP {
        return Err(ENOMEM);
    }
    if grows == PROT_GROWSDOWN {
        // Extends down to the start of a grows-down VMA.
        match task.space.vmas().find(addr) {
            Some(v) if v.growsdown => start = v.start,
            Some(_) => return Err(EINVAL),
            None => return Err(ENOMEM),
        }
    } else if grows == PROT_GROWSUP {
        return Err(EINVAL);
    }
    // Linux changes VMA by VMA and stops with ENOMEM at the first hole,
    // keeping what it changed.
    let reach = task.space.vmas().mapped_prefix(start, end);
    if reach > start {
        task.space.protect(start, reach, perms(prot));
        // A locked range that becomes accessible is populated, as
        // mprotect_fixup does for VM_LOCKED.
        let locked: Vec<(u64, u64, bool)> = task
            .space
            .vmas()
            .overlapping(start, reach)
            .filter(|v| v.locked && v.perms.any())
            .map(|v| (v.start.max(start), v.end.min(reach), v.lock_on_fault))
            .collect();
        for (s, e, onfault) in locked {
            super::mlock::pin_pages(task, s, e, onfault, Prefault::Mlock);
        }
    }
    if reach < end {
        return Err(ENOMEM);
    }
    Ok(0)
}

/// Maps `[start, end)` (free) as more of `vma`, as mremap grows it: new
/// zero pages with its attributes, populated and pinned if it is locked.
fn grow_vma(task: &mut Task, vma: &Vma, start: u64, end: u64) -> Result<(), Errno> {
    task.space.map_anon(Vma { start, end, ..vma.clone() }).map_err(|_| ENOMEM)?;
    if vma.locked {
        super::mlock::pin_pages(task, start, end, vma.lock_on_fault, Prefault::Mlock);
    }
    Ok(())
}

pub fn mremap(task: &mut Task, old: u64, old_len: u64, new_len: u64, flags: u64, new_addr: u64) -> SysResult {
    if flags & !(MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP) != 0 || !old.is_multiple_of(PAGE_SIZE) {
        return Err(EINVAL);
    }
    if flags & MREMAP_FIXED != 0 && flags & MREMAP_MAYMOVE == 0 {
        return Err(EINVAL);
    }
    if flags & MREMAP_DONTUNMAP != 0 {
        // Would need a second, empty mapping left behind: not modelled.
        return Err(EINVAL);
    }
    let old_len = page_ceil(old_len).ok_or(EINVAL)?;
    let new_len = page_ceil(new_len).ok_or(EINVAL)?;
    if new_len == 0 {
        return Err(EINVAL);
    }
    if old_len == 0 {
        // Duplicating a shared mapping: nothing to duplicate here.
        return Err(EINVAL);
    }
    let old_end = old.checked_add(old_len).filter(|&e| e <= USER_TOP).ok_or(EINVAL)?;
    // The old range must lie inside one VMA.
    let vma = task.space.vmas().find(old).cloned().ok_or(EFAULT)?;
    if old_end > vma.end {
        return Err(EFAULT);
    }
    // vma_to_resize(): a locked mapping may not grow past RLIMIT_MEMLOCK.
    if vma.locked && new_len > old_len && !super::mlock::lock_fits(task, new_len - old_len) {
        return Err(EAGAIN);
    }
    let fixed = flags & MREMAP_FIXED != 0;
    if fixed {
        if !new_addr.is_multiple_of(PAGE_SIZE) || new_addr < MMAP_MIN_ADDR {
            return Err(EINVAL);
        }
        let ne = new_addr.checked_add(new_len).filter(|&e| e <= USER_TOP).ok_or(EINVAL)?;
        if new_addr < old_end && old < ne {
            return Err(EINVAL);
        }
        check_as(task, new_len)?;
        task.space.unmap(new_addr, ne);
        if new_len < old_len {
            task.space.unmap(old + new_len, old_end);
        }
        let keep = old_len.min(new_len);
        task.space.move_range(old, keep, new_addr);
        if new_len > keep {
            grow_vma(task, &vma, new_addr + keep, new_addr + new_len)?;
        }
        return Ok(new_addr as i64);
    }
    if new_len <= old_len {
        task.space.unmap(old + new_len, old_end);
        return Ok(old as i64);
    }
    let grow = new_len - old_len;
    check_as(task, grow)?;
    // In place if the VMA ends here and the space after it is free.
    if old_end == vma.end
        && old_end.checked_add(grow).is_some_and(|e| e <= USER_TOP)
        && task.space.vmas().is_free(old_end, old_end + grow)
    {
        grow_vma(task, &vma, old_end, old_end + grow)?;
        return Ok(old as i64);
    }
    if flags & MREMAP_MAYMOVE == 0 {
        return Err(ENOMEM);
    }
    let to = task.space.vmas().gap_top_down(new_len, MMAP_MIN_ADDR, task.mmap_base).ok_or(ENOMEM)?;
    task.space.move_range(old, old_len, to);
    grow_vma(task, &vma, to + old_len, to + new_len)?;
    Ok(to as i64)
}

pub fn madvise(task: &mut Task, addr: u64, len: u64, advice: u64) -> SysResult {
    let known = matches!(
        advice,
        MADV_NORMAL
            | MADV_RANDOM
            | MADV_SEQUENTIAL
            | MADV_WILLNEED
            | MADV_DONTNEED
            | MADV_FREE
            | MADV_REMOVE
            | MADV_DONTFORK
            | MADV_DOFORK
            | MADV_MERGEABLE
            | MADV_UNMERGEABLE
            | MADV_HUGEPAGE
            | MADV_NOHUGEPAGE
            | MADV_DONTDUMP
            | MADV_DODUMP
            | MADV_WIPEONFORK
            | MADV_KEEPONFORK
            | MADV_COLD
            | MADV_PAGEOUT
            | MADV_POPULATE_READ
            | MADV_POPULATE_WRITE
            | MADV_DONTNEED_LOCKED
    );
    if !known || !addr.is_multiple_of(PAGE_SIZE) {
        return Err(EINVAL);
    }
    let len = page_ceil(len).ok_or(EINVAL)?;
    let end = addr.checked_add(len).ok_or(EINVAL)?;
    if len == 0 {
        return Ok(0);
    }
    let vmas: Vec<Vma> = task.space.vmas().overlapping(addr, end).cloned().collect();
    // Linux applies the advice to what is mapped and reports ENOMEM for
    // holes afterwards.
    let hole = !task.space.vmas().covers(addr, end);
    for v in &vmas {
        let (s, e) = (v.start.max(addr), v.end.min(end));
        match advice {
            MADV_DONTNEED | MADV_FREE | MADV_DONTNEED_LOCKED | MADV_REMOVE => {
                if v.locked && advice != MADV_DONTNEED_LOCKED {
                    return Err(EINVAL);
                }
                if advice == MADV_FREE && !matches!(v.kind, VmaKind::Anon | VmaKind::Heap | VmaKind::Stack) {
                    return Err(EINVAL);
                }
                if advice == MADV_REMOVE && !v.shared {
                    return Err(EINVAL);
                }
                let backing = task.space.backing().clone();
                task.space.for_each_frame(s, e, |_, gpa| backing.discard(gpa));
            }
            MADV_WILLNEED | MADV_POPULATE_READ | MADV_POPULATE_WRITE => {
                // Populating what the access would not be allowed to touch.
                if (advice == MADV_POPULATE_READ && !v.perms.read) || (advice == MADV_POPULATE_WRITE && !v.perms.write)
                {
                    return Err(EINVAL);
                }
                populate(task, s, e, if advice == MADV_WILLNEED { Prefault::WillNeed } else { Prefault::Populate });
            }
            MADV_HUGEPAGE | MADV_NOHUGEPAGE => {}
            _ => {}
        }
    }
    if hole {
        return Err(ENOMEM);
    }
    Ok(0)
}

pub fn mincore(task: &mut Task, addr: u64, len: u64, vec: u64) -> SysResult {
    if !addr.is_multiple_of(PAGE_SIZE) {
        return Err(EINVAL);
    }
    let len = page_ceil(len).ok_or(ENOMEM)?;
    let end = addr.checked_add(len).filter(|&e| e <= USER_TOP).ok_or(ENOMEM)?;
    if !task.space.vmas().covers(addr, end) {
        return Err(ENOMEM);
    }
    let pages = (len / PAGE_SIZE) as usize;
    let mut out = vec![0u8; pages];
    let backing = task.space.backing().clone();
    task.space.for_each_frame(addr, end, |gva, gpa| {
        out[((gva - addr) / PAGE_SIZE) as usize] = u8::from(backing.is_resident(gpa));
    });
    task.copy_to_user(vec, &out)?;
    Ok(0)
}

pub fn msync(task: &mut Task, addr: u64, len: u64, flags: u64) -> SysResult {
    if flags & !(MS_ASYNC | MS_INVALIDATE | MS_SYNC) != 0 || !addr.is_multiple_of(PAGE_SIZE) {
        return Err(EINVAL);
    }
    if flags & MS_ASYNC != 0 && flags & MS_SYNC != 0 {
        return Err(EINVAL);
    }
    let len = page_ceil(len).ok_or(ENOMEM)?;
    let end = addr.checked_add(len).ok_or(ENOMEM)?;
    if flags & MS_INVALIDATE != 0 && task.space.vmas().overlapping(addr, end).any(|v| v.locked) {
        return Err(EBUSY);
    }
    // Nothing is file-backed and shared, so there is nothing to write back.
    if !task.space.vmas().covers(addr, end) {
        return Err(ENOMEM);
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mmap_base_matches_linux_without_aslr() {
        // The familiar 0x7ffff7fff000 with an 8 MiB stack rlimit.
        assert_eq!(mmap_base(8 << 20), 0x7fff_f7ff_f000);
        // A huge rlimit pushes it down.
        assert_eq!(mmap_base(1 << 30), USER_TOP - (1 << 30) - STACK_GUARD_GAP);
    }
}
