//! The syscall ring's views: a root of an address space per vCPU whose
//! thread uses the ring, mapping that vCPU's own ring pages.

use std::sync::atomic::Ordering;

use super::{
    PageTables, PagingError, TablePool, ACCESSED, ADDR_MASK, DIRTY, ENTRIES, NX, PRESENT, RING_SLOT, USER, WRITABLE,
};

/// A vCPU's own root of an address space, while its thread uses the
/// syscall ring: a PML4 whose entries are the address space's own (the
/// user half and the shared kernel slot) but for the ring's slot, which
/// maps that one vCPU's stub, mailbox and doorbell. Threads of one process
/// share every table below the PML4 but never see each other's mailbox:
/// a mailbox is writable by the one thread whose calls it carries.
pub(super) struct View {
    pub(super) root: u64,
    /// Every table of the view: the root and the ring slot's own.
    pub(super) tables: Vec<u64>,
}

impl PageTables {
    /// Makes vCPU `cpu`'s view of this address space, mapping the
    /// syscall ring's `pages` (va, gpa, kind) in its ring slot, `user` when
    /// the stub runs in ring 3 (PVM): the root the vCPU must run on while
    /// its thread uses the ring. A view the vCPU had here goes.
    pub fn make_view(
        &mut self,
        pool: &mut TablePool,
        cpu: u32,
        pages: &[(u64, u64, RingPage)],
        user: bool,
    ) -> Result<u64, PagingError> {
        self.drop_view(pool, cpu);
        let root = pool.alloc()?;
        self.tables.insert(root);
        self.ring_tables += 1;
        let mut view = View { root, tables: vec![root] };
        let made = self.fill_view(pool, &mut view, pages, user);
        self.ring_tables += (view.tables.len() - 1) as u64;
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
        for i in (0..ENTRIES).filter(|&i| i != RING_SLOT) {
            let e = self.entry(self.root, i, 0, 4)?.load(Ordering::Acquire);
            self.entry(view.root, i, 0, 4)?.store(e, Ordering::Relaxed);
        }
        for &(va, gpa, page) in pages {
            if (va >> 39) & 511 != RING_SLOT || va < 1 << 47 {
                return Err(PagingError::Corrupt { va, level: 4, entry: 0 });
            }
            let mut f = PRESENT | ACCESSED | DIRTY;
            match page {
                RingPage::Code => {}
                RingPage::Data => f |= WRITABLE | NX,
            }
            if user {
                f |= USER;
            }
            let (made, off) = self.leaf_mut_from(pool, view.root, va)?;
            view.tables.extend(made);
            self.entry_at(off, va)?.store((gpa & ADDR_MASK) | f, Ordering::Release);
        }
        Ok(())
    }

    /// The root of vCPU `cpu`'s view, if it has one here.
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
        self.ring_tables -= view.tables.len() as u64;
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
