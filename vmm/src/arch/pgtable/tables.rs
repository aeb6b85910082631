//! One address space's tables: made, walked and edited through checked
//! entries.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::view::View;
use super::{Format, PagingError, Pte, TablePool, ENTRIES};
use crate::arch::PAGE_SIZE;
use crate::memory::HostMapping;

/// A leaf entry found by a walk: its value and where it lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Leaf<F: Format> {
    pub pte: Pte<F>,
    /// Offset of the entry in the system slot: stable for the life of the
    /// address space, so reclaim can read its accessed/dirty bits directly.
    pub slot_offset: u64,
}

/// One address space's tables.
pub struct PageTables<F: Format> {
    pub(in crate::arch) mem: Arc<HostMapping>,
    base_gpa: u64,
    /// The root's first page ([`Format::HALVES`] says how many it has).
    pub(super) root: u64,
    /// Every table page this address space owns (the root's included).
    pub(super) tables: HashSet<u64>,
    /// Frames whose present translation changed (or went) since the last
    /// [`PageTables::take_stale`]: the MMU may still cache them.
    stale: Vec<u64>,
    /// Tables that are faultline's, not the program's (a root's second
    /// page, the ring's views), so not in its VmPTE.
    pub(super) vmm_tables: u64,
    /// The ring's views, by vCPU. Every root entry the address space gains
    /// is copied into each.
    pub(super) views: Vec<(u32, View)>,
    format: std::marker::PhantomData<F>,
}

impl<F: Format> PageTables<F> {
    /// Pages in a root.
    pub(super) const ROOT_PAGES: u64 = F::HALVES.len() as u64;

    /// Empty user tables. `kernel` is the kernel half's root entry (see
    /// [`PageTables::kernel_entry`]), shared by every address space; `None`
    /// for the kernel's own tables.
    pub fn new(pool: &mut TablePool, kernel: Option<u64>) -> Result<Self, PagingError> {
        let root = pool.alloc(Self::ROOT_PAGES)?;
        let pt = PageTables {
            mem: pool.mem.clone(),
            base_gpa: pool.base_gpa,
            root,
            tables: Self::root_pages(root).collect(),
            stale: Vec::new(),
            vmm_tables: Self::ROOT_PAGES - 1,
            views: Vec::new(),
            format: std::marker::PhantomData,
        };
        if let Some(k) = kernel {
            pt.entry(Self::upper_root(root), F::KERNEL_SLOT, 0, F::LEVELS[0])?.store(k, Ordering::Relaxed);
        }
        Ok(pt)
    }

    /// The root entry of the kernel half these (kernel) tables map, to be
    /// shared by every address space.
    pub fn kernel_entry(&self) -> u64 {
        let e = self.entry(Self::upper_root(self.root), F::KERNEL_SLOT, 0, F::LEVELS[0]);
        e.map(|e| e.load(Ordering::Relaxed)).unwrap_or(0)
    }

    /// GPA of the root's first page, for CR3 (x86) or TTBR0_EL1 (arm64,
    /// whose TTBR1_EL1 is the next page).
    pub fn root_gpa(&self) -> u64 {
        self.root
    }

    /// Table pages this address space owns for the program (faultline's
    /// are left out).
    pub fn table_pages(&self) -> u64 {
        self.tables.len() as u64 - self.vmm_tables
    }

    /// Hands every table back to the pool (the address space is gone).
    pub fn retire(self, pool: &mut TablePool) {
        pool.retire(self.tables.into_iter());
    }

    /// Frames whose present mapping changed since the last call: before
    /// the guest runs again, each must be invalidated on the host, so that
    /// KVM drops every translation of it (see `PhysMem::invalidate`).
    pub fn take_stale(&mut self) -> Vec<u64> {
        std::mem::take(&mut self.stale)
    }

    /// The pages of the root at `root`.
    pub(super) fn root_pages(root: u64) -> impl Iterator<Item = u64> + Clone {
        (0..Self::ROOT_PAGES).map(move |p| root + p * PAGE_SIZE)
    }

    /// The root page with the kernel's and the ring's slots.
    pub(super) fn upper_root(root: u64) -> u64 {
        root + (Self::ROOT_PAGES - 1) * PAGE_SIZE
    }

    /// Entry `index` of table `table_gpa`, checked: the table must be ours.
    pub(super) fn entry(&self, table_gpa: u64, index: u64, va: u64, level: u8) -> Result<&AtomicU64, PagingError> {
        let corrupt = || PagingError::Corrupt { va, level, entry: table_gpa };
        if !self.tables.contains(&table_gpa) || index >= ENTRIES {
            return Err(corrupt());
        }
        let off = table_gpa.checked_sub(self.base_gpa).ok_or_else(corrupt)?;
        self.mem.atomic_u64(off + index * 8).ok_or_else(corrupt)
    }

    /// The index of `va` in the tables from the root's to the leaf's.
    pub(in crate::arch) fn indices(va: u64) -> [u64; 4] {
        [(va >> 39) & 511, (va >> 30) & 511, (va >> 21) & 511, (va >> 12) & 511]
    }

    /// The next table an intermediate entry points to; `None` if the entry
    /// is not valid, an error if it is malformed or the table not ours.
    fn next_table(&self, e: u64, va: u64, level: u8) -> Result<Option<u64>, PagingError> {
        if e & F::VALID == 0 {
            return Ok(None);
        }
        let next = e & F::ADDR_MASK;
        if !F::is_table(e) || !self.tables.contains(&next) {
            return Err(PagingError::Corrupt { va, level, entry: e });
        }
        Ok(Some(next))
    }

    /// The leaf entry for `va`, creating intermediate tables from `pool`.
    fn leaf_mut(&mut self, pool: &mut TablePool, va: u64) -> Result<(&AtomicU64, u64), PagingError> {
        let (_, off) = self.leaf_mut_from(pool, self.root, va)?;
        Ok((self.entry_at(off, va)?, off))
    }

    /// The entry at slot offset `off` (one `leaf_mut_from` gave).
    pub(super) fn entry_at(&self, off: u64, va: u64) -> Result<&AtomicU64, PagingError> {
        let table = self.base_gpa + (off & !(PAGE_SIZE - 1));
        self.entry(table, (off % PAGE_SIZE) / 8, va, F::LEVELS[3])
    }

    /// `leaf_mut` from root `root` (the address space's, or a view's): the
    /// new tables, and the leaf's slot offset. A new root entry of the
    /// address space's own root goes into every view too (the ring's slot
    /// aside, which is each view's own).
    pub(super) fn leaf_mut_from(
        &mut self,
        pool: &mut TablePool,
        root: u64,
        va: u64,
    ) -> Result<(Vec<u64>, u64), PagingError> {
        let idx = Self::indices(va);
        let mut table = F::half_root(root, va)?;
        let mut made = Vec::new();
        for (depth, &i) in idx[..3].iter().enumerate() {
            let level = F::LEVELS[depth];
            let e = self.entry(table, i, va, level)?.load(Ordering::Relaxed);
            table = match self.next_table(e, va, level)? {
                Some(t) => t,
                None => {
                    let t = pool.alloc(1)?;
                    self.tables.insert(t);
                    made.push(t);
                    let e = t | F::TABLE;
                    // Views first: the moment the root has the entry,
                    // another thread's vCPU may walk through it.
                    let ring = va >= F::KERNEL_START && i == F::RING_SLOT;
                    if depth == 0 && root == self.root && !ring {
                        for (_, v) in &self.views {
                            self.entry(F::half_root(v.root, va)?, i, va, level)?.store(e, Ordering::Release);
                        }
                    }
                    self.entry(table, i, va, level)?.store(e, Ordering::Release);
                    t
                }
            };
        }
        Ok((made, table - self.base_gpa + idx[3] * 8))
    }

    /// The leaf entry for `va`, if its tables exist.
    pub(in crate::arch) fn walk(&self, va: u64) -> Result<Option<(&AtomicU64, u64)>, PagingError> {
        let idx = Self::indices(va);
        let mut table = F::half_root(self.root, va)?;
        for (depth, &i) in idx[..3].iter().enumerate() {
            let level = F::LEVELS[depth];
            let e = self.entry(table, i, va, level)?.load(Ordering::Acquire);
            match self.next_table(e, va, level)? {
                Some(t) => table = t,
                None => return Ok(None),
            }
        }
        let off = table - self.base_gpa + idx[3] * 8;
        Ok(Some((self.entry(table, idx[3], va, F::LEVELS[3])?, off)))
    }

    /// The leaf for user address `va`. Kernel-half and non-canonical
    /// addresses, and corrupt tables, have none.
    pub fn leaf(&self, va: u64) -> Option<Leaf<F>> {
        if va >= F::USER_END {
            return None;
        }
        let (e, slot_offset) = self.walk(va).ok().flatten()?;
        Some(Leaf { pte: Pte::from_raw(e.load(Ordering::Acquire)), slot_offset })
    }

    /// The entry for `va` (none if its tables do not exist yet).
    pub fn pte(&self, va: u64) -> Pte<F> {
        self.leaf(va).map_or(Pte::NONE, |l| l.pte)
    }

    /// Calls `f(va, leaf)` for every entry in `[start, end)` (user space)
    /// that maps a frame, accessible or not, in address order. Tables that
    /// do not exist are skipped whole, so the cost follows what is
    /// populated, not the range's size.
    pub fn for_each_mapped(&self, start: u64, end: u64, mut f: impl FnMut(u64, Leaf<F>)) {
        let end = end.min(F::USER_END);
        if start < end {
            self.visit(self.root, 0, 0, (start, end), Pte::mapped, &mut f);
        }
    }

    /// The guard markers in `[start, end)`, in address order (tables that
    /// do not exist are skipped whole, as by `for_each_mapped`).
    pub fn guards(&self, start: u64, end: u64) -> Vec<u64> {
        let (end, mut out) = (end.min(F::USER_END), Vec::new());
        if start < end {
            self.visit(self.root, 0, 0, (start, end), Pte::is_guard, &mut |va, _| out.push(va));
        }
        out
    }

    /// Calls `f` for the leaves in `[start, end)` below `table` (`depth`
    /// below the root, mapping from `base`) that `keep` picks. The program's
    /// half is the root's first page.
    fn visit(
        &self,
        table: u64,
        depth: usize,
        base: u64,
        (start, end): (u64, u64),
        keep: fn(Pte<F>) -> bool,
        f: &mut dyn FnMut(u64, Leaf<F>),
    ) {
        let (shift, level) = (12 + 9 * (3 - depth as u64), F::LEVELS[depth]);
        let span = 1u64 << shift;
        let first = (start.max(base) - base) >> shift;
        let last = ((end - 1).min(base + (span << 9) - 1) - base) >> shift;
        for i in first..=last.min(ENTRIES - 1) {
            let va = base + (i << shift);
            let Ok(entry) = self.entry(table, i, va, level) else { return };
            let e = entry.load(Ordering::Acquire);
            if depth == 3 {
                let pte = Pte::from_raw(e);
                if keep(pte) {
                    f(va, Leaf { pte, slot_offset: table - self.base_gpa + i * 8 });
                }
            } else if let Ok(Some(next)) = self.next_table(e, va, level) {
                self.visit(next, depth + 1, va, (start, end), keep, f);
            }
        }
    }

    /// Stores a user leaf entry and returns the old one and the entry's
    /// slot offset. A present translation that changes makes its frame
    /// stale.
    pub fn set(&mut self, pool: &mut TablePool, va: u64, new: Pte<F>) -> Result<(Pte<F>, u64), PagingError> {
        let (entry, off) = self.leaf_mut(pool, va)?;
        let old = Pte::from_raw(entry.swap(new.bits(), Ordering::AcqRel));
        if old.present() && !F::same_translation(old.bits(), new.bits()) {
            self.stale.push(old.frame());
        }
        Ok((old, off))
    }

    /// Marks `va`'s entry soft-dirty, if it maps a frame: a write the CPU
    /// did not make (the kernel's copy_to_user).
    pub fn mark_soft_dirty(&self, va: u64) {
        if let Some((entry, _)) = self.walk(va).ok().flatten() {
            if Pte::<F>::from_raw(entry.load(Ordering::Acquire)).mapped() {
                entry.fetch_or(F::SOFT_DIRTY, Ordering::AcqRel);
            }
        }
    }

    /// What the MMU does to `va`'s entry on an access it allows (tests
    /// play the CPU).
    #[cfg(test)]
    pub fn note_access(&self, va: u64, write: bool) {
        if let Some((entry, _)) = self.walk(va).ok().flatten() {
            let _ = entry.fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| Some(F::cpu_access(v, write)));
        }
    }

    /// Clears the accessed bit of `va`'s entry (clear_refs 1 to 3).
    pub fn clear_accessed(&self, va: u64) {
        if let Some((entry, _)) = self.walk(va).ok().flatten() {
            entry.fetch_and(!F::ACCESSED, Ordering::AcqRel);
        }
    }

    /// Clears `va`'s entry if there is one; returns the old entry.
    pub fn clear(&mut self, va: u64) -> Pte<F> {
        let Some((entry, _)) = self.walk(va).ok().flatten() else { return Pte::NONE };
        let old = Pte::from_raw(entry.swap(0, Ordering::AcqRel));
        if old.present() {
            self.stale.push(old.frame());
        }
        old
    }

    /// Maps one supervisor page (the shim's structures) in the kernel half.
    pub fn map_kernel(
        &mut self,
        pool: &mut TablePool,
        va: u64,
        gpa: u64,
        writable: bool,
        exec: bool,
    ) -> Result<(), PagingError> {
        let f = F::kernel_page(va, writable, exec)?;
        self.leaf_mut(pool, va)?.0.store((gpa & F::ADDR_MASK) | f, Ordering::Relaxed);
        Ok(())
    }

    /// Maps `va` to the MMIO doorbell at `gpa`, as device memory, for the
    /// kernel half.
    #[cfg_attr(not(target_arch = "aarch64"), allow(dead_code))]
    pub fn map_kernel_device(&mut self, pool: &mut TablePool, va: u64, gpa: u64) -> Result<(), PagingError> {
        let f = F::kernel_device_page(va)?;
        self.leaf_mut(pool, va)?.0.store((gpa & F::ADDR_MASK) | f, Ordering::Relaxed);
        Ok(())
    }
}
