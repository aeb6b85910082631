//! One address space's tables: made, walked and edited through checked
//! entries.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::entry::PAGE;
use super::view::View;
use super::{
    ttbr1, PagingError, Pte, TablePool, ADDR_MASK, AF, AP_RDONLY, DBM, ENTRIES, KERNEL_SLOT, PXN, RING_SLOT,
    SOFT_DIRTY, TABLE, UPPER_HALF, USER_END, UXN, VALID,
};
use crate::arch::PAGE_SIZE;
use crate::memory::HostMapping;

/// The leaf table's level (Arm numbers the root L0).
const LEAF: u8 = 3;

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
    /// TTBR0's L0 table; TTBR1's is the next page ([`ttbr1`]).
    pub(super) root: u64,
    /// Every table page this address space owns (both roots included).
    pub(super) tables: HashSet<u64>,
    /// Frames whose valid translation changed (or went) since the last
    /// [`PageTables::take_stale`]: the MMU may still cache them.
    stale: Vec<u64>,
    /// Tables that are faultline's, not the program's (TTBR1's root and
    /// the ring's views), so not in its VmPTE.
    pub(super) vmm_tables: u64,
    /// The ring's views, by vCPU. Every L0 entry the address space gains
    /// is copied into each.
    pub(super) views: Vec<(u32, View)>,
}

impl PageTables {
    /// Empty user tables. `kernel` is the kernel half's TTBR1 L0 entry
    /// (see [`PageTables::kernel_entry`]), shared by every address space;
    /// `None` for the kernel's own tables.
    pub fn new(pool: &mut TablePool, kernel: Option<u64>) -> Result<Self, PagingError> {
        let root = pool.alloc_pair()?;
        let pt = PageTables {
            mem: pool.mem.clone(),
            base_gpa: pool.base_gpa,
            root,
            tables: HashSet::from([root, ttbr1(root)]),
            stale: Vec::new(),
            vmm_tables: 1,
            views: Vec::new(),
        };
        if let Some(k) = kernel {
            pt.entry(ttbr1(root), KERNEL_SLOT, 0, 0)?.store(k, Ordering::Relaxed);
        }
        Ok(pt)
    }

    /// TTBR1's L0 entry of the kernel half these (kernel) tables map, to
    /// be shared by every address space.
    pub fn kernel_entry(&self) -> u64 {
        self.entry(ttbr1(self.root), KERNEL_SLOT, 0, 0).map(|e| e.load(Ordering::Relaxed)).unwrap_or(0)
    }

    /// GPA of the root pair: TTBR0_EL1's table (TTBR1_EL1's is [`ttbr1`]
    /// of it).
    pub fn root_gpa(&self) -> u64 {
        self.root
    }

    /// Table pages this address space owns for the program (TTBR1's root
    /// and the ring's are left out).
    pub fn table_pages(&self) -> u64 {
        self.tables.len() as u64 - self.vmm_tables
    }

    /// Hands every table back to the pool (the address space is gone).
    pub fn retire(self, pool: &mut TablePool) {
        pool.retire(self.tables.into_iter());
    }

    /// Frames whose valid mapping changed since the last call: before the
    /// guest runs again, each must be invalidated on the host, so that KVM
    /// drops every translation of it (see `PhysMem::invalidate`).
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

    /// The index of `va` in the L0 to L3 tables.
    pub(super) fn indices(va: u64) -> [u64; 4] {
        [(va >> 39) & 511, (va >> 30) & 511, (va >> 21) & 511, (va >> 12) & 511]
    }

    /// The L0 table that translates `va` in the pair at `pair`: TTBR0's
    /// for the lower half, TTBR1's for the upper; in neither, `va` is
    /// not canonical (addresses reach here with their tag stripped).
    pub(super) fn half_root(pair: u64, va: u64) -> Result<u64, PagingError> {
        match va >> 48 {
            0 => Ok(pair),
            0xffff => Ok(ttbr1(pair)),
            _ => Err(PagingError::NonCanonical(va)),
        }
    }

    /// The next table a table descriptor points to; `None` if the entry is
    /// invalid, an error if it is malformed: a block (faultline makes
    /// none), attribute or reserved bits (it sets none), or a table not ours.
    fn next_table(&self, e: u64, va: u64, level: u8) -> Result<Option<u64>, PagingError> {
        if e & VALID == 0 {
            return Ok(None);
        }
        let next = e & ADDR_MASK;
        if e & TABLE == 0 || e & !(ADDR_MASK | VALID | TABLE) != 0 || !self.tables.contains(&next) {
            return Err(PagingError::Corrupt { va, level, entry: e });
        }
        Ok(Some(next))
    }

    /// The leaf entry for `va`, creating intermediate tables from `pool`.
    /// Table descriptors restrict nothing (no APTable, XNTable): the leaf
    /// decides, as on Linux.
    fn leaf_mut(&mut self, pool: &mut TablePool, va: u64) -> Result<(&AtomicU64, u64), PagingError> {
        let (_, off) = self.leaf_mut_from(pool, self.root, va)?;
        Ok((self.entry_at(off, va)?, off))
    }

    /// The entry at slot offset `off` (one `leaf_mut_from` gave).
    pub(super) fn entry_at(&self, off: u64, va: u64) -> Result<&AtomicU64, PagingError> {
        let table = self.base_gpa + (off & !(PAGE_SIZE - 1));
        self.entry(table, (off % PAGE_SIZE) / 8, va, LEAF)
    }

    /// `leaf_mut` in root pair `pair` (the address space's, or a view's):
    /// the new tables, and the leaf's slot offset. A new L0 entry of the
    /// address space's own roots goes into every view too (TTBR1's ring
    /// slot aside, which is each view's own).
    pub(super) fn leaf_mut_from(
        &mut self,
        pool: &mut TablePool,
        pair: u64,
        va: u64,
    ) -> Result<(Vec<u64>, u64), PagingError> {
        let top = Self::half_root(pair, va)?;
        let idx = Self::indices(va);
        let mut table = top;
        let mut made = Vec::new();
        for (level, &i) in idx[..3].iter().enumerate() {
            let level = level as u8;
            let e = self.entry(table, i, va, level)?.load(Ordering::Relaxed);
            table = match self.next_table(e, va, level)? {
                Some(t) => t,
                None => {
                    let t = pool.alloc()?;
                    self.tables.insert(t);
                    made.push(t);
                    let e = t | VALID | TABLE;
                    // Views first: the moment the root has the entry,
                    // another thread's vCPU may walk through it.
                    let upper = va >= UPPER_HALF;
                    if level == 0 && pair == self.root && !(upper && i == RING_SLOT) {
                        for (_, v) in &self.views {
                            self.entry(Self::half_root(v.root, va)?, i, va, level)?.store(e, Ordering::Release);
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
        let idx = Self::indices(va);
        let mut table = Self::half_root(self.root, va)?;
        for (level, &i) in idx[..3].iter().enumerate() {
            let level = level as u8;
            let e = self.entry(table, i, va, level)?.load(Ordering::Acquire);
            match self.next_table(e, va, level)? {
                Some(t) => table = t,
                None => return Ok(None),
            }
        }
        let off = table - self.base_gpa + idx[3] * 8;
        Ok(Some((self.entry(table, idx[3], va, LEAF)?, off)))
    }

    /// The leaf for user address `va`. Kernel-half and non-canonical
    /// addresses, and corrupt tables, have none.
    pub fn leaf(&self, va: u64) -> Option<Leaf> {
        if va >= USER_END {
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
        let end = end.min(USER_END);
        if start < end {
            self.visit(self.root, 0, 0, (start, end), Pte::mapped, &mut f);
        }
    }

    /// The guard markers in `[start, end)`, in address order (tables that
    /// do not exist are skipped whole, as by `for_each_mapped`).
    pub fn guards(&self, start: u64, end: u64) -> Vec<u64> {
        let (end, mut out) = (end.min(USER_END), Vec::new());
        if start < end {
            self.visit(self.root, 0, 0, (start, end), Pte::is_guard, &mut |va, _| out.push(va));
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
        let shift = 12 + 9 * (LEAF - level) as u64;
        let span = 1u64 << shift;
        let first = (start.max(base) - base) >> shift;
        let last = ((end - 1).min(base + (span << 9) - 1) - base) >> shift;
        for i in first..=last.min(ENTRIES - 1) {
            let va = base + (i << shift);
            let Ok(entry) = self.entry(table, i, va, level) else { return };
            let e = entry.load(Ordering::Acquire);
            if level == LEAF {
                let pte = Pte(e);
                if keep(pte) {
                    f(va, Leaf { pte, slot_offset: table - self.base_gpa + i * 8 });
                }
            } else if let Ok(Some(next)) = self.next_table(e, va, level) {
                self.visit(next, level + 1, va, (start, end), keep, f);
            }
        }
    }

    /// Stores a user leaf entry and returns the old one and the entry's
    /// slot offset. A valid translation that changes makes its frame stale.
    pub fn set(&mut self, pool: &mut TablePool, va: u64, new: Pte) -> Result<(Pte, u64), PagingError> {
        let (entry, off) = self.leaf_mut(pool, va)?;
        let old = Pte(entry.swap(new.0, Ordering::AcqRel));
        if old.present() && !old.same_translation(new) {
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

    /// What the MMU does to `va`'s entry on an access it allows: sets AF
    /// (HA) and, for a write to a DBM page, clears AP[2] (HD). Tests play
    /// the CPU.
    #[cfg(test)]
    pub fn note_access(&self, va: u64, write: bool) {
        if let Some((entry, _)) = self.walk(va).ok().flatten() {
            let _ = entry.fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| {
                let dirtied = if write && v & DBM != 0 { v & !AP_RDONLY } else { v };
                Some(dirtied | AF)
            });
        }
    }

    /// Clears the access flag of `va`'s entry (clear_refs 1 to 3). With
    /// HA the next access sets it again; without, it faults (see mod.rs).
    pub fn clear_accessed(&self, va: u64) {
        if let Some((entry, _)) = self.walk(va).ok().flatten() {
            entry.fetch_and(!AF, Ordering::AcqRel);
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

    /// Maps one EL1 page (the stub's structures) in the kernel half:
    /// TTBR1's [`KERNEL_SLOT`], the one slot shared with every address
    /// space, so any other address is an error. Global (same in every
    /// address space), never EL0's, never executable there; AF preset so
    /// the CPU never writes these entries, and no DBM (nothing to track).
    pub fn map_kernel(
        &mut self,
        pool: &mut TablePool,
        va: u64,
        gpa: u64,
        writable: bool,
        exec: bool,
    ) -> Result<(), PagingError> {
        if va < UPPER_HALF || Self::indices(va)[0] != KERNEL_SLOT {
            return Err(PagingError::Corrupt { va, level: 0, entry: 0 });
        }
        let mut f = PAGE | AF | UXN;
        if !writable {
            f |= AP_RDONLY;
        }
        if !exec {
            f |= PXN;
        }
        self.leaf_mut(pool, va)?.0.store((gpa & ADDR_MASK) | f, Ordering::Relaxed);
        Ok(())
    }
}
