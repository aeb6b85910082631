//! Address spaces and the memory behind them.
//!
//! - [`buddy`]: the page allocator: zones, free lists, watermarks.
//! - [`kmem`]: kernel memory: what the kernel's objects hold of RAM.
//! - [`phys`]: guest-physical frames, their reverse map, residency and the
//!   page cache; where memory is counted.
//! - [`vma`]: VMAs, as a process's mm_struct keeps them.
//! - [`space`]: one process's address space: VMAs plus page tables, and
//!   map, unmap, protect, move and fork.
//! - [`swap`]: the swap store.

pub mod buddy;
pub mod kmem;
pub mod phys;
pub mod space;
pub mod swap;
pub mod vma;

pub use buddy::Wmark;
pub use kmem::{Kmem, KmemCharge, KmemClass};
pub use phys::{
    Budget, CachedFile, Content, FileData, FileId, Frame, FrameKind, Mapping, MmId, PageCache, Phys, Residency,
};
pub use space::{AddressSpace, ElfSection, MapError, SectionRange, FILL_PAGES, STACK_GUARD_GAP};
pub use vma::{Backing, FileRef, Vma, VmaKind};
