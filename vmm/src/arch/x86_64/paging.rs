//! 4-level x86-64 page tables, built and edited by the VMM in the system
//! slot. The guest never writes them; its CPU only sets accessed/dirty bits.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::arch::PAGE_SIZE;

const PRESENT: u64 = 1 << 0;
const WRITABLE: u64 = 1 << 1;
const USER: u64 = 1 << 2;
pub const ACCESSED: u64 = 1 << 5;
pub const DIRTY: u64 = 1 << 6;
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

/// Errors while editing page tables.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PagingError {
    #[error("the page-table pool is exhausted ({0} pages); the address space is too fragmented")]
    PoolExhausted(u64),
    #[error("guest address {0:#x} is not canonical")]
    NonCanonical(u64),
}

/// A translation found by [`PageTables::translate`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Translation {
    pub gpa: u64,
    pub user: bool,
    pub writable: bool,
    pub executable: bool,
    pub accessed: bool,
    pub dirty: bool,
}

/// Page tables living in host memory that is also guest memory.
///
/// `host` points at the system slot (`base_gpa` is its GPA). Table pages are
/// handed out by a bump allocator from `pool_start`; entries are read and
/// written as atomics since the guest CPU may set A/D bits concurrently.
pub struct PageTables {
    host: *mut u8,
    base_gpa: u64,
    pool_next: u64,
    pool_end: u64,
    root: u64,
    /// Present user entries changed since the last [`PageTables::take_changed`]:
    /// (offset of the entry in the slot, the VA it maps).
    changed: Vec<(u64, u64)>,
}

// SAFETY: the pointer refers to a mapping owned by the VM for the life of the
// sandbox; all access goes through atomics.
unsafe impl Send for PageTables {}

impl PageTables {
    /// # Safety
    /// `host` must point to at least `slot_len` writable, zero-initialised
    /// bytes that outlive the returned value, mapped at `base_gpa` for the
    /// guest; `[pool_start, slot_len)` must be reserved for tables.
    pub unsafe fn new(host: *mut u8, base_gpa: u64, pool_start: u64, slot_len: u64) -> Result<Self, PagingError> {
        let mut pt =
            PageTables { host, base_gpa, pool_next: pool_start, pool_end: slot_len, root: 0, changed: Vec::new() };
        pt.root = pt.alloc_table()?;
        Ok(pt)
    }

    /// GPA of the PML4, for CR3.
    pub fn root_gpa(&self) -> u64 {
        self.root
    }

    fn alloc_table(&mut self) -> Result<u64, PagingError> {
        if self.pool_next + PAGE_SIZE > self.pool_end {
            return Err(PagingError::PoolExhausted(self.pool_end / PAGE_SIZE));
        }
        let off = self.pool_next;
        self.pool_next += PAGE_SIZE;
        Ok(self.base_gpa + off)
    }

    /// Present entries changed since the last call, for the guest to
    /// rewrite and invalidate: (offset of the entry in the slot, VA).
    pub fn take_changed(&mut self) -> Vec<(u64, u64)> {
        std::mem::take(&mut self.changed)
    }

    fn entry(&self, table_gpa: u64, index: u64) -> &AtomicU64 {
        debug_assert!(index < ENTRIES);
        let off = table_gpa - self.base_gpa + index * 8;
        debug_assert!(off + 8 <= self.pool_end);
        // SAFETY: `off` lies inside the slot (tables only come from the
        // pool) and is 8-byte aligned; AtomicU64 has u64's layout.
        unsafe { &*(self.host.add(off as usize) as *const AtomicU64) }
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

    /// Returns the leaf entry for `va`, creating intermediate tables.
    /// Intermediate entries are permissive (user, writable, executable):
    /// the leaf decides, as Linux does.
    fn leaf_mut(&mut self, va: u64) -> Result<&AtomicU64, PagingError> {
        Self::check_canonical(va)?;
        let idx = Self::indices(va);
        let mut table = self.root;
        for &i in &idx[..3] {
            let e = self.entry(table, i).load(Ordering::Relaxed);
            table = if e & PRESENT != 0 {
                e & ADDR_MASK
            } else {
                let t = self.alloc_table()?;
                self.entry(table, i).store(t | PRESENT | WRITABLE | USER, Ordering::Relaxed);
                t
            };
        }
        Ok(self.entry(table, idx[3]))
    }

    /// The leaf entry for `va` and its offset in the slot.
    fn leaf_at(&self, va: u64) -> Option<(&AtomicU64, u64)> {
        let leaf = self.leaf(va)?;
        let off = leaf as *const AtomicU64 as u64 - self.host as u64;
        Some((leaf, off))
    }

    /// Stores a user leaf entry, noting the change if the old one was
    /// present (a translation the MMU may have cached).
    fn store_user(&mut self, va: u64, new: u64) -> Result<u64, PagingError> {
        let leaf = self.leaf_mut(va)? as *const AtomicU64 as u64;
        let off = leaf - self.host as u64;
        // SAFETY: `leaf` points at an entry inside the slot (just found).
        let old = unsafe { &*(leaf as *const AtomicU64) }.swap(new, Ordering::AcqRel);
        if old & PRESENT != 0 && old != new {
            self.changed.push((off, va));
        }
        Ok(old)
    }

    fn leaf(&self, va: u64) -> Option<&AtomicU64> {
        Self::check_canonical(va).ok()?;
        let idx = Self::indices(va);
        let mut table = self.root;
        for &i in &idx[..3] {
            let e = self.entry(table, i).load(Ordering::Relaxed);
            if e & PRESENT == 0 {
                return None;
            }
            table = e & ADDR_MASK;
        }
        Some(self.entry(table, idx[3]))
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
        self.leaf_at(va).map(|(_, off)| off)
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

    /// Walks the tables as the CPU would.
    pub fn translate(&self, va: u64) -> Option<Translation> {
        let e = self.leaf(va)?.load(Ordering::Relaxed);
        if e & PRESENT == 0 {
            return None;
        }
        Some(Translation {
            gpa: (e & ADDR_MASK) | (va & (PAGE_SIZE - 1)),
            user: e & USER != 0,
            writable: e & WRITABLE != 0,
            executable: e & NX == 0,
            accessed: e & ACCESSED != 0,
            dirty: e & DIRTY != 0,
        })
    }

    /// Number of table pages in use.
    pub fn table_pages(&self) -> u64 {
        (self.pool_next - (self.root - self.base_gpa)) / PAGE_SIZE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tables(len: usize) -> (Vec<u64>, PageTables) {
        let mut mem = vec![0u64; len / 8];
        let pt = unsafe { PageTables::new(mem.as_mut_ptr() as *mut u8, 0x10_0000, 0x1000, len as u64) }.unwrap();
        (mem, pt)
    }

    #[test]
    fn maps_and_translates_with_permissions() {
        let (_mem, mut pt) = tables(64 * 4096);
        pt.map_user(0x40_1000, 0x1_0000_3000, Perms::new(true, false, true)).unwrap();
        pt.map_user(0x7fff_ffff_e000, 0x1_0000_4000, Perms::new(true, true, false)).unwrap();
        let t = pt.translate(0x40_1234).unwrap();
        assert_eq!(t.gpa, 0x1_0000_3234);
        assert!(t.user && !t.writable && t.executable);
        let s = pt.translate(0x7fff_ffff_e008).unwrap();
        assert!(s.writable && !s.executable);
        assert_eq!(pt.translate(0x40_2000), None);
        // 2 address ranges far apart: PML4 + 2 × (PDPT, PD, PT).
        assert_eq!(pt.table_pages(), 7);
    }

    #[test]
    fn no_access_pages_keep_their_frame() {
        let (_mem, mut pt) = tables(64 * 4096);
        pt.map_user(0x50_0000, 0x1_0000_7000, Perms::new(true, true, false)).unwrap();
        assert!(pt.protect_user(0x50_0000, Perms::default()));
        assert_eq!(pt.translate(0x50_0000), None);
        assert_eq!(pt.frame(0x50_0000), Some(0x1_0000_7000));
        assert!(pt.protect_user(0x50_0000, Perms::new(true, false, false)));
        let t = pt.translate(0x50_0000).unwrap();
        assert!(!t.writable && t.gpa == 0x1_0000_7000);
        assert_eq!(pt.unmap_user(0x50_0000), Some(0x1_0000_7000));
        assert_eq!(pt.frame(0x50_0000), None);
        // Changes to present entries are listed for the guest; the change
        // while the page was PROT_NONE (not present) is not.
        let changed: Vec<u64> = pt.take_changed().iter().map(|&(_, va)| va).collect();
        assert_eq!(changed, vec![0x50_0000, 0x50_0000]);
        assert!(pt.take_changed().is_empty());
        assert!(!pt.protect_user(0x50_0000, Perms::default()));
        assert_eq!(pt.unmap_user(0x50_0000), None);
    }

    #[test]
    fn rejects_non_canonical_and_exhaustion() {
        let (_mem, mut pt) = tables(4 * 4096);
        assert_eq!(
            pt.map_user(0x0000_8000_0000_0000, 0, Perms::default()),
            Err(PagingError::NonCanonical(0x0000_8000_0000_0000))
        );
        assert!(matches!(pt.map_user(0x1000, 0, Perms::default()), Err(PagingError::PoolExhausted(_))));
    }
}
