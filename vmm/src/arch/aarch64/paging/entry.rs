//! How arm64's descriptors are made of their bits: the [`Format`] the
//! arch-neutral tables are built with, and the access flag and dirty state
//! (DBM, AP[2], the software dirty bit) in Linux's terms.

use super::{
    ttbr1, ADDR_MASK, AF, AP_RDONLY, AP_USER, ATTR_DEVICE, ATTR_NORMAL, DBM, KERNEL_SLOT, NG, PXN, RING_SLOT, SH_INNER,
    SOFT_DIRTY, SOFT_GUARD, SOFT_NOACCESS, SW_DIRTY, TABLE, UPPER_HALF, USER_END, UXN, VALID,
};
use crate::arch::pgtable::{Format, PageTables, PagingError, RingPage};

/// What every valid page descriptor has: valid, a page (L3), normal
/// memory, inner shareable.
const PAGE: u64 = VALID | TABLE | ATTR_NORMAL | SH_INNER;

/// arm64's stage-1 format, 4 KiB granule, 48-bit VA.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Aarch64;

impl Format for Aarch64 {
    /// Arm's numbering: 0 for the root.
    const LEVELS: [u8; 4] = [0, 1, 2, 3];
    /// TTBR0's root page, then TTBR1's (see the module's header).
    const HALVES: &'static [u64] = &[0, UPPER_HALF];
    const USER_END: u64 = USER_END;
    const KERNEL_START: u64 = UPPER_HALF;
    const KERNEL_SLOT: u64 = KERNEL_SLOT;
    const RING_SLOT: u64 = RING_SLOT;

    const VALID: u64 = VALID;
    const ADDR_MASK: u64 = ADDR_MASK;
    /// No APTable, XNTable: table descriptors restrict nothing.
    const TABLE: u64 = VALID | TABLE;
    const ACCESSED: u64 = AF;
    const USER: u64 = AP_USER;
    const SOFT_NOACCESS: u64 = SOFT_NOACCESS;
    const SOFT_GUARD: u64 = SOFT_GUARD;
    const SOFT_DIRTY: u64 = SOFT_DIRTY;
    const HISTORY: u64 = AF | SW_DIRTY | SOFT_DIRTY;

    /// TTBR0's table for the lower half, TTBR1's for the upper; in
    /// neither, `va` is not canonical (addresses reach here with their tag
    /// stripped).
    fn half_root(root: u64, va: u64) -> Result<u64, PagingError> {
        match va >> 48 {
            0 => Ok(root),
            0xffff => Ok(ttbr1(root)),
            _ => Err(PagingError::NonCanonical(va)),
        }
    }

    /// Not a block (faultline makes none), and no attribute or reserved
    /// bits (it sets none).
    fn is_table(e: u64) -> bool {
        e & TABLE != 0 && e & !(ADDR_MASK | VALID | TABLE) == 0
    }

    /// A writable page starts clean (DBM, AP[2] set) and unaccessed (AF
    /// clear): the CPU records both.
    ///
    /// Any access makes the page readable at EL0, exec-only included, as
    /// x86 must and Linux does without FEAT_EPAN: the kernel's
    /// access_error() counts a read of a present exec-only page as
    /// allowed, so an EL0 execute-only page would fault forever.
    fn user_page(write: bool, exec: bool) -> u64 {
        let mut f = PAGE | NG | AP_USER | AP_RDONLY | PXN;
        if write {
            f |= DBM;
        }
        if !exec {
            f |= UXN;
        }
        f
    }

    /// AP[2] clear, or DBM (clean but writable: the write makes it dirty).
    fn writable(v: u64) -> bool {
        v & VALID != 0 && (v & DBM != 0 || v & AP_RDONLY == 0)
    }

    /// Marked in software, or a DBM page the CPU made writable.
    fn is_dirty(v: u64) -> bool {
        v & SW_DIRTY != 0 || v & (DBM | AP_RDONLY) == DBM
    }

    /// In hardware form if the page has DBM (so the entry is what the
    /// CPU's write would have left), else in software.
    fn with_dirty(v: u64) -> u64 {
        if v & DBM != 0 {
            v & !AP_RDONLY
        } else {
            v | SW_DIRTY
        }
    }

    /// No software dirty, and AP[2] back on a DBM page so the CPU records
    /// the next write.
    fn clean(v: u64) -> u64 {
        let v = v & !SW_DIRTY;
        if v & DBM != 0 {
            v | AP_RDONLY
        } else {
            v
        }
    }

    /// DBM cleared too, or the CPU would make it writable again.
    fn write_protect(v: u64) -> u64 {
        if v & VALID != 0 {
            (v & !DBM) | AP_RDONLY
        } else {
            v
        }
    }

    /// AP[2] of a DBM page is dirty state, not permission.
    fn same_translation(old: u64, new: u64) -> bool {
        let mut history = Self::HISTORY;
        if old & new & DBM != 0 {
            history |= AP_RDONLY;
        }
        (old ^ new) & !history == 0
    }

    /// Only in TTBR1's `KERNEL_SLOT`, the one slot shared with every
    /// address space. Global (same in every address space), never EL0's,
    /// never executable there; AF preset so the CPU never writes these
    /// entries, and no DBM (nothing to track).
    fn kernel_page(va: u64, writable: bool, exec: bool) -> Result<u64, PagingError> {
        if va < UPPER_HALF || PageTables::<Self>::indices(va)[0] != KERNEL_SLOT {
            return Err(PagingError::Corrupt { va, level: 0, entry: 0 });
        }
        let mut f = PAGE | AF | UXN;
        if !writable {
            f |= AP_RDONLY;
        }
        if !exec {
            f |= PXN;
        }
        Ok(f)
    }

    /// A doorbell: device memory, EL1 only, never executable.
    fn kernel_device_page(va: u64) -> Result<u64, PagingError> {
        Self::kernel_page(va, true, false)?;
        Ok(VALID | TABLE | ATTR_DEVICE | AF | PXN | UXN)
    }

    /// The stub runs where `user` says, and nothing runs elsewhere.
    fn ring_page(page: RingPage, user: bool) -> u64 {
        PAGE | AF
            | NG
            | match (page, user) {
                (RingPage::Code, true) => AP_USER | AP_RDONLY | PXN,
                (RingPage::Code, false) => AP_RDONLY | UXN,
                (RingPage::Data, true) => AP_USER | PXN | UXN,
                (RingPage::Data, false) => PXN | UXN,
            }
    }

    /// Sets AF (HA) and, for a write to a DBM page, clears AP[2] (HD).
    #[cfg(test)]
    fn cpu_access(v: u64, write: bool) -> u64 {
        let dirtied = if write && v & DBM != 0 { v & !AP_RDONLY } else { v };
        dirtied | AF
    }
}
