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

pub mod fault;
pub mod kmem;
pub mod mlock;
pub mod oom;
pub mod pagecache;
pub mod procfs;
pub mod uaccess;
pub mod uffd;
pub mod zoneinfo;
