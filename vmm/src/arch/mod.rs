//! Everything that depends on the guest's instruction set: page-table
//! format, descriptor tables, the shim's layout, CPU state and how traps are
//! decoded. An arm64 port adds a sibling module and a `cfg` here.

pub mod x86_64;

pub use self::x86_64::*;

/// Size of a guest page, in bytes.
pub const PAGE_SIZE: u64 = 4096;

/// Rounds `v` down to a page boundary.
pub const fn page_floor(v: u64) -> u64 {
    v & !(PAGE_SIZE - 1)
}

/// Rounds `v` up to a page boundary, or `None` if that overflows.
pub const fn page_ceil(v: u64) -> Option<u64> {
    match v.checked_add(PAGE_SIZE - 1) {
        Some(x) => Some(page_floor(x)),
        None => None,
    }
}
