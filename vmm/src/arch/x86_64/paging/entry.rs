//! How x86-64's entries are made of their bits: the [`Format`] the
//! arch-neutral tables are built with.

use super::{
    ACCESSED, ADDR_MASK, DIRTY, HUGE, KERNEL_SLOT, NX, PRESENT, RING_SLOT, SOFT_DIRTY, SOFT_GUARD, SOFT_NOACCESS, USER,
    USER_END, WRITABLE,
};
use crate::arch::pgtable::{Format, PagingError, RingPage};

/// x86-64's 4-level format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct X86_64;

impl Format for X86_64 {
    /// Intel's numbering: 4 for the PML4 to 1 for a page table.
    const LEVELS: [u8; 4] = [4, 3, 2, 1];
    /// The PML4 translates both halves.
    const HALVES: &'static [u64] = &[0];
    const USER_END: u64 = USER_END;
    const KERNEL_START: u64 = USER_END;
    const KERNEL_SLOT: u64 = KERNEL_SLOT;
    const RING_SLOT: u64 = RING_SLOT;

    const VALID: u64 = PRESENT;
    const ADDR_MASK: u64 = ADDR_MASK;
    /// Permissive (user, writable, executable): the leaf decides. Accessed
    /// and dirty from the start, as Linux's _PAGE_TABLE: otherwise the
    /// first walk through each table sets the bit, and under shadow paging
    /// KVM does that for the guest and walks again.
    const TABLE: u64 = PRESENT | WRITABLE | USER | ACCESSED | DIRTY;
    const ACCESSED: u64 = ACCESSED;
    const USER: u64 = USER;
    const SOFT_NOACCESS: u64 = SOFT_NOACCESS;
    const SOFT_GUARD: u64 = SOFT_GUARD;
    const SOFT_DIRTY: u64 = SOFT_DIRTY;
    const HISTORY: u64 = ACCESSED | DIRTY | SOFT_DIRTY;

    fn half_root(root: u64, va: u64) -> Result<u64, PagingError> {
        let top = (va as i64) >> 47;
        if top == 0 || top == -1 {
            Ok(root)
        } else {
            Err(PagingError::NonCanonical(va))
        }
    }

    fn is_table(e: u64) -> bool {
        e & HUGE == 0
    }

    fn user_page(write: bool, exec: bool) -> u64 {
        let mut f = PRESENT | USER;
        if write {
            f |= WRITABLE;
        }
        if !exec {
            f |= NX;
        }
        f
    }

    fn writable(v: u64) -> bool {
        v & (PRESENT | WRITABLE) == PRESENT | WRITABLE
    }

    fn is_dirty(v: u64) -> bool {
        v & DIRTY != 0
    }

    fn with_dirty(v: u64) -> u64 {
        v | DIRTY
    }

    fn clean(v: u64) -> u64 {
        v & !DIRTY
    }

    fn write_protect(v: u64) -> u64 {
        v & !WRITABLE
    }

    /// Anywhere canonical. Accessed and dirty are preset so the CPU never
    /// needs to write these entries.
    fn kernel_page(_va: u64, writable: bool, exec: bool) -> Result<u64, PagingError> {
        let mut f = PRESENT | ACCESSED | DIRTY;
        if writable {
            f |= WRITABLE;
        }
        if !exec {
            f |= NX;
        }
        Ok(f)
    }

    /// Supervisor pages unless the stub runs in ring 3 (PVM).
    fn ring_page(page: RingPage, user: bool) -> u64 {
        let mut f = PRESENT | ACCESSED | DIRTY;
        match page {
            RingPage::Code => {}
            RingPage::Data => f |= WRITABLE | NX,
        }
        if user {
            f |= USER;
        }
        f
    }

    /// Sets accessed, and dirty for a write.
    #[cfg(test)]
    fn cpu_access(v: u64, write: bool) -> u64 {
        v | if write { ACCESSED | DIRTY } else { ACCESSED }
    }
}
