//! Memory management, in one place: the rules of the memory syscalls
//! (mmap, munmap, mprotect, mremap, madvise, mincore, msync, brk, mlock),
//! overcommit, populating, page faults and copy-on-write, the page cache,
//! reading and writing the program's memory, the OOM killer, kernel
//! memory, and the /proc files that show memory. The syscall handlers in
//! `syscalls::mm` decode their arguments and call these.
//!
//! Below it, `crate::mm` keeps the machine's memory (frames, address
//! spaces and their VMAs, the buddy allocator, swap) and `crate::fault`
//! puts a frame's data in place; this module decides what should happen.

pub mod accounting;
pub mod anon_name;
pub mod brk;
pub mod fault;
pub mod kmem;
pub mod madvise;
pub mod mincore;
pub mod mlock;
pub mod mmap;
pub mod mprotect;
pub mod mremap;
pub mod oom;
pub mod overcommit;
pub mod pagecache;
pub mod populate;
pub mod procfs;
pub mod uaccess;
pub mod uffd;
pub mod writeback;
pub mod zoneinfo;

use super::task::Ctx;
use crate::mm::{AddressSpace, Phys};

/// Runs `f` on the caller's address space, then drops the host pages of
/// frames it freed.
pub fn with_space<R>(ctx: &mut Ctx, f: impl FnOnce(&mut AddressSpace, &mut Phys) -> R) -> R {
    let mm = ctx.mm();
    let k = &mut *ctx.k;
    let space = &mut k.mms.get_mut(&mm).expect("live mm").space;
    let r = f(space, &mut k.phys);
    k.phys.flush_stale();
    r
}

#[cfg(test)]
mod tests;
