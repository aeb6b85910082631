//! One address space's tables: made, walked and edited through checked
//! entries.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::view::View;
use super::{
    PagingError, Pte, TablePool, ACCESSED, ADDR_MASK, DIRTY, ENTRIES, HUGE, KERNEL_SLOT, NX, PRESENT, RING_SLOT,
    SOFT_DIRTY, USER, WRITABLE,
};
use crate::arch::PAGE_SIZE;
use crate::memory::HostMapping;

/// A leaf entry found by a walk: its value and where it lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Leaf {
    pub pte: Pte,
    /// Offset of the entry in the system slot: stable for the life of the
    /// address space, so reclaim can read its accessed/dirty bits directly.
    pub slot_offset: u64,
}

/// One address space's tables.
pub struct PageTables {
    pub(super) mem: Arc<HostMapping>,
    base_gpa: u64,
    pub(super) root: u64,
    /// Every table page this address space owns (PML4 included).
    pub(super) tables: HashSet<u64>,
    /// Frames whose present translation changed (or went) since the last
    /// [`PageTables::take_stale`]: the MMU may still cache them.
    stale: Vec<u64>,
    /// Tables made for the syscall ring's pages (the views): faultline's,
    /// not the program's, so not in its VmPTE.
    pub(super) ring_tables: u64,
    /// The ring's views, by vCPU. Every PML4 entry the address space gains
    /// is copied into each.
    pub(super) views: Vec<(u32, View)>,
}

impl PageTables {
    /// Empty user tables. `kernel` is the kernel half's PML4 entry (see
    /// [`PageTables::kernel_entry`]), shared by every address space; `None`
    /// for the kernel's own tables.
    pub fn new(pool: &mut TablePool, kernel: Option<u64>) -> Result<Self, PagingError> {
        let root = pool.alloc()?;
        let pt = PageTables {
            mem: pool.mem.clone(),
            base_gpa: pool.base_gpa,
            root,
            tables: HashSet::from([root]),
            stale: Vec::new(),
            ring_tables: 0,
            views: Vec::new(),
        };
        if let Some(k) = kernel {
            pt.entry(root, KERNEL_SLOT, 0, 4)?.store(k, Ordering::Relaxed);
        }
        Ok(pt)
    }

    /// The PML4 entry of the kernel half these (kernel) tables map, to be
    /// shared by every address space.
    pub fn kernel_entry(&self) -> u64 {
        self.entry(self.root, KERNEL_SLOT, 0, 4).map(|e| e.load(Ordering::Relaxed)).unwrap_or(0)
    }

    /// GPA of the PML4, for CR3.
    pub fn root_gpa(&self) -> u64 {
        self.root
    }

    /// Table pages this address space owns for the program (the ring's
    /// are left out).
    pub fn table_pages(&self) -> u64 {
        self.tables.len() as u64 - self.ring_tables
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

    /// Entry `index` of table `table_gpa`, checked: the table must be ours.
    pub(super) fn entry(&self, table_gpa: u64, index: u64, va: u64, level: u8) -> Result<&AtomicU64, PagingError> {
        let corrupt = || PagingError::Corrupt { va, level, entry: table_gpa };
        if !self.tables.contains(&table_gpa) || index >= ENTRIES {
            return Err(corrupt());
        }
        let off = table_gpa.checked_sub(self.base_gpa).ok_or_else(corrupt)?;
        self.mem.atomic_u64(off + index * 8).ok_or_else(corrupt)
    }

    pub(super) fn indices(va: u64) -> [u64; 4] {
        [(va >> 39) & 511, (va >> 30) & 511, (va >> 21) & 511, (va >> 12) & 511]
    }

    fn check_canonical(va: u64) -> Result<(), PagingError> {
        let top = (va as i64) >> 47;
        if top == 0 || top == -1 {
            Ok(())
        } else {
            Err(PagingError::NonCanonical(va))
        }
    }

    /// The next table an intermediate entry points to; `None` if the entry
    /// is not present, an error if it is malformed.
    fn next_table(&self, e: u64, va: u64, level: u8) -> Result<Option<u64>, PagingError> {
        if e & PRESENT == 0 {
            return Ok(None);
        }
        let next = e & ADDR_MASK;
        if e & HUGE != 0 || !self.tables.contains(&next) {
            return Err(PagingError::Corrupt { va, level, entry: e });
        }
        Ok(Some(next))
    }

    /// The leaf entry for `va`, creating intermediate tables from `pool`.
    /// Intermediate entries are permissive (user, writable, executable):
    /// the leaf decides, as Linux does.
    fn leaf_mut(&mut self, pool: &mut TablePool, va: u64) -> Result<(&AtomicU64, u64), PagingError> {
        let (_, off) = self.leaf_mut_from(pool, self.root, va)?;
        Ok((self.entry_at(off, va)?, off))
    }

    /// The entry at slot offset `off` (one `leaf_mut_from` gave).
    pub(super) fn entry_at(&self, off: u64, va: u64) -> Result<&AtomicU64, PagingError> {
        let table = self.base_gpa + (off & !(PAGE_SIZE - 1));
        self.entry(table, (off % PAGE_SIZE) / 8, va, 1)
    }

    /// `leaf_mut` from root `root` (the address space's, or a view's):
    /// the new tables, and the leaf's slot offset. A new PML4 entry of the
    /// address space's own root goes into every view too.
    pub(super) fn leaf_mut_from(
        &mut self,
        pool: &mut TablePool,
        root: u64,
        va: u64,
    ) -> Result<(Vec<u64>, u64), PagingError> {
        Self::check_canonical(va)?;
        let idx = Self::indices(va);
        let mut table = root;
        let mut made = Vec::new();
        for (depth, &i) in idx[..3].iter().enumerate() {
            let level = 4 - depth as u8;
            let e = self.entry(table, i, va, level)?.load(Ordering::Relaxed);
            table = match self.next_table(e, va, level)? {
                Some(t) => t,
                None => {
                    let t = pool.alloc()?;
                    self.tables.insert(t);
                    made.push(t);
                    let e = t | PRESENT | WRITABLE | USER;
                    // Views first: the moment the root has the entry,
                    // another thread's vCPU may walk through it.
                    if depth == 0 && table == self.root && i != RING_SLOT {
                        for (_, v) in &self.views {
                            self.entry(v.root, i, va, level)?.store(e, Ordering::Release);
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
    pub(super) fn walk(&self, va: u64) -> Result<Option<(&AtomicU64, u64)>, PagingError> {
        Self::check_canonical(va)?;
        let idx = Self::indices(va);
        let mut table = self.root;
        for (depth, &i) in idx[..3].iter().enumerate() {
            let level = 4 - depth as u8;
            let e = self.entry(table, i, va, level)?.load(Ordering::Acquire);
            match self.next_table(e, va, level)? {
                Some(t) => table = t,
                None => return Ok(None),
            }
        }
        let off = table - self.base_gpa + idx[3] * 8;
        Ok(Some((self.entry(table, idx[3], va, 1)?, off)))
    }

    /// The leaf for user address `va`. Kernel-half and non-canonical
    /// addresses, and corrupt tables, have none.
    pub fn leaf(&self, va: u64) -> Option<Leaf> {
        if va >= 1 << 47 {
            return None;
        }
        let (e, slot_offset) = self.walk(va).ok().flatten()?;
        Some(Leaf { pte: Pte(e.load(Ordering::Acquire)), slot_offset })
    }

    /// The entry for `va` (none if its tables do not exist yet).
    pub fn pte(&self, va: u64) -> Pte {
        self.leaf(va).map_or(Pte::NONE, |l| l.pte)
    }

    /// Calls `f(va, leaf)` for every entry in `[start, end)` (user space)
    /// that maps a frame, accessible or not, in address order. Tables that
    /// do not exist are skipped whole, so the cost follows what is
    /// populated, not the range's size.
    pub fn for_each_mapped(&self, start: u64, end: u64, mut f: impl FnMut(u64, Leaf)) {
        let end = end.min(1 << 47);
        if start < end {
            self.visit(self.root, 4, 0, (start, end), Pte::mapped, &mut f);
        }
    }

    /// The guard markers in `[start, end)`, in address order (tables that
    /// do not exist are skipped whole, as by `for_each_mapped`).
    pub fn guards(&self, start: u64, end: u64) -> Vec<u64> {
        let (end, mut out) = (end.min(1 << 47), Vec::new());
        if start < end {
            self.visit(self.root, 4, 0, (start, end), Pte::is_guard, &mut |va, _| out.push(va));
        }
        out
    }

    /// Calls `f` for the leaves in `[start, end)` below `table` (at
    /// `level`, mapping from `base`) that `keep` picks.
    fn visit(
        &self,
        table: u64,
        level: u8,
        base: u64,
        (start, end): (u64, u64),
        keep: fn(Pte) -> bool,
        f: &mut dyn FnMut(u64, Leaf),
    ) {
        let shift = 12 + 9 * (level as u64 - 1);
        let span = 1u64 << shift;
        let first = (start.max(base) - base) >> shift;
        let last = ((end - 1).min(base + (span << 9) - 1) - base) >> shift;
        for i in first..=last.min(ENTRIES - 1) {
            let va = base + (i << shift);
            let Ok(entry) = self.entry(table, i, va, level) else { return };
            let e = entry.load(Ordering::Acquire);
            if level == 1 {
                let pte = Pte(e);
                if keep(pte) {
                    f(va, Leaf { pte, slot_offset: table - self.base_gpa + i * 8 });
                }
            } else if let Ok(Some(next)) = self.next_table(e, va, level) {
                self.visit(next, level - 1, va, (start, end), keep, f);
            }
        }
    }

    /// Stores a user leaf entry and returns the old one and the entry's
    /// slot offset. A present translation that changes makes its frame
    /// stale.
    pub fn set(&mut self, pool: &mut TablePool, va: u64, new: Pte) -> Result<(Pte, u64), PagingError> {
        let (entry, off) = self.leaf_mut(pool, va)?;
        let old = Pte(entry.swap(new.0, Ordering::AcqRel));
        if old.present() && (old.0 ^ new.0) & !(ACCESSED | DIRTY | SOFT_DIRTY) != 0 {
            self.stale.push(old.frame());
        }
        Ok((old, off))
    }

    /// Marks `va`'s entry soft-dirty, if it maps a frame: a write the CPU
    /// did not make (the kernel's copy_to_user).
    pub fn mark_soft_dirty(&self, va: u64) {
        if let Some((entry, _)) = self.walk(va).ok().flatten() {
            if Pte(entry.load(Ordering::Acquire)).mapped() {
                entry.fetch_or(SOFT_DIRTY, Ordering::AcqRel);
            }
        }
    }

    /// What the MMU does to `va`'s entry on an access it allows: sets the
    /// accessed bit, and the dirty bit for a write (tests play the CPU).
    #[cfg(test)]
    pub fn note_access(&self, va: u64, write: bool) {
        if let Some((entry, _)) = self.walk(va).ok().flatten() {
            entry.fetch_or(if write { ACCESSED | DIRTY } else { ACCESSED }, Ordering::AcqRel);
        }
    }

    /// Clears the accessed bit of `va`'s entry (clear_refs 1 to 3).
    pub fn clear_accessed(&self, va: u64) {
        if let Some((entry, _)) = self.walk(va).ok().flatten() {
            entry.fetch_and(!ACCESSED, Ordering::AcqRel);
        }
    }

    /// Clears `va`'s entry if there is one; returns the old entry.
    pub fn clear(&mut self, va: u64) -> Pte {
        let Some((entry, _)) = self.walk(va).ok().flatten() else { return Pte::NONE };
        let old = Pte(entry.swap(0, Ordering::AcqRel));
        if old.present() {
            self.stale.push(old.frame());
        }
        old
    }

    /// Maps one supervisor page (the shim's structures). Accessed and dirty
    /// are preset so the CPU never needs to write these entries.
    pub fn map_kernel(
        &mut self,
        pool: &mut TablePool,
        va: u64,
        gpa: u64,
        writable: bool,
        exec: bool,
    ) -> Result<(), PagingError> {
        let mut f = PRESENT | ACCESSED | DIRTY;
        if writable {
            f |= WRITABLE;
        }
        if !exec {
            f |= NX;
        }
        self.leaf_mut(pool, va)?.0.store((gpa & ADDR_MASK) | f, Ordering::Relaxed);
        Ok(())
    }
}
