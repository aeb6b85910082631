//! Memory syscalls: brk, mmap, munmap, mremap, mprotect, madvise,
//! mincore, msync. Validation order and errno values follow Linux
//! (mm/mmap.c, mm/mremap.c, mm/mprotect.c, mm/madvise.c, mm/util.c).
//!
//! A mapping only reserves: it costs a VMA, whatever its size. Frames and
//! page-table entries come on first touch, or when mlock, MAP_POPULATE or
//! MADV_POPULATE_* ask for them.

use std::sync::Arc;
use std::time::Instant;

use super::super::abi::fcntl::O_PATH;
use super::super::abi::mman::*;
use super::super::abi::resource::{RLIMIT_AS, RLIMIT_DATA, RLIMIT_MEMLOCK};
use super::super::errno::*;
use super::super::files::FileKind;
use super::super::mm::fault::{Outcome, Want};
use super::super::task::Ctx;
use super::super::KernelState;
use crate::arch::layout::{MMAP_MIN_ADDR, USER_TOP};
use crate::arch::{page_ceil, Perms, PAGE_SIZE};
use crate::fault::{self, Need};
use crate::mm::{
    AddressSpace, Backing, CachedFile, FileData, FileRef, MmId, Phys, Residency, Vma, VmaKind, STACK_GUARD_GAP,
};
use crate::timeline::{Access, Event, EventKind, Origin, Prefault, RegionKind};

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

fn perms(prot: u64) -> Perms {
    Perms::new(prot & (PROT_READ | PROT_WRITE | PROT_EXEC) != 0, prot & PROT_WRITE != 0, prot & PROT_EXEC != 0)
}

/// Runs `f` on the caller's address space.
pub fn with_space<R>(ctx: &mut Ctx, f: impl FnOnce(&mut AddressSpace, &mut Phys) -> R) -> R {
    let mm = ctx.mm();
    let k = &mut *ctx.k;
    let space = &mut k.mms.get_mut(&mm).expect("live mm").space;
    let r = f(space, &mut k.phys);
    k.phys.flush_stale();
    r
}

/// Bytes of `[start, end)` not already mapped (for RLIMIT_AS checks).
fn new_bytes(space: &AddressSpace, start: u64, end: u64) -> u64 {
    let mapped: u64 = space.vmas.overlapping(start, end).map(|v| v.end.min(end) - v.start.max(start)).sum();
    (end - start) - mapped
}

fn check_as(ctx: &Ctx, extra: u64) -> Result<(), Errno> {
    let limit = ctx.proc().limits.cur(RLIMIT_AS);
    if ctx.k.space(ctx.mm()).vmas.total().saturating_add(extra) > limit {
        return Err(ENOMEM);
    }
    Ok(())
}

impl KernelState {
    /// __vm_enough_memory(): whether `pages` more may be committed, under
    /// vm.overcommit_memory. 0 (the heuristic) refuses one request larger
    /// than RAM plus swap; 1 allows everything; 2 (strict) keeps the total
    /// committed below CommitLimit less the admin and user reserves.
    /// vm.admin_reserve_kbytes as Linux sets it at boot: 1/32 of free
    /// memory, at most 8 MiB (in pages).
    pub fn admin_reserve_pages(&self) -> u64 {
        (self.phys.budget.resident_pages / 32).min(2048)
    }

    /// vm.user_reserve_kbytes: 1/32 of free memory, at most 128 MiB.
    pub fn user_reserve_pages(&self) -> u64 {
        (self.phys.budget.resident_pages / 32).min(32768)
    }

    pub fn enough_memory(&self, mm: MmId, pages: u64) -> Result<(), Errno> {
        let ram = self.phys.budget.resident_pages;
        let swap = self.phys.budget.swap_pages;
        match self.cfg.overcommit {
            OVERCOMMIT_ALWAYS => Ok(()),
            OVERCOMMIT_NEVER => {
                // __vm_enough_memory: the program is no admin, so the admin
                // reserve is kept back, and a process may not take the
                // user reserve's last total_vm/32. The new pages count
                // already, and the sum must stay below what is allowed.
                let total_vm = self.mms.get(&mm).map_or(0, |m| m.space.vmas.total() / PAGE_SIZE);
                let allowed = self
                    .commit_limit()
                    .saturating_sub(self.admin_reserve_pages())
                    .saturating_sub((total_vm / 32).min(self.user_reserve_pages()));
                if self.committed_pages() + pages >= allowed {
                    return Err(ENOMEM);
                }
                Ok(())
            }
            _ => {
                if pages > ram + swap {
                    return Err(ENOMEM);
                }
                Ok(())
            }
        }
    }

    /// Populates `[start, end)` of `mm` as touching it would (MAP_POPULATE,
    /// mlock, MADV_POPULATE_*), recording each page brought in as `why`.
    /// Pages the area does not allow to be accessed are skipped. Returns
    /// false if a page could not be brought in.
    #[allow(clippy::too_many_arguments)]
    pub fn populate(&mut self, mm: MmId, pid: u32, tid: u32, start: u64, end: u64, write: bool, why: Prefault) -> bool {
        let at = Instant::now();
        let mut ok = true;
        let mut va = start;
        while va < end {
            // Populating may end in the OOM killer taking this very process.
            if !self.mms.contains_key(&mm) {
                return false;
            }
            let Some(vma) = self.space(mm).vmas.find(va).cloned() else {
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
                if !self.populate_page(mm, pid, tid, va, want, why, at) {
                    ok = false;
                }
                va += PAGE_SIZE;
            }
        }
        ok
    }

    #[allow(clippy::too_many_arguments)]
    fn populate_page(&mut self, mm: MmId, pid: u32, tid: u32, va: u64, want: Want, why: Prefault, at: Instant) -> bool {
        for _ in 0..3 {
            if !self.mms.contains_key(&mm) {
                return false;
            }
            let pte = self.space(mm).pte(va);
            if !pte.present() || (want == Want::Write && !pte.writable()) {
                match self.handle_fault_as(mm, pid, tid, va, want, Some(why), at) {
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
                    let region = self.space(mm).region_of(va).unwrap_or(crate::timeline::RegionId(0));
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

    /// The fault path, with its event labelled as a prefault when `why`.
    #[allow(clippy::too_many_arguments)]
    pub fn handle_fault_as(
        &mut self,
        mm: MmId,
        pid: u32,
        tid: u32,
        va: u64,
        want: Want,
        why: Option<Prefault>,
        at: Instant,
    ) -> Outcome {
        self.prefault_label = why;
        let r = self.handle_fault(mm, pid, tid, va, want, Origin::Guest, at);
        self.prefault_label = None;
        r
    }

    /// Pins `[start, end)` for the sandbox (`--pin`): populated, and never
    /// evicted whatever the program locks or unlocks.
    pub fn pin_host(&mut self, mm: MmId, pid: u32, start: u64, end: u64) {
        self.populate(mm, pid, pid, start, end, false, Prefault::Pin);
        let Some(m) = self.mms.get(&mm) else { return };
        let frames = m.space.mapped_frames(start, end);
        for (_, gpa) in frames {
            self.phys.update(gpa, |f| f.pinned = true);
        }
    }
}

/// Shared anonymous memory: a memory-only file, as Linux's shmem.
pub struct Shmem {
    size: std::sync::atomic::AtomicU64,
}

impl Shmem {
    pub fn new(size: u64) -> Self {
        Shmem { size: std::sync::atomic::AtomicU64::new(size) }
    }

    pub fn set_size(&self, size: u64) {
        self.size.store(size, std::sync::atomic::Ordering::Relaxed);
    }
}

impl FileData for Shmem {
    fn read_at(&self, _: u64, _: &mut [u8]) -> std::io::Result<usize> {
        // Its pages live in the page cache; new ones are zero.
        Ok(0)
    }
    fn write_at(&self, _: u64, _: &[u8]) -> std::io::Result<()> {
        Ok(())
    }
    fn size(&self) -> u64 {
        self.size.load(std::sync::atomic::Ordering::Relaxed)
    }
    fn memory_only(&self) -> bool {
        true
    }
}

pub fn brk(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let addr = a[0];
    let mm = ctx.mm();
    let (old, min) = {
        let s = ctx.k.space(mm);
        (s.brk, s.brk_start)
    };
    // Linux returns the current break for anything it cannot do.
    if addr < min {
        return Ok(old as i64);
    }
    let (Some(new_top), Some(old_top)) = (page_ceil(addr), page_ceil(old)) else { return Ok(old as i64) };
    if addr.saturating_sub(min) > ctx.proc().limits.cur(RLIMIT_DATA) {
        return Ok(old as i64);
    }
    if new_top < old_top {
        with_space(ctx, |s, p| s.unmap(p, new_top, old_top));
    } else if new_top > old_top {
        let grow = new_top - old_top;
        let space = ctx.k.space(mm);
        // The heap may not run into another mapping or the stack's guard.
        let guard = space.vmas.find_from(old_top).map(|v| {
            if v.growsdown {
                v.start - STACK_GUARD_GAP.min(v.start)
            } else {
                v.start
            }
        });
        if guard.is_some_and(|g| g < new_top) || new_top > USER_TOP {
            return Ok(old as i64);
        }
        if check_as(ctx, grow).is_err() || ctx.k.enough_memory(mm, grow / PAGE_SIZE).is_err() {
            return Ok(old as i64);
        }
        let (lock_future, onfault, pin_heap) = (space.lock_future, space.lock_future_onfault, space.pin_heap);
        // mlock_future_ok(): MCL_FUTURE growth counts against RLIMIT_MEMLOCK.
        if lock_future && !super::super::mm::mlock::lock_fits(ctx, grow) {
            return Ok(old as i64);
        }
        if ctx.k.space(mm).vmas.count() >= ctx.k.cfg.max_map_count {
            return Ok(old as i64);
        }
        let region = ctx.k.recorder.region("heap", RegionKind::Heap);
        let mut v = Vma::anon(old_top, new_top, Perms::RW, VmaKind::Heap, region);
        v.locked = lock_future;
        v.lock_on_fault = lock_future && onfault;
        with_space(ctx, |s, _| s.vmas.insert(v));
        let (pid, tid) = (ctx.pid, ctx.tid);
        if lock_future && !onfault {
            ctx.k.populate(mm, pid, tid, old_top, new_top, true, Prefault::Mlock);
        }
        if pin_heap {
            ctx.k.pin_host(mm, pid, old_top, new_top);
        }
    }
    ctx.k.space_mut(mm).brk = addr;
    Ok(addr as i64)
}

/// The file a mapping of `fd` maps, and whether it may be shared-written.
fn mapped_file(ctx: &mut Ctx, fd: u64) -> Result<(FileRef, Arc<dyn FileData>, bool, bool), Errno> {
    let file = ctx.proc().files.file(fd as i32)?;
    match &file.kind {
        FileKind::File(n) => {
            if n.meta.is_dir() {
                return Err(ENODEV);
            }
            let name: Arc<str> = n.path.as_str().into();
            let fref = FileRef { id: n.id, path: name, dev: n.meta.dev, ino: n.meta.ino };
            Ok((fref, n.data.clone(), file.readable(), file.writable()))
        }
        // A private mapping of /dev/zero is anonymous memory.
        FileKind::Zero => Err(ENOSYS),
        FileKind::Dir(_) => Err(ENODEV),
        _ => Err(ENODEV),
    }
}

pub fn mmap(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let (addr, len, prot, mut flags, fd, off) = (a[0], a[1], a[2], a[3], a[4], a[5]);
    let mm = ctx.mm();
    // do_mmap's order: length, address space, flags.
    if len == 0 {
        return Err(EINVAL);
    }
    let len = page_ceil(len).filter(|&l| l != 0 && l <= USER_TOP).ok_or(ENOMEM)?;
    if !off.is_multiple_of(PAGE_SIZE) {
        return Err(EINVAL);
    }
    if (off / PAGE_SIZE).checked_add(len / PAGE_SIZE).is_none() {
        return Err(EOVERFLOW);
    }
    // Too many mappings (vm.max_map_count).
    if ctx.k.space(mm).vmas.count() > ctx.k.cfg.max_map_count {
        return Err(ENOMEM);
    }
    let map_type = flags & MAP_TYPE;
    // A file, or /dev/zero (which makes anonymous memory).
    let mut file = None;
    if flags & MAP_ANONYMOUS == 0 {
        let f = ctx.proc().files.file(fd as i32)?;
        if f.flags() & O_PATH != 0 {
            return Err(EBADF);
        }
        if matches!(f.kind, FileKind::Zero) {
            flags |= MAP_ANONYMOUS;
        } else {
            if map_type == MAP_SHARED_VALIDATE && flags & !KNOWN_MAP_FLAGS != 0 {
                return Err(EOPNOTSUPP);
            }
            let (fref, data, readable, writable) = mapped_file(ctx, fd)?;
            if !readable {
                return Err(EACCES);
            }
            if matches!(map_type, MAP_SHARED | MAP_SHARED_VALIDATE) && prot & PROT_WRITE != 0 && !writable {
                return Err(EACCES);
            }
            // A sealed memfd takes no writable shared mapping.
            if matches!(map_type, MAP_SHARED | MAP_SHARED_VALIDATE)
                && prot & PROT_WRITE != 0
                && super::fschange::seals_forbid_shared_write(&f)
            {
                return Err(EPERM);
            }
            file = Some((fref, data, writable));
        }
    }
    // Without a file only MAP_SHARED and MAP_PRIVATE are types at all.
    let anonymous = a[3] & MAP_ANONYMOUS != 0;
    if !matches!(map_type, MAP_SHARED | MAP_PRIVATE | MAP_SHARED_VALIDATE)
        || (anonymous && map_type == MAP_SHARED_VALIDATE)
    {
        return Err(EINVAL);
    }
    if flags & MAP_HUGETLB != 0 {
        return Err(EINVAL);
    }
    let shared = map_type != MAP_PRIVATE;
    let fixed = flags & (MAP_FIXED | MAP_FIXED_NOREPLACE) != 0;
    let space = ctx.k.space(mm);
    let start = if fixed {
        if !addr.is_multiple_of(PAGE_SIZE) {
            return Err(EINVAL);
        }
        if addr.checked_add(len).is_none_or(|e| e > USER_TOP) || addr < MMAP_MIN_ADDR {
            return Err(if addr < MMAP_MIN_ADDR { EPERM } else { ENOMEM });
        }
        if flags & MAP_FIXED_NOREPLACE != 0 && !space.vmas.is_free(addr, addr + len) {
            return Err(EEXIST);
        }
        addr
    } else {
        let hint = addr & !(PAGE_SIZE - 1);
        if hint >= MMAP_MIN_ADDR
            && hint.checked_add(len).is_some_and(|e| e <= USER_TOP)
            && space.vmas.is_free(hint, hint + len)
        {
            hint
        } else {
            space.vmas.gap_top_down(len, MMAP_MIN_ADDR, space.mmap_base, STACK_GUARD_GAP).ok_or(ENOMEM)?
        }
    };
    check_as(ctx, new_bytes(ctx.k.space(mm), start, start + len))?;
    // Overcommit: private writable and shared anonymous memory is
    // committed; MAP_NORESERVE skips the charge except in strict mode.
    let charged = (prot & PROT_WRITE != 0 && !shared) || (shared && flags & MAP_ANONYMOUS != 0);
    let noreserve = flags & MAP_NORESERVE != 0 && ctx.k.cfg.overcommit != OVERCOMMIT_NEVER;
    if charged && !noreserve {
        ctx.k.enough_memory(mm, len / PAGE_SIZE)?;
    }
    let (lock_future, lock_onfault, pin_mmap) = {
        let s = ctx.k.space(mm);
        (s.lock_future, s.lock_future_onfault, s.pin_mmap)
    };
    let locked = flags & MAP_LOCKED != 0 || lock_future;
    if locked {
        if flags & MAP_LOCKED != 0 && ctx.proc().limits.cur(RLIMIT_MEMLOCK) == 0 {
            return Err(EPERM);
        }
        if !super::super::mm::mlock::lock_fits(ctx, len) {
            return Err(EAGAIN);
        }
    }
    if fixed {
        with_space(ctx, |s, p| s.unmap(p, start, start + len));
    }
    let prot = prot & (PROT_READ | PROT_WRITE | PROT_EXEC);
    let file_writable = file.as_ref().map(|f| f.2);
    let (backing, kind, region) = match (file, shared && flags & MAP_ANONYMOUS != 0) {
        (Some((fref, data, _)), _) => {
            let name = fref.path.rsplit('/').next().unwrap_or(&fref.path).to_string();
            ctx.k.phys.cache.entry(fref.id).or_insert_with(|| CachedFile { data, pages: Default::default() });
            let region = ctx.k.recorder.region(&name, RegionKind::File);
            (Backing::File { file: fref, pgoff: off / PAGE_SIZE }, VmaKind::File, region)
        }
        (None, true) => {
            // MAP_SHARED|MAP_ANONYMOUS: a shmem file of its own.
            let id = ctx.k.vfs.new_id();
            let data: Arc<dyn FileData> = Arc::new(Shmem::new(len));
            ctx.k.phys.cache.insert(id, CachedFile { data, pages: Default::default() });
            let fref = FileRef { id, path: "/dev/zero (deleted)".into(), dev: 1, ino: id.0 };
            let region = ctx.k.recorder.region("mmap", RegionKind::Mmap);
            (Backing::File { file: fref, pgoff: 0 }, VmaKind::Anon, region)
        }
        (None, false) => (Backing::Anon, VmaKind::Anon, ctx.k.recorder.region("mmap", RegionKind::Mmap)),
    };
    let on_fault = lock_future && lock_onfault && flags & MAP_LOCKED == 0;
    let may_write = !(shared && file_writable == Some(false));
    let vma = Vma {
        may_write,
        backing,
        shared,
        growsdown: flags & MAP_GROWSDOWN != 0,
        noreserve: flags & MAP_NORESERVE != 0,
        locked,
        lock_on_fault: locked && on_fault,
        ..Vma::anon(start, start + len, perms(prot), kind, region)
    };
    with_space(ctx, |s, _| s.vmas.insert(vma));
    let (pid, tid) = (ctx.pid, ctx.tid);
    if locked && !on_fault {
        ctx.k.populate(mm, pid, tid, start, start + len, false, Prefault::Mlock);
    } else if flags & MAP_POPULATE != 0 && flags & MAP_NONBLOCK == 0 {
        ctx.k.populate(mm, pid, tid, start, start + len, false, Prefault::Populate);
    }
    if pin_mmap {
        ctx.k.pin_host(mm, pid, start, start + len);
    }
    let s = ctx.k.space_mut(mm);
    s.peak_size = s.peak_size.max(s.vmas.total());
    Ok(start as i64)
}

pub fn munmap(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let (addr, len) = (a[0], a[1]);
    if !addr.is_multiple_of(PAGE_SIZE) || len == 0 {
        return Err(EINVAL);
    }
    let len = page_ceil(len).ok_or(EINVAL)?;
    if addr.checked_add(len).is_none_or(|e| e > USER_TOP) {
        return Err(EINVAL);
    }
    // Splitting VMAs may exceed vm.max_map_count.
    let mm = ctx.mm();
    let s = ctx.k.space(mm);
    if s.vmas.splits_at(addr, addr + len) == 2 && s.vmas.count() >= ctx.k.cfg.max_map_count {
        return Err(ENOMEM);
    }
    // Dirty shared pages of host files go back to them first.
    ctx.k.writeback_range(mm, addr, addr + len);
    let gone = with_space(ctx, |s, p| s.unmap(p, addr, addr + len));
    for v in &gone {
        if let Backing::File { file, .. } = &v.backing {
            ctx.k.release_if_orphan(file.id);
        }
    }
    Ok(0)
}

pub fn mprotect(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let (addr, len, prot) = (a[0], a[1], a[2]);
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
    let mm = ctx.mm();
    if grows == PROT_GROWSDOWN {
        // Extends down to the start of a grows-down VMA.
        match ctx.k.space(mm).vmas.find(addr) {
            Some(v) if v.growsdown => start = v.start,
            Some(_) => return Err(EINVAL),
            None => return Err(ENOMEM),
        }
    } else if grows == PROT_GROWSUP {
        return Err(EINVAL);
    }
    // Making a private file mapping writable needs no write access to the
    // file; a shared one does (VM_MAYWRITE).
    if prot & PROT_WRITE != 0 && ctx.k.space(mm).vmas.overlapping(start, end).any(|v| !v.may_write) {
        return Err(EACCES);
    }
    // Linux changes VMA by VMA and stops with ENOMEM at the first hole,
    // keeping what it changed.
    let reach = ctx.k.space(mm).vmas.mapped_prefix(start, end);
    if reach > start {
        with_space(ctx, |s, p| s.protect(p, start, reach, perms(prot)));
        // A locked range that becomes accessible is populated, as
        // mprotect_fixup does for VM_LOCKED.
        let locked: Vec<(u64, u64)> = ctx
            .k
            .space(mm)
            .vmas
            .overlapping(start, reach)
            .filter(|v| v.locked && !v.lock_on_fault && v.perms.any())
            .map(|v| (v.start.max(start), v.end.min(reach)))
            .collect();
        let (pid, tid) = (ctx.pid, ctx.tid);
        for (s, e) in locked {
            ctx.k.populate(mm, pid, tid, s, e, false, Prefault::Mlock);
        }
    }
    if reach < end {
        return Err(ENOMEM);
    }
    Ok(0)
}

/// Maps `[start, end)` (free) as more of `vma`, as mremap grows it: its
/// attributes, populated if it is locked.
fn grow_vma(ctx: &mut Ctx, vma: &Vma, start: u64, end: u64) -> Result<(), Errno> {
    let mut v = vma.clone();
    if let Backing::File { pgoff, .. } = &mut v.backing {
        *pgoff += (start - vma.start) / PAGE_SIZE;
    }
    v.start = start;
    v.end = end;
    with_space(ctx, |s, _| s.vmas.insert(v));
    if vma.locked && !vma.lock_on_fault {
        let (mm, pid, tid) = (ctx.mm(), ctx.pid, ctx.tid);
        ctx.k.populate(mm, pid, tid, start, end, false, Prefault::Mlock);
    }
    Ok(())
}

pub fn mremap(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let (old, old_len, new_len, flags, new_addr) = (a[0], a[1], a[2], a[3], a[4]);
    if flags & !(MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP) != 0 || !old.is_multiple_of(PAGE_SIZE) {
        return Err(EINVAL);
    }
    if flags & MREMAP_FIXED != 0 && flags & MREMAP_MAYMOVE == 0 {
        return Err(EINVAL);
    }
    let dontunmap = flags & MREMAP_DONTUNMAP != 0;
    if dontunmap && (flags & MREMAP_MAYMOVE == 0 || old_len != new_len) {
        return Err(EINVAL);
    }
    let old_len = page_ceil(old_len).ok_or(EINVAL)?;
    let new_len = page_ceil(new_len).ok_or(EINVAL)?;
    if new_len == 0 {
        return Err(EINVAL);
    }
    let mm = ctx.mm();
    if old_len == 0 {
        // Duplicating a shared mapping: only a shared one may be.
        return Err(EINVAL);
    }
    let old_end = old.checked_add(old_len).filter(|&e| e <= USER_TOP).ok_or(EINVAL)?;
    // The old range must lie inside one VMA.
    let vma = ctx.k.space(mm).vmas.find(old).cloned().ok_or(EFAULT)?;
    if old_end > vma.end {
        return Err(EFAULT);
    }
    if dontunmap && (!vma.is_anon() || vma.shared) {
        return Err(EINVAL);
    }
    // vma_to_resize(): a locked mapping may not grow past RLIMIT_MEMLOCK.
    if vma.locked && new_len > old_len && !super::super::mm::mlock::lock_fits(ctx, new_len - old_len) {
        return Err(EAGAIN);
    }
    if new_len > old_len && vma.perms.write && !vma.shared && !vma.noreserve {
        ctx.k.enough_memory(mm, (new_len - old_len) / PAGE_SIZE)?;
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
        check_as(ctx, new_len)?;
        with_space(ctx, |s, p| s.unmap(p, new_addr, ne));
        if new_len < old_len {
            with_space(ctx, |s, p| s.unmap(p, old + new_len, old_end));
        }
        let keep = old_len.min(new_len);
        with_space(ctx, |s, p| s.move_range(p, old, keep, new_addr)).map_err(|_| ENOMEM)?;
        if dontunmap {
            leave_behind(ctx, &vma, old, keep);
        }
        if new_len > keep {
            grow_vma(ctx, &vma, new_addr + keep, new_addr + new_len)?;
        }
        return Ok(new_addr as i64);
    }
    if new_len <= old_len && !dontunmap {
        with_space(ctx, |s, p| s.unmap(p, old + new_len, old_end));
        return Ok(old as i64);
    }
    let grow = new_len - old_len;
    check_as(ctx, grow)?;
    // In place if the VMA ends here and the space after it is free.
    if !dontunmap
        && old_end == vma.end
        && old_end.checked_add(grow).is_some_and(|e| e <= USER_TOP)
        && ctx.k.space(mm).vmas.is_free(old_end, old_end + grow)
    {
        grow_vma(ctx, &vma, old_end, old_end + grow)?;
        return Ok(old as i64);
    }
    if flags & MREMAP_MAYMOVE == 0 {
        return Err(ENOMEM);
    }
    let s = ctx.k.space(mm);
    let to = s.vmas.gap_top_down(new_len, MMAP_MIN_ADDR, s.mmap_base, STACK_GUARD_GAP).ok_or(ENOMEM)?;
    with_space(ctx, |s, p| s.move_range(p, old, old_len, to)).map_err(|_| ENOMEM)?;
    if dontunmap {
        leave_behind(ctx, &vma, old, old_len);
    }
    if new_len > old_len {
        grow_vma(ctx, &vma, to + old_len, to + new_len)?;
    }
    Ok(to as i64)
}

/// MREMAP_DONTUNMAP: the old range stays mapped, empty (its next touch
/// faults in fresh zeroes).
fn leave_behind(ctx: &mut Ctx, vma: &Vma, old: u64, len: u64) {
    let v = Vma { start: old, end: old + len, ..vma.clone() };
    with_space(ctx, |s, _| s.vmas.insert(v));
}

pub fn madvise(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let (addr, len, advice) = (a[0], a[1], a[2]);
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
    let mm = ctx.mm();
    let vmas: Vec<Vma> = ctx.k.space(mm).vmas.overlapping(addr, end).cloned().collect();
    // Linux applies the advice to what is mapped and reports ENOMEM for
    // holes afterwards.
    let hole = !ctx.k.space(mm).vmas.covers(addr, end);
    let (pid, tid) = (ctx.pid, ctx.tid);
    for v in &vmas {
        let (s, e) = (v.start.max(addr), v.end.min(end));
        match advice {
            MADV_DONTNEED | MADV_FREE | MADV_DONTNEED_LOCKED | MADV_REMOVE => {
                if v.locked && advice != MADV_DONTNEED_LOCKED {
                    return Err(EINVAL);
                }
                if advice == MADV_FREE && !v.is_anon() {
                    return Err(EINVAL);
                }
                if advice == MADV_REMOVE && !v.shared {
                    return Err(EINVAL);
                }
                with_space(ctx, |sp, p| sp.zap(p, s, e));
                if advice == MADV_REMOVE {
                    punch_hole(ctx, v, s, e);
                }
            }
            MADV_WILLNEED => {
                // Reads ahead what is not there: swapped-out pages, file
                // pages; never touched anonymous memory stays untouched.
                let frames = ctx.k.space(mm).mapped_frames(s, e);
                for (va, gpa) in frames {
                    if matches!(ctx.k.phys.frame(gpa).map(|f| f.residency), Some(Residency::Swapped(_))) {
                        ctx.k.populate(mm, pid, tid, va, va + PAGE_SIZE, false, Prefault::WillNeed);
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
            MADV_POPULATE_READ | MADV_POPULATE_WRITE => {
                // Populating what the access would not be allowed to touch.
                if (advice == MADV_POPULATE_READ && !v.perms.read) || (advice == MADV_POPULATE_WRITE && !v.perms.write)
                {
                    return Err(EINVAL);
                }
                let write = advice == MADV_POPULATE_WRITE;
                if !ctx.k.populate(mm, pid, tid, s, e, write, Prefault::Populate) {
                    return Err(EFAULT);
                }
            }
            MADV_DONTFORK | MADV_DOFORK | MADV_WIPEONFORK | MADV_KEEPONFORK => {
                if matches!(advice, MADV_WIPEONFORK) && (!v.is_anon() || v.shared) {
                    return Err(EINVAL);
                }
                with_space(ctx, |sp, _| {
                    sp.vmas.update(s, e, |v| match advice {
                        MADV_DONTFORK => v.dontcopy = true,
                        MADV_DOFORK => v.dontcopy = false,
                        MADV_WIPEONFORK => v.wipeonfork = true,
                        _ => v.wipeonfork = false,
                    })
                });
            }
            MADV_PAGEOUT => pageout(ctx, s, e),
            _ => {}
        }
    }
    if hole {
        return Err(ENOMEM);
    }
    Ok(0)
}

/// MADV_PAGEOUT: reclaims the pages of `[s, e)` now (to swap, or dropped
/// if clean), as reclaim would.
fn pageout(ctx: &mut Ctx, s: u64, e: u64) {
    let mm = ctx.mm();
    let frames = ctx.k.space(mm).mapped_frames(s, e);
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
    ctx.k.vfs.note_cached(file, -(gone.len() as i64));
    for gpa in gone {
        ctx.k.phys.update(gpa, |f| f.cached = false);
        ctx.k.phys.free_if_unused(gpa);
    }
}

pub fn mincore(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let (addr, len, vec) = (a[0], a[1], a[2]);
    if !addr.is_multiple_of(PAGE_SIZE) {
        return Err(EINVAL);
    }
    let len = page_ceil(len).ok_or(ENOMEM)?;
    let end = addr.checked_add(len).filter(|&e| e <= USER_TOP).ok_or(ENOMEM)?;
    let mm = ctx.mm();
    if !ctx.k.space(mm).vmas.covers(addr, end) {
        return Err(ENOMEM);
    }
    let pages = (len / PAGE_SIZE) as usize;
    let mut out = vec![0u8; pages];
    let k = &ctx.k;
    let space = k.space(mm);
    space.for_each_mapped(addr, end, |va, l| {
        let in_core =
            k.phys.frame(l.pte.frame()).is_some_and(|f| matches!(f.residency, Residency::Resident | Residency::Zero));
        out[((va - addr) / PAGE_SIZE) as usize] = u8::from(in_core);
    });
    // A file mapping's pages count if the page cache has them, mapped here
    // or not.
    for v in space.vmas.overlapping(addr, end) {
        let Some((file, first)) = v.file_page(v.start.max(addr)).map(|(f, i)| (f.id, i)) else { continue };
        let Some(c) = k.phys.cache.get(&file) else { continue };
        let (s, e) = (v.start.max(addr), v.end.min(end));
        for (i, va) in (s..e).step_by(PAGE_SIZE as usize).enumerate() {
            if let Some(&g) = c.pages.get(&(first + i as u64)) {
                if k.phys.frame(g).is_some_and(|f| f.residency == Residency::Resident) {
                    out[((va - addr) / PAGE_SIZE) as usize] = 1;
                }
            }
        }
    }
    ctx.write_user(vec, &out)?;
    Ok(0)
}

pub fn msync(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let (addr, len, flags) = (a[0], a[1], a[2]);
    if flags & !(MS_ASYNC | MS_INVALIDATE | MS_SYNC) != 0 || !addr.is_multiple_of(PAGE_SIZE) {
        return Err(EINVAL);
    }
    if flags & MS_ASYNC != 0 && flags & MS_SYNC != 0 {
        return Err(EINVAL);
    }
    let len = page_ceil(len).ok_or(ENOMEM)?;
    let end = addr.checked_add(len).ok_or(ENOMEM)?;
    let mm = ctx.mm();
    if flags & MS_INVALIDATE != 0 && ctx.k.space(mm).vmas.overlapping(addr, end).any(|v| v.locked) {
        return Err(EBUSY);
    }
    if flags & MS_SYNC != 0 {
        ctx.k.writeback_range(mm, addr, end);
    }
    if !ctx.k.space(mm).vmas.covers(addr, end) {
        return Err(ENOMEM);
    }
    Ok(0)
}

/// prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME): names anonymous memory, shown
/// as `[anon:name]` in /proc/PID/maps (and in the timeline's region).
pub fn set_anon_name(ctx: &mut Ctx, addr: u64, len: u64, name: u64) -> SysResult {
    if !addr.is_multiple_of(PAGE_SIZE) {
        return Err(EINVAL);
    }
    let end = addr.checked_add(page_ceil(len).ok_or(EINVAL)?).ok_or(EINVAL)?;
    let name: Option<Arc<str>> = if name == 0 {
        None
    } else {
        let b = ctx.read_cstr(name, 81).map_err(|_| EINVAL)?;
        if b.iter().any(|&c| !(0x20..0x7f).contains(&c) || b"[]\\$`".contains(&c)) {
            return Err(EINVAL);
        }
        Some(String::from_utf8_lossy(&b).into_owned().into())
    };
    let mm = ctx.mm();
    if ctx.k.space(mm).vmas.overlapping(addr, end).any(|v| !v.is_anon() && !v.shared) {
        return Err(EBADF);
    }
    let region = match &name {
        Some(n) => ctx.k.recorder.region(&format!("[anon:{n}]"), RegionKind::Mmap),
        None => ctx.k.recorder.region("mmap", RegionKind::Mmap),
    };
    let reach = ctx.k.space(mm).vmas.mapped_prefix(addr, end);
    with_space(ctx, |s, _| {
        s.vmas.update(addr, reach, |v| {
            if v.kind == VmaKind::Anon {
                v.anon_name = name.clone();
                v.region = region;
            }
        })
    });
    if reach < end {
        return Err(ENOMEM);
    }
    Ok(0)
}

impl KernelState {
    /// Writes the dirty shared file pages mapped in `[start, end)` of `mm`
    /// back to their files.
    pub fn writeback_range(&mut self, mm: MmId, start: u64, end: u64) {
        let frames: Vec<u64> = {
            let space = self.space(mm);
            space
                .vmas
                .overlapping(start, end)
                .filter(|v| v.shared && !v.is_anon())
                .flat_map(|v| space.mapped_frames(v.start.max(start), v.end.min(end)))
                .map(|(_, g)| g)
                .collect()
        };
        for gpa in frames {
            self.writeback_frame(gpa);
        }
    }

    /// Writes a dirty page-cache frame back to its file (memory-only files
    /// keep it).
    pub fn writeback_frame(&mut self, gpa: u64) {
        let Some(f) = self.phys.frame(gpa) else { return };
        let dirty = f.dirty
            || f.maps.iter().any(|m| {
                crate::arch::paging::entry_at(self.phys.tables.mem(), m.pte)
                    .is_some_and(crate::arch::paging::peek_dirty)
            });
        let crate::mm::Content::File { file, index } = f.content else { return };
        if !dirty || f.residency != Residency::Resident {
            return;
        }
        let Some(c) = self.phys.cache.get(&file) else { return };
        if c.data.memory_only() {
            return;
        }
        let data = c.data.clone();
        let off = index * PAGE_SIZE;
        let n = data.size().saturating_sub(off).min(PAGE_SIZE) as usize;
        let mut buf = vec![0u8; n];
        if self.phys.read(gpa, 0, &mut buf) && data.write_at(off, &buf).is_ok() {
            self.io.bytes_out += n as u64;
            self.phys.update(gpa, |f| f.dirty = false);
        }
    }
}
