//! The syscall ring's views: a root pair of an address space per vCPU
//! whose thread uses the ring, mapping that vCPU's own ring pages.

use std::sync::atomic::Ordering;

use super::entry::PAGE;
use super::{
    ttbr1, PageTables, PagingError, TablePool, ADDR_MASK, AF, AP_RDONLY, AP_USER, ENTRIES, NG, PXN, RING_SLOT,
    UPPER_HALF, UXN,
};

/// A vCPU's own root pair of an address space, while its thread uses the
/// syscall ring. Its TTBR0 table is a copy of the address space's (every
/// L0 entry, and each one the address space gains later); its TTBR1 table
/// has the shared kernel slot and, in the ring's slot, that one vCPU's
/// stub, mailbox and doorbell. Threads of one process share every table
/// below L0 but never see each other's mailbox: a mailbox is writable by
/// the one thread whose calls it carries.
pub(super) struct View {
    /// The pair's first page (TTBR0's), as [`PageTables::root_gpa`].
    pub(super) root: u64,
    /// Every table of the view: both roots and the ring slot's own.
    pub(super) tables: Vec<u64>,
}

impl PageTables {
    /// Makes vCPU `cpu`'s view of this address space, mapping the
    /// syscall ring's `pages` (va, gpa, kind) in its ring slot, EL0's if
    /// `user` (else EL1's): the root pair the vCPU must run on while its
    /// thread uses the ring. A view the vCPU had here goes.
    pub fn make_view(
        &mut self,
        pool: &mut TablePool,
        cpu: u32,
        pages: &[(u64, u64, RingPage)],
        user: bool,
    ) -> Result<u64, PagingError> {
        self.drop_view(pool, cpu);
        let root = pool.alloc_pair()?;
        self.tables.extend([root, ttbr1(root)]);
        self.vmm_tables += 2;
        let mut view = View { root, tables: vec![root, ttbr1(root)] };
        let made = self.fill_view(pool, &mut view, pages, user);
        self.vmm_tables += (view.tables.len() - 2) as u64;
        if let Err(e) = made {
            self.retire_view(pool, view);
            return Err(e);
        }
        self.views.push((cpu, view));
        Ok(root)
    }

    fn fill_view(
        &mut self,
        pool: &mut TablePool,
        view: &mut View,
        pages: &[(u64, u64, RingPage)],
        user: bool,
    ) -> Result<(), PagingError> {
        for i in 0..ENTRIES {
            let e = self.entry(self.root, i, 0, 0)?.load(Ordering::Acquire);
            self.entry(view.root, i, 0, 0)?.store(e, Ordering::Relaxed);
            if i != RING_SLOT {
                let e = self.entry(ttbr1(self.root), i, UPPER_HALF, 0)?.load(Ordering::Acquire);
                self.entry(ttbr1(view.root), i, UPPER_HALF, 0)?.store(e, Ordering::Relaxed);
            }
        }
        for &(va, gpa, page) in pages {
            if va < UPPER_HALF || Self::indices(va)[0] != RING_SLOT {
                return Err(PagingError::Corrupt { va, level: 0, entry: 0 });
            }
            // The stub runs where `user` says, and nothing runs elsewhere.
            let f = PAGE
                | AF
                | NG
                | match (page, user) {
                    (RingPage::Code, true) => AP_USER | AP_RDONLY | PXN,
                    (RingPage::Code, false) => AP_RDONLY | UXN,
                    (RingPage::Data, true) => AP_USER | PXN | UXN,
                    (RingPage::Data, false) => PXN | UXN,
                };
            let (made, off) = self.leaf_mut_from(pool, view.root, va)?;
            view.tables.extend(made);
            self.entry_at(off, va)?.store((gpa & ADDR_MASK) | f, Ordering::Release);
        }
        Ok(())
    }

    /// The root pair of vCPU `cpu`'s view, if it has one here.
    pub fn view_root(&self, cpu: u32) -> Option<u64> {
        self.views.iter().find(|(c, _)| *c == cpu).map(|(_, v)| v.root)
    }

    /// Retires vCPU `cpu`'s view; true if it had one. No vCPU may run on
    /// it any more; the caller makes KVM forget its translations of the
    /// mailbox (a ring page is no user frame, so none goes stale here).
    pub fn drop_view(&mut self, pool: &mut TablePool, cpu: u32) -> bool {
        let Some(at) = self.views.iter().position(|(c, _)| *c == cpu) else { return false };
        let (_, view) = self.views.swap_remove(at);
        self.retire_view(pool, view);
        true
    }

    fn retire_view(&mut self, pool: &mut TablePool, view: View) {
        for t in &view.tables {
            self.tables.remove(t);
        }
        self.vmm_tables -= view.tables.len() as u64;
        pool.retire(view.tables.into_iter());
    }
}

/// What a ring page holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RingPage {
    /// The stub: read-only, executable.
    Code,
    /// The mailbox or the doorbell: writable, not executable.
    Data,
}
