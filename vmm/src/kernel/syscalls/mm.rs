//! The memory syscalls' decoders: brk, mmap, munmap, mremap, mprotect,
//! madvise, mincore, msync and PR_SET_VMA_ANON_NAME. Each checks its
//! arguments in Linux's order and with Linux's errno values (mm/mmap.c,
//! mm/mremap.c, mm/mprotect.c, mm/madvise.c, mm/util.c), then calls the
//! rule in `kernel::mm`.

use std::sync::Arc;

use super::super::abi::fcntl::O_PATH;
use super::super::abi::mman::*;
use super::super::errno::*;
use super::super::files::FileKind;
use super::super::mm::madvise::Advice;
use super::super::mm::mmap::{MapType, Mappable, MappedFile, MmapOpts, Place};
use super::super::mm::mremap::MremapOpts;
use super::super::mm::{anon_name, brk as heap, madvise as advise, mincore as core, mmap as map, mprotect as protect};
use super::super::mm::{mremap as remap, writeback};
use super::super::task::Ctx;
use crate::arch::layout::USER_TOP;
use crate::arch::{page_ceil, Perms, PAGE_SIZE};
use crate::mm::FileRef;

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

/// PROT_* bits as the VMA's permissions, as /proc/PID/maps shows them
/// (`-w-p` for PROT_WRITE alone). The page tables still let any access
/// read, as x86's do.
fn perms(prot: u64) -> Perms {
    Perms::new(prot & PROT_READ != 0, prot & PROT_WRITE != 0, prot & PROT_EXEC != 0)
}

pub(crate) fn brk(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    Ok(heap::brk(ctx, a[0]) as i64)
}

pub(crate) fn mmap(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let (addr, len, prot, flags, fd, off) = (a[0], a[1], a[2], a[3], a[4], a[5]);
    // sys_mmap, ksys_mmap_pgoff and the start of do_mmap, in their order:
    // the offset, the descriptor, huge pages, the length, the count of
    // mappings; `map::mmap` goes on from there.
    if !off.is_multiple_of(PAGE_SIZE) {
        return Err(EINVAL);
    }
    let file = if flags & MAP_ANONYMOUS == 0 { Some(mapped_file(ctx, fd)?) } else { None };
    if flags & MAP_HUGETLB != 0 {
        // No hugetlbfs, and no huge pages reserved for anonymous memory.
        return Err(if file.is_some() { EINVAL } else { ENOMEM });
    }
    if len == 0 {
        return Err(EINVAL);
    }
    // (do_mmap's pgoff + len overflow cannot happen with 64-bit offsets.)
    let len = page_ceil(len).filter(|&l| l != 0).ok_or(ENOMEM)?;
    map::check_map_count(ctx)?;
    let place = if flags & MAP_FIXED_NOREPLACE != 0 {
        Place::NoReplace(addr)
    } else if flags & MAP_FIXED != 0 {
        Place::Fixed(addr)
    } else {
        Place::Hint(addr)
    };
    let map_type = match flags & MAP_TYPE {
        MAP_PRIVATE => MapType::Private,
        MAP_SHARED => MapType::Shared,
        MAP_SHARED_VALIDATE => MapType::SharedValidate,
        _ => MapType::Invalid,
    };
    let o = MmapOpts {
        place,
        len,
        perms: perms(prot),
        map_type,
        unknown_flags: flags & !KNOWN_MAP_FLAGS != 0,
        file,
        pgoff: off / PAGE_SIZE,
        locked: flags & MAP_LOCKED != 0,
        populate: flags & MAP_POPULATE != 0 && flags & MAP_NONBLOCK == 0,
        noreserve: flags & MAP_NORESERVE != 0,
        growsdown: flags & MAP_GROWSDOWN != 0,
    };
    Ok(map::mmap(ctx, o)? as i64)
}

/// The file descriptor `fd` gives mmap (fget(): EBADF for none, and for
/// an O_PATH descriptor).
fn mapped_file(ctx: &mut Ctx, fd: u64) -> Result<MappedFile, Errno> {
    let f = ctx.proc().files.file(fd as i32)?;
    if f.flags() & O_PATH != 0 {
        return Err(EBADF);
    }
    let what = match &f.kind {
        FileKind::Zero => Mappable::Zero,
        FileKind::File(n) if !n.meta.is_dir() => {
            let path: Arc<str> = n.path.as_str().into();
            let file = FileRef { id: n.id, path, dev: n.meta.dev, ino: n.meta.ino };
            Mappable::File { file, data: n.data.clone() }
        }
        _ => Mappable::Unmappable,
    };
    let write_sealed = super::memfd::seals_forbid_shared_write(&f);
    Ok(MappedFile { what, readable: f.readable(), writable: f.writable(), write_sealed })
}

pub(crate) fn munmap(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let (addr, len) = (a[0], a[1]);
    if !addr.is_multiple_of(PAGE_SIZE) || len == 0 {
        return Err(EINVAL);
    }
    let len = page_ceil(len).ok_or(EINVAL)?;
    if addr.checked_add(len).is_none_or(|e| e > USER_TOP) {
        return Err(EINVAL);
    }
    map::munmap(ctx, addr, len)?;
    Ok(0)
}

pub(crate) fn mprotect(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    do_mprotect_pkey(ctx, a[0], a[1], a[2], -1)
}

/// pkey_mprotect: mprotect with a protection key. The guest's CPU offers
/// no protection keys (CPUID has no PKU), so none can be allocated and
/// only -1, "no key", passes the check do_mprotect_pkey makes.
pub(crate) fn pkey_mprotect(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    do_mprotect_pkey(ctx, a[0], a[1], a[2], a[3] as i32)
}

/// pkey_alloc: Linux finds a free key, then arch_set_user_pkey_access
/// refuses it with EINVAL on a CPU without PKU (as this host does natively).
pub(crate) fn pkey_alloc(_ctx: &mut Ctx, _a: [u64; 6]) -> SysResult {
    Err(EINVAL)
}

/// pkey_free: no key is ever allocated.
pub(crate) fn pkey_free(_ctx: &mut Ctx, _a: [u64; 6]) -> SysResult {
    Err(EINVAL)
}

fn do_mprotect_pkey(ctx: &mut Ctx, addr: u64, len: u64, prot: u64, pkey: i32) -> SysResult {
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
    let end = addr.checked_add(len).filter(|&e| e <= USER_TOP).ok_or(ENOMEM)?;
    // x86 has no stack that grows up.
    if grows == PROT_GROWSUP || pkey != -1 {
        return Err(EINVAL);
    }
    protect::mprotect(ctx, addr, end, perms(prot), grows == PROT_GROWSDOWN)?;
    Ok(0)
}

pub(crate) fn mremap(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let (old, old_len, new_len, flags, new_addr) = (a[0], a[1], a[2], a[3], a[4]);
    if flags & !(MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP) != 0 || !old.is_multiple_of(PAGE_SIZE) {
        return Err(EINVAL);
    }
    let may_move = flags & MREMAP_MAYMOVE != 0;
    if flags & MREMAP_FIXED != 0 && !may_move {
        return Err(EINVAL);
    }
    let dontunmap = flags & MREMAP_DONTUNMAP != 0;
    if dontunmap && (!may_move || old_len != new_len) {
        return Err(EINVAL);
    }
    let old_len = page_ceil(old_len).ok_or(EINVAL)?;
    let new_len = page_ceil(new_len).ok_or(EINVAL)?;
    // old_len 0 duplicates a shared mapping, which only shmem may do.
    if new_len == 0 || old_len == 0 {
        return Err(EINVAL);
    }
    old.checked_add(old_len).filter(|&e| e <= USER_TOP).ok_or(EINVAL)?;
    let fixed = (flags & MREMAP_FIXED != 0).then_some(new_addr);
    let o = MremapOpts { old, old_len, new_len, may_move, fixed, dontunmap };
    Ok(remap::mremap(ctx, o)? as i64)
}

pub(crate) fn madvise(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let (addr, len) = (a[0], a[1]);
    let Some(advice) = advice(a[2]) else { return Err(EINVAL) };
    if !addr.is_multiple_of(PAGE_SIZE) {
        return Err(EINVAL);
    }
    let len = page_ceil(len).ok_or(EINVAL)?;
    let end = addr.checked_add(len).ok_or(EINVAL)?;
    if len == 0 {
        return Ok(0);
    }
    advise::madvise(ctx, addr, end, advice)?;
    Ok(0)
}

/// MADV_* as [`Advice`]; `None` for advice Linux does not know.
fn advice(raw: u64) -> Option<Advice> {
    Some(match raw {
        MADV_DONTNEED => Advice::DontNeed,
        MADV_DONTNEED_LOCKED => Advice::DontNeedLocked,
        MADV_FREE => Advice::Free,
        MADV_REMOVE => Advice::Remove,
        MADV_WILLNEED => Advice::WillNeed,
        MADV_POPULATE_READ => Advice::PopulateRead,
        MADV_POPULATE_WRITE => Advice::PopulateWrite,
        MADV_DONTFORK => Advice::DontFork,
        MADV_DOFORK => Advice::DoFork,
        MADV_WIPEONFORK => Advice::WipeOnFork,
        MADV_KEEPONFORK => Advice::KeepOnFork,
        MADV_PAGEOUT => Advice::PageOut,
        MADV_GUARD_INSTALL => Advice::GuardInstall,
        MADV_GUARD_REMOVE => Advice::GuardRemove,
        MADV_DONTDUMP => Advice::DontDump,
        MADV_DODUMP => Advice::DoDump,
        // Transparent huge pages are `never` and ksmd does not run
        // (/sys/kernel/mm): MADV_HUGEPAGE and MADV_MERGEABLE change nothing.
        MADV_NORMAL | MADV_RANDOM | MADV_SEQUENTIAL | MADV_HUGEPAGE | MADV_NOHUGEPAGE | MADV_COLD | MADV_MERGEABLE
        | MADV_UNMERGEABLE => Advice::Hint,
        _ => return None,
    })
}

pub(crate) fn mincore(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let (addr, len, vec) = (a[0], a[1], a[2]);
    if !addr.is_multiple_of(PAGE_SIZE) {
        return Err(EINVAL);
    }
    let len = page_ceil(len).ok_or(ENOMEM)?;
    let end = addr.checked_add(len).filter(|&e| e <= USER_TOP).ok_or(ENOMEM)?;
    let out = core::mincore(ctx, addr, end)?;
    ctx.write_user(vec, &out)?;
    Ok(0)
}

pub(crate) fn msync(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let (addr, len, flags) = (a[0], a[1], a[2]);
    if flags & !(MS_ASYNC | MS_INVALIDATE | MS_SYNC) != 0 || !addr.is_multiple_of(PAGE_SIZE) {
        return Err(EINVAL);
    }
    if flags & MS_ASYNC != 0 && flags & MS_SYNC != 0 {
        return Err(EINVAL);
    }
    let len = page_ceil(len).ok_or(ENOMEM)?;
    let end = addr.checked_add(len).ok_or(ENOMEM)?;
    writeback::msync(ctx, addr, end, flags & MS_SYNC != 0, flags & MS_INVALIDATE != 0)?;
    Ok(0)
}

/// prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, addr, len, name).
pub(crate) fn set_anon_name(ctx: &mut Ctx, addr: u64, len: u64, name: u64) -> SysResult {
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
    anon_name::set_anon_name(ctx, addr, end, name)?;
    Ok(0)
}
