//! The syscall ring's views: a root of an address space per vCPU whose
//! thread uses the ring, mapping that vCPU's own ring pages.

use std::sync::atomic::Ordering;

use super::{Format, PageTables, PagingError, TablePool, ENTRIES};

/// A vCPU's own root of an address space, while its thread uses the
/// syscall ring: its entries are the address space's own (the user half
/// and the shared kernel slot, including entries the address space gains
/// later) but for the ring's slot, which maps that one vCPU's stub,
/// mailbox and doorbell. Threads of one process share every table below
/// the root but never see each other's mailbox: a mailbox is writable by
/// the one thread whose calls it carries.
pub(in crate::arch) struct View {
    /// The root's first page, as [`PageTables::root_gpa`].
    pub(super) root: u64,
    /// Every table of the view: the root's pages and the ring slot's own.
    pub(super) tables: Vec<u64>,
}

impl<F: Format> PageTables<F> {
    /// Makes vCPU `cpu`'s view of this address space, mapping the
    /// syscall ring's `pages` (va, gpa, kind) in its ring slot, `user` when
    /// the stub runs in user mode (PVM's ring 3, EL0): the root the vCPU
    /// must run on while its thread uses the ring. A view the vCPU had here
    /// goes.
    pub fn make_view(
        &mut self,
        pool: &mut TablePool,
        cpu: u32,
        pages: &[(u64, u64, RingPage)],
        user: bool,
    ) -> Result<u64, PagingError> {
        self.drop_view(pool, cpu);
        let root = pool.alloc(Self::ROOT_PAGES)?;
        self.tables.extend(Self::root_pages(root));
        self.vmm_tables += Self::ROOT_PAGES;
        let mut view = View { root, tables: Self::root_pages(root).collect() };
        let made = self.fill_view(pool, &mut view, pages, user);
        self.vmm_tables += view.tables.len() as u64 - Self::ROOT_PAGES;
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
        let ring_root = Self::upper_root(self.root);
        for (from, (to, &half)) in Self::root_pages(self.root).zip(Self::root_pages(view.root).zip(F::HALVES)) {
            for i in (0..ENTRIES).filter(|&i| from != ring_root || i != F::RING_SLOT) {
                let e = self.entry(from, i, half, F::LEVELS[0])?.load(Ordering::Acquire);
                self.entry(to, i, half, F::LEVELS[0])?.store(e, Ordering::Relaxed);
            }
        }
        for &(va, gpa, page) in pages {
            if va < F::KERNEL_START || Self::indices(va)[0] != F::RING_SLOT {
                return Err(PagingError::Corrupt { va, level: F::LEVELS[0], entry: 0 });
            }
            let (made, off) = self.leaf_mut_from(pool, view.root, va)?;
            view.tables.extend(made);
            self.entry_at(off, va)?.store((gpa & F::ADDR_MASK) | F::ring_page(page, user), Ordering::Release);
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
