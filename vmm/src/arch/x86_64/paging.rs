//! 4-level x86-64 page tables, built and edited by the VMM in the system
//! slot. The guest never writes them (no guest code runs in ring 0 and the
//! tables are mapped nowhere in its address space); its CPU only sets
//! accessed/dirty bits.
//!
//! Every entry is reached through [`HostMapping::atomic_u64`], which checks
//! bounds and alignment, and every table address read out of an entry is
//! checked against the tables this allocator handed out before it is
//! followed. A corrupt entry is an error for the walk, never a host access.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::arch::PAGE_SIZE;
use crate::vm::HostMapping;

const PRESENT: u64 = 1 << 0;
const WRITABLE: u64 = 1 << 1;
const USER: u64 = 1 << 2;
pub const ACCESSED: u64 = 1 << 5;
pub const DIRTY: u64 = 1 << 6;
/// PS in a PDPT or PD entry: a 1 GiB or 2 MiB page. faultline never makes
/// them, so an intermediate entry with it set is corrupt.
const HUGE: u64 = 1 << 7;
const NX: u64 = 1 << 63;
/// Software bit (ignored by the CPU when P = 0): a frame is assigned but
/// the page allows no access (PROT_NONE). The frame's address stays in the
/// entry so the data survives until the page is made accessible again.
const SOFT_NOACCESS: u64 = 1 << 9;
const ADDR_MASK: u64 = 0x000f_ffff_ffff_f000;
const ENTRIES: u64 = 512;

/// Page permissions as a program sees them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Perms {
    pub read: bool,
    pub write: bool,
    pub exec: bool,
}

impl Perms {
    pub const fn new(read: bool, write: bool, exec: bool) -> Self {
        Perms { read, write, exec }
    }

    pub fn union(self, o: Perms) -> Perms {
        Perms::new(self.read | o.read, self.write | o.write, self.exec | o.exec)
    }

    /// Whether the page allows any access at all.
    pub fn any(self) -> bool {
        self.read || self.write || self.exec
    }

    /// PTE flags for a user page. x86 cannot map write- or exec-only
    /// pages: any present page is readable, as on Linux.
    fn user_pte_flags(self) -> u64 {
        if !self.any() {
            return SOFT_NOACCESS;
        }
        let mut f = PRESENT | USER;
        if self.write {
            f |= WRITABLE;
        }
        if !self.exec {
            f |= NX;
        }
        f
    }
}

impl std::fmt::Display for Perms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let c = |b: bool, ch: char| if b { ch } else { '-' };
        write!(f, "{}{}{}", c(self.read, 'r'), c(self.write, 'w'), c(self.exec, 'x'))
    }
}

/// Errors while walking or editing page tables.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum PagingError {
    #[error("the page-table pool is exhausted ({0} pages); the address space is too fragmented")]
    PoolExhausted(u64),
    #[error("guest address {0:#x} is not canonical")]
    NonCanonical(u64),
    #[error("corrupt page table for {va:#x} at level {level}: entry {entry:#x}")]
    Corrupt { va: u64, level: u8, entry: u64 },
}

/// A translation found by [`PageTables::translate`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Translation {
    pub gpa: u64,
    pub user: bool,
    pub writable: bool,
}

/// Page tables living in host memory that is also guest memory.
///
/// `mem` is the system slot (`base_gpa` is its GPA). Table pages are handed
/// out by a bump allocator from `[pool_start, pool_end)` (slot offsets);
/// entries are read and written as atomics since the guest CPU may set A/D
/// bits concurrently.
pub struct PageTables {
    mem: Arc<HostMapping>,
    base_gpa: u64,
    pool_start: u64,
    pool_next: u64,
    pool_end: u64,
    root: u64,
    /// Frames whose present translation changed (or went) since the last
    /// [`PageTables::take_stale`]: the MMU may still cache them.
    stale: Vec<u64>,
}

impl PageTables {
    /// Tables in `mem` (mapped for the guest at `base_gpa`), allocated from
    /// slot offsets `[pool_start, pool_end)`, which must be zeroed and used
    /// for nothing else.
    pub fn new(mem: Arc<HostMapping>, base_gpa: u64, pool_start: u64, pool_end: u64) -> Result<Self, PagingError> {
        let pool_end = pool_end.min(mem.len());
        let mut pt =
            PageTables { mem, base_gpa, pool_start, pool_next: pool_start, pool_end, root: 0, stale: Vec::new() };
        pt.root = pt.alloc_table()?;
        Ok(pt)
    }

    /// GPA of the PML4, for CR3.
    pub fn root_gpa(&self) -> u64 {
        self.root
    }

    fn alloc_table(&mut self) -> Result<u64, PagingError> {
        if self.pool_next + PAGE_SIZE > self.pool_end {
            return Err(PagingError::PoolExhausted((self.pool_end - self.pool_start) / PAGE_SIZE));
        }
        let off = self.pool_next;
        self.pool_next += PAGE_SIZE;
        Ok(self.base_gpa + off)
    }

    /// Frames whose present mapping changed since the last call: before
    /// the guest runs again, each must be invalidated on the host, so that
    /// KVM drops every translation of it (see `Backing::invalidate`).
    pub fn take_stale(&mut self) -> Vec<u64> {
        std::mem::take(&mut self.stale)
    }

    /// Slot offset of `table_gpa`, if it is a table this allocator made.
    fn table_offset(&self, table_gpa: u64) -> Option<u64> {
        let off = table_gpa.checked_sub(self.base_gpa)?;
        (off.is_multiple_of(PAGE_SIZE) && off >= self.pool_start && off < self.pool_next).then_some(off)
    }

    /// Entry `index` of the table at `table_gpa`, checked.
    fn entry(&self, table_gpa: u64, index: u64, va: u64, level: u8) -> Result<&AtomicU64, PagingError> {
        let corrupt = PagingError::Corrupt { va, level, entry: table_gpa };
        let off = self.table_offset(table_gpa).ok_or(corrupt.clone())?;
        if index >= ENTRIES {
            return Err(corrupt);
        }
        self.mem.atomic_u64(off + index * 8).ok_or(corrupt)
    }

    fn indices(va: u64) -> [u64; 4] {
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
        if e & HUGE != 0 || self.table_offset(next).is_none() {
            return Err(PagingError::Corrupt { va, level, entry: e });
        }
        Ok(Some(next))
    }

    /// Returns the leaf entry for `va`, creating intermediate tables.
    /// Intermediate entries are permissive (user, writable, executable):
    /// the leaf decides, as Linux does.
    fn leaf_mut(&mut self, va: u64) -> Result<&AtomicU64, PagingError> {
        Self::check_canonical(va)?;
        let idx = Self::indices(va);
        let mut table = self.root;
        for (level, &i) in idx[..3].iter().enumerate() {
            let level = 4 - level as u8;
            let e = self.entry(table, i, va, level)?.load(Ordering::Relaxed);
            table = match self.next_table(e, va, level)? {
                Some(t) => t,
                None => {
                    let t = self.alloc_table()?;
                    self.entry(table, i, va, level)?.store(t | PRESENT | WRITABLE | USER, Ordering::Relaxed);
                    t
                }
            };
        }
        self.entry(table, idx[3], va, 1)
    }

    /// The leaf entry for `va` if its tables exist.
    fn walk(&self, va: u64) -> Result<Option<(&AtomicU64, u64)>, PagingError> {
        Self::check_canonical(va)?;
        let idx = Self::indices(va);
        let mut table = self.root;
        for (level, &i) in idx[..3].iter().enumerate() {
            let level = 4 - level as u8;
            let e = self.entry(table, i, va, level)?.load(Ordering::Relaxed);
            match self.next_table(e, va, level)? {
                Some(t) => table = t,
                None => return Ok(None),
            }
        }
        let off = table - self.base_gpa + idx[3] * 8;
        Ok(Some((self.entry(table, idx[3], va, 1)?, off)))
    }

    fn leaf(&self, va: u64) -> Option<&AtomicU64> {
        self.walk(va).ok().flatten().map(|(e, _)| e)
    }

    /// Stores a user leaf entry; a present translation that changes makes
    /// its frame stale.
    fn store_user(&mut self, va: u64, new: u64) -> Result<u64, PagingError> {
        let old = self.leaf_mut(va)?.swap(new, Ordering::AcqRel);
        if old & PRESENT != 0 && (old ^ new) & !(ACCESSED | DIRTY) != 0 {
            self.stale.push(old & ADDR_MASK);
        }
        Ok(old)
    }

    /// Maps one user page. A page with no permissions keeps its frame
    /// but is not present.
    pub fn map_user(&mut self, va: u64, gpa: u64, perms: Perms) -> Result<(), PagingError> {
        self.store_user(va, (gpa & ADDR_MASK) | perms.user_pte_flags()).map(|_| ())
    }

    /// The frame behind a user page, accessible or not.
    pub fn frame(&self, va: u64) -> Option<u64> {
        let e = self.leaf(va)?.load(Ordering::Relaxed);
        (e & (PRESENT | SOFT_NOACCESS) != 0).then_some(e & ADDR_MASK)
    }

    /// Changes a user page's permissions, keeping its frame. Returns false
    /// if nothing is mapped there.
    pub fn protect_user(&mut self, va: u64, perms: Perms) -> bool {
        let Some(e) = self.leaf(va).map(|l| l.load(Ordering::Relaxed)) else { return false };
        if e & (PRESENT | SOFT_NOACCESS) == 0 {
            return false;
        }
        // Keep accessed/dirty, even in a non-present (PROT_NONE) entry where
        // the CPU ignores them: they are the page's history, and reclaim
        // must not lose that the page was written.
        let keep = e & (ACCESSED | DIRTY);
        self.store_user(va, (e & ADDR_MASK) | perms.user_pte_flags() | keep).is_ok()
    }

    /// Moves a user page's entry (frame, rights, accessed/dirty) from `from`
    /// to `to`; returns the frame.
    pub fn move_user(&mut self, from: u64, to: u64) -> Result<Option<u64>, PagingError> {
        let Some(e) = self.leaf(from).map(|l| l.load(Ordering::Relaxed)) else { return Ok(None) };
        if e & (PRESENT | SOFT_NOACCESS) == 0 {
            return Ok(None);
        }
        self.store_user(to, e)?;
        self.store_user(from, 0)?;
        Ok(Some(e & ADDR_MASK))
    }

    /// Offset of `va`'s leaf entry in the slot, if its tables exist.
    pub fn leaf_offset(&self, va: u64) -> Option<u64> {
        self.walk(va).ok().flatten().map(|(_, off)| off)
    }

    /// The leaf entry at slot offset `off` (as [`PageTables::leaf_offset`]
    /// gave it), for reading and clearing accessed/dirty bits.
    pub fn entry_at(mem: &HostMapping, off: u64) -> Option<&AtomicU64> {
        mem.atomic_u64(off)
    }

    /// Removes a user page; returns the frame it had. Table pages are kept
    /// for reuse, as Linux mostly does.
    pub fn unmap_user(&mut self, va: u64) -> Option<u64> {
        self.leaf(va)?;
        let e = self.store_user(va, 0).ok()?;
        (e & (PRESENT | SOFT_NOACCESS) != 0).then_some(e & ADDR_MASK)
    }

    /// Maps one supervisor page (the shim's structures). Accessed and dirty
    /// are preset so the CPU never needs to write these entries.
    pub fn map_kernel(&mut self, va: u64, gpa: u64, writable: bool, exec: bool) -> Result<(), PagingError> {
        let mut f = PRESENT | ACCESSED | DIRTY;
        if writable {
            f |= WRITABLE;
        }
        if !exec {
            f |= NX;
        }
        self.leaf_mut(va)?.store((gpa & ADDR_MASK) | f, Ordering::Relaxed);
        Ok(())
    }

    /// Walks the tables as the CPU would. A corrupt table is no
    /// translation: the access the caller checks for fails.
    pub fn translate(&self, va: u64) -> Option<Translation> {
        let e = self.leaf(va)?.load(Ordering::Relaxed);
        if e & PRESENT == 0 {
            return None;
        }
        Some(Translation {
            gpa: (e & ADDR_MASK) | (va & (PAGE_SIZE - 1)),
            user: e & USER != 0,
            writable: e & WRITABLE != 0,
        })
    }

    /// Number of table pages in use.
    pub fn table_pages(&self) -> u64 {
        (self.pool_next - self.pool_start) / PAGE_SIZE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: u64 = 0x10_0000;

    fn tables(len: u64) -> PageTables {
        let mem = Arc::new(HostMapping::new("test tables", len).unwrap());
        PageTables::new(mem, BASE, 0x1000, len).unwrap()
    }

    /// Writes `v` into entry `index` of the table at `table_gpa`, as a
    /// corrupting guest (or bug) would.
    fn poke(pt: &PageTables, table_gpa: u64, index: u64, v: u64) {
        pt.mem.atomic_u64(table_gpa - BASE + index * 8).unwrap().store(v, Ordering::Relaxed);
    }

    #[test]
    fn maps_and_translates_with_permissions() {
        let mut pt = tables(64 * 4096);
        pt.map_user(0x40_1000, 0x1_0000_3000, Perms::new(true, false, true)).unwrap();
        pt.map_user(0x7fff_ffff_e000, 0x1_0000_4000, Perms::new(true, true, false)).unwrap();
        let t = pt.translate(0x40_1234).unwrap();
        assert_eq!(t.gpa, 0x1_0000_3234);
        assert!(t.user && !t.writable);
        let s = pt.translate(0x7fff_ffff_e008).unwrap();
        assert!(s.writable);
        assert_eq!(pt.translate(0x40_2000), None);
        // 2 address ranges far apart: PML4 + 2 × (PDPT, PD, PT).
        assert_eq!(pt.table_pages(), 7);
    }

    #[test]
    fn no_access_pages_keep_their_frame() {
        let mut pt = tables(64 * 4096);
        pt.map_user(0x50_0000, 0x1_0000_7000, Perms::new(true, true, false)).unwrap();
        assert!(pt.protect_user(0x50_0000, Perms::default()));
        assert_eq!(pt.translate(0x50_0000), None);
        assert_eq!(pt.frame(0x50_0000), Some(0x1_0000_7000));
        assert!(pt.protect_user(0x50_0000, Perms::new(true, false, false)));
        let t = pt.translate(0x50_0000).unwrap();
        assert!(!t.writable && t.gpa == 0x1_0000_7000);
        assert_eq!(pt.unmap_user(0x50_0000), Some(0x1_0000_7000));
        assert_eq!(pt.frame(0x50_0000), None);
        // Changes to present translations make the frame stale; the change
        // while the page was PROT_NONE (not present) does not.
        assert_eq!(pt.take_stale(), vec![0x1_0000_7000, 0x1_0000_7000]);
        assert!(pt.take_stale().is_empty());
        assert!(!pt.protect_user(0x50_0000, Perms::default()));
        assert_eq!(pt.unmap_user(0x50_0000), None);
    }

    #[test]
    fn rejects_non_canonical_and_exhaustion() {
        let mut pt = tables(4 * 4096);
        assert_eq!(
            pt.map_user(0x0000_8000_0000_0000, 0, Perms::default()),
            Err(PagingError::NonCanonical(0x0000_8000_0000_0000))
        );
        assert!(matches!(pt.map_user(0x1000, 0, Perms::default()), Err(PagingError::PoolExhausted(_))));
    }

    #[test]
    fn corrupt_tables_are_errors_not_host_accesses() {
        let mut pt = tables(64 * 4096);
        let rw = Perms::new(true, true, false);
        pt.map_user(0x40_0000, 0x1_0000_0000, rw).unwrap();
        let root = pt.root_gpa();
        let va = 0x80_0000_0000; // PML4 slot 1
        let bad_entries = [
            // Beyond the slot: the repro's 0xffffffffff007.
            0x000f_ffff_ffff_f007,
            // Inside the slot but not a table the allocator made.
            BASE | 0x7,
            (BASE + 60 * 4096) | 0x7,
            // Below the slot.
            0x7,
            // A huge-page bit where a table must be.
            (root) | 0x87,
        ];
        for bad in bad_entries {
            poke(&pt, root, 1, bad);
            assert!(matches!(pt.walk(va), Err(PagingError::Corrupt { level: 4, .. })), "{bad:#x}");
            assert_eq!(pt.translate(va), None);
            assert_eq!(pt.frame(va), None);
            assert!(matches!(pt.map_user(va, 0x1_0000_1000, rw), Err(PagingError::Corrupt { .. })), "{bad:#x}");
        }
        // An entry pointing at the tables themselves (a loop) is followed
        // only as far as the walk's four levels, and stays inside the pool.
        poke(&pt, root, 1, root | 0x7);
        assert!(pt.walk(va).is_ok());
        // Non-canonical addresses are refused before any walk.
        assert!(matches!(pt.walk(0x0000_8000_0000_1000), Err(PagingError::NonCanonical(_))));
        // Deeper levels are checked the same way: corrupt the PD entry.
        let pdpt = pt.mem.atomic_u64(root - BASE).unwrap().load(Ordering::Relaxed) & ADDR_MASK;
        let pd = pt.mem.atomic_u64(pdpt - BASE).unwrap().load(Ordering::Relaxed) & ADDR_MASK;
        poke(&pt, pd, 2, 0xdead_b000 | 0x87);
        assert!(matches!(pt.walk(0x40_0000), Err(PagingError::Corrupt { level: 2, .. })));
        assert_eq!(pt.translate(0x40_0000), None);
    }
}
