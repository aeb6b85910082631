//! Making and removing mappings: mmap's rules in do_mmap's order (where it
//! goes, MAP_LOCKED, the file and the mapping type, RLIMIT_AS, overcommit,
//! seals, what backs it, populating), munmap, and shared anonymous
//! memory's file.
//! The syscall handler (`syscalls::mm::mmap`) has decoded the arguments
//! and resolved the descriptor into [`MmapOpts`].
//!
//! A mapping only reserves: it costs a VMA, whatever its size. Frames and
//! page-table entries come on first touch, or when mlock, MAP_POPULATE or
//! MADV_POPULATE_* ask for them.

use std::sync::Arc;

use super::overcommit::{check_as, new_bytes};
use super::with_space;
use crate::arch::layout::{MMAP_MIN_ADDR, USER_TOP};
use crate::arch::{Perms, PAGE_SIZE};
use crate::kernel::errno::*;
use crate::kernel::mm::fault::Actor;
use crate::kernel::task::Ctx;
use crate::mm::{Backing, CachedFile, FileData, FileRef, Vma, VmaKind, STACK_GUARD_GAP};
use crate::timeline::{Prefault, RegionId, RegionKind};

/// The file mmap was given, as do_mmap checks it.
pub(crate) struct MappedFile {
    pub(crate) what: Mappable,
    /// Whether the descriptor was opened for reading, and for writing (a
    /// shared mapping may then write).
    pub(crate) readable: bool,
    pub(crate) writable: bool,
    /// A memfd sealed against writing (F_SEAL_WRITE, F_SEAL_FUTURE_WRITE).
    pub(crate) write_sealed: bool,
}

/// What a descriptor's file gives a mapping.
pub(crate) enum Mappable {
    /// A file's pages, through the page cache.
    File { file: FileRef, data: Arc<dyn FileData> },
    /// /dev/zero: anonymous memory (shared anonymous for MAP_SHARED).
    Zero,
    /// A file with no mmap (a directory, a pipe, a socket): ENODEV.
    Unmappable,
    /// A System V shared memory segment's shmem object (shmat).
    Shm { file: FileRef, data: Arc<dyn FileData> },
}

/// `flags & MAP_TYPE`, decoded; an unknown type is only an error after
/// the checks Linux makes before it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum MapType {
    Private,
    Shared,
    /// MAP_SHARED_VALIDATE: unknown flags are EOPNOTSUPP, not ignored.
    SharedValidate,
    Invalid,
}

/// Where a mapping must go.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Place {
    /// Anywhere: a hint, or the top-down search below mmap_base.
    Hint(u64),
    /// Exactly here, over whatever is mapped (MAP_FIXED).
    Fixed(u64),
    /// Exactly here, or EEXIST (MAP_FIXED_NOREPLACE).
    NoReplace(u64),
}

/// What mmap was asked, decoded (gVisor's `memmap.MMapOpts`).
pub(crate) struct MmapOpts {
    pub(crate) place: Place,
    /// Bytes, page-rounded, not 0.
    pub(crate) len: u64,
    pub(crate) perms: Perms,
    pub(crate) map_type: MapType,
    /// Flags outside those MAP_SHARED_VALIDATE knows.
    pub(crate) unknown_flags: bool,
    /// `None`: MAP_ANONYMOUS.
    pub(crate) file: Option<MappedFile>,
    /// In pages, for a file.
    pub(crate) pgoff: u64,
    pub(crate) locked: bool,
    /// MAP_POPULATE without MAP_NONBLOCK.
    pub(crate) populate: bool,
    pub(crate) noreserve: bool,
    pub(crate) growsdown: bool,
}

/// vm.max_map_count: no more mappings past it (do_mmap checks it first).
pub(crate) fn check_map_count(ctx: &Ctx) -> Result<(), Errno> {
    if ctx.k.mm.space(ctx.mm()).vmas.count() > ctx.k.cfg.max_map_count {
        return Err(ENOMEM);
    }
    Ok(())
}

/// do_mmap() from where it places the mapping: where it goes, MAP_LOCKED,
/// the file and the mapping type, then mmap_region (RLIMIT_AS,
/// overcommit, seals) and populating. Where it went.
pub(crate) fn mmap(ctx: &mut Ctx, o: MmapOpts) -> Result<u64, Errno> {
    let mm = ctx.mm();
    let start = place(ctx, &o)?;
    let (lock_future, lock_onfault, pin_mmap) = {
        let s = ctx.k.mm.space(mm);
        (s.lock_future, s.lock_future_onfault, s.pin_mmap)
    };
    let locked = o.locked || lock_future;
    if o.locked {
        super::mlock::can_do_mlock(ctx)?;
    }
    if locked && !super::mlock::lock_fits(ctx, o.len) {
        return Err(EAGAIN);
    }
    let (shared, source) = check_type(&o)?;
    // VM_MAYWRITE: a shared mapping of a file (/dev/zero too) not open for
    // writing, or sealed against it, may never become writable.
    let may_write = !shared || o.file.as_ref().is_none_or(|f| f.writable && !f.write_sealed);
    let o = MmapOpts { file: source, map_type: if shared { MapType::Shared } else { MapType::Private }, ..o };
    check_as(ctx, new_bytes(ctx.k.mm.space(mm), start, start + o.len))?;
    charge(ctx, &o, shared)?;
    if shared && o.perms.write && o.file.as_ref().is_some_and(|f| f.write_sealed) {
        return Err(EPERM);
    }
    if matches!(o.place, Place::Fixed(_) | Place::NoReplace(_)) {
        with_space(ctx, |s, p| s.unmap(p, start, start + o.len));
    }
    let on_fault = lock_future && lock_onfault && !o.locked;
    let (end, populate) = (start + o.len, o.populate);
    let vma = Vma { may_write, ..vma_of(ctx, o, shared, start, locked, on_fault) };
    with_space(ctx, |s, _| s.vmas.insert(vma));
    let (pid, tid) = (ctx.pid, ctx.tid);
    if locked && !on_fault {
        ctx.k.populate(mm, Actor::now(pid, tid), start, end, false, Prefault::Mlock);
    } else if populate {
        ctx.k.populate(mm, Actor::now(pid, tid), start, end, false, Prefault::Populate);
    }
    if pin_mmap {
        ctx.k.pin_host(mm, pid, start, end);
    }
    let s = ctx.k.mm.space_mut(mm);
    s.peak_size = s.peak_size.max(s.vmas.total());
    Ok(start)
}

/// do_mmap's switch on the mapping type, with the file's checks: whether
/// the mapping is shared, and its file (`None` for anonymous memory and
/// /dev/zero).
fn check_type(o: &MmapOpts) -> Result<(bool, Option<MappedFile>), Errno> {
    let shared = match o.map_type {
        MapType::Private => false,
        MapType::Shared | MapType::SharedValidate if o.file.is_some() => true,
        // Without a file only MAP_SHARED and MAP_PRIVATE are types.
        MapType::Shared => true,
        MapType::SharedValidate | MapType::Invalid => return Err(EINVAL),
    };
    let Some(f) = &o.file else {
        return if shared && o.growsdown { Err(EINVAL) } else { Ok((shared, None)) };
    };
    // file_mmap_ok(): the mapping must end below the file's largest
    // offset (a regular file's is 2^63 - 1; /dev/zero's 2^64 - 1).
    let max = if matches!(f.what, Mappable::File { .. }) { i64::MAX as u64 } else { u64::MAX };
    if o.len > max || o.pgoff > (max - o.len) / PAGE_SIZE {
        return Err(EOVERFLOW);
    }
    if o.map_type == MapType::SharedValidate && o.unknown_flags {
        return Err(EOPNOTSUPP);
    }
    if shared && o.perms.write && !f.writable {
        return Err(EACCES);
    }
    if !f.readable {
        return Err(EACCES);
    }
    let file = match &f.what {
        Mappable::Unmappable => return Err(ENODEV),
        _ if o.growsdown => return Err(EINVAL),
        Mappable::Zero => None,
        Mappable::Shm { file, data } => Some(MappedFile {
            what: Mappable::Shm { file: file.clone(), data: data.clone() },
            readable: f.readable,
            writable: f.writable,
            write_sealed: f.write_sealed,
        }),
        Mappable::File { file, data } => Some(MappedFile {
            what: Mappable::File { file: file.clone(), data: data.clone() },
            readable: f.readable,
            writable: f.writable,
            write_sealed: f.write_sealed,
        }),
    };
    Ok((shared, file))
}

/// Where the mapping goes (get_unmapped_area): exactly where asked
/// (MAP_FIXED and MAP_FIXED_NOREPLACE), at the hint if it is free, or in
/// the highest gap below mmap_base that fits.
fn place(ctx: &Ctx, o: &MmapOpts) -> Result<u64, Errno> {
    let space = ctx.k.mm.space(ctx.mm());
    let len = o.len;
    if len > USER_TOP - MMAP_MIN_ADDR {
        return Err(ENOMEM);
    }
    match o.place {
        Place::Fixed(addr) | Place::NoReplace(addr) => {
            if addr > USER_TOP - len {
                return Err(ENOMEM);
            }
            if !addr.is_multiple_of(PAGE_SIZE) {
                return Err(EINVAL);
            }
            // security_mmap_addr(): below vm.mmap_min_addr.
            if addr < MMAP_MIN_ADDR {
                return Err(EPERM);
            }
            if matches!(o.place, Place::NoReplace(_)) && !space.vmas.is_free(addr, addr + len) {
                return Err(EEXIST);
            }
            Ok(addr)
        }
        Place::Hint(addr) => {
            // round_hint_to_min(): a hint below mmap_min_addr moves up.
            let hint = if addr != 0 { (addr & !(PAGE_SIZE - 1)).max(MMAP_MIN_ADDR) } else { 0 };
            if hint != 0 && hint.checked_add(len).is_some_and(|e| e <= USER_TOP) && space.vmas.is_free(hint, hint + len)
            {
                return Ok(hint);
            }
            space.vmas.gap_top_down(len, MMAP_MIN_ADDR, space.mmap_base, STACK_GUARD_GAP).ok_or(ENOMEM)
        }
    }
}

/// VM_NORESERVE: MAP_NORESERVE, which strict overcommit ignores.
fn noreserve(ctx: &Ctx, o: &MmapOpts) -> bool {
    use crate::kernel::abi::mman::OVERCOMMIT_NEVER;
    o.noreserve && ctx.k.cfg.overcommit != OVERCOMMIT_NEVER
}

/// Overcommit: private writable and shared anonymous memory is committed;
/// MAP_NORESERVE skips the charge except in strict mode.
fn charge(ctx: &Ctx, o: &MmapOpts, shared: bool) -> Result<(), Errno> {
    let charged = (o.perms.write && !shared) || (shared && o.file.is_none());
    if charged && !noreserve(ctx, o) {
        ctx.k.enough_memory(ctx.mm(), o.len / PAGE_SIZE)?;
    }
    Ok(())
}

/// The VMA `o` makes at `start`: what backs it (a file in the page cache,
/// a shmem file of its own for shared anonymous memory, or anonymous
/// memory) and the timeline region it is counted in.
fn vma_of(ctx: &mut Ctx, o: MmapOpts, shared: bool, start: u64, locked: bool, on_fault: bool) -> Vma {
    let noreserve = noreserve(ctx, &o);
    let (backing, kind, region) = match o.file.map(|f| f.what) {
        Some(Mappable::File { file, data }) => {
            let name = file.path.rsplit('/').next().unwrap_or(&file.path).to_string();
            ctx.k.phys.cache.entry(file.id).or_insert_with(|| CachedFile::new(data));
            let region = ctx.k.report.recorder_mut().region(&name, RegionKind::File);
            (Backing::File { file, pgoff: o.pgoff }, VmaKind::File, region)
        }
        // A SysV segment is shared anonymous memory of its own object.
        Some(Mappable::Shm { file, .. }) => (Backing::File { file, pgoff: o.pgoff }, VmaKind::Anon, mmap_region(ctx)),
        _ if shared => (shmem(ctx, o.len), VmaKind::Anon, mmap_region(ctx)),
        _ => (Backing::Anon, VmaKind::Anon, mmap_region(ctx)),
    };
    Vma {
        backing,
        shared,
        growsdown: o.growsdown,
        noreserve,
        // Shared anonymous memory is charged as shmem, not as the VMA.
        account: o.perms.write && !shared && !noreserve,
        locked,
        lock_on_fault: locked && on_fault,
        ..Vma::anon(start, start + o.len, o.perms, kind, region)
    }
}

fn mmap_region(ctx: &mut Ctx) -> RegionId {
    ctx.k.report.recorder_mut().region("mmap", RegionKind::Mmap)
}

/// MAP_SHARED|MAP_ANONYMOUS: a shmem file of its own, in the page cache.
fn shmem(ctx: &mut Ctx, len: u64) -> Backing {
    let id = ctx.k.files.vfs_mut().new_id();
    let data: Arc<dyn FileData> = Arc::new(Shmem::new(len));
    ctx.k.phys.cache.insert(id, CachedFile::new(data));
    let file = FileRef { id, path: "/dev/zero (deleted)".into(), dev: 1, ino: id.0 };
    Backing::File { file, pgoff: 0 }
}

/// do_munmap() of `[addr, addr + len)` (checked by the handler).
pub(crate) fn munmap(ctx: &mut Ctx, addr: u64, len: u64) -> Result<(), Errno> {
    // Splitting VMAs may exceed vm.max_map_count.
    let mm = ctx.mm();
    let s = ctx.k.mm.space(mm);
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
    Ok(())
}

/// Shared anonymous memory: a memory-only file, as Linux's shmem.
pub(crate) struct Shmem {
    /// Fixed at mmap: a shared anonymous mapping cannot be truncated.
    size: u64,
}

impl Shmem {
    pub(crate) fn new(size: u64) -> Self {
        Shmem { size }
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
        self.size
    }
    fn memory_only(&self) -> bool {
        true
    }
}
