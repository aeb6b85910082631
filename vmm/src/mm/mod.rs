//! The guest's address space as the VMM keeps it: named regions, the
//! frames behind them, and the page tables that map them.

mod frames;
mod region;
mod space;
mod vma;

pub use frames::FrameAllocator;
pub use region::{Region, RegionId, RegionKind, RegionTable};
pub use space::{AddressSpace, MapError, UserPage, STACK_GUARD_GAP};
pub use vma::{Vma, VmaKind, VmaSet};
