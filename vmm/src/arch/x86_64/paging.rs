//! 4-level x86-64 page tables, built and edited by the VMM in the system
//! slot. The guest never writes them (no guest code runs in ring 0 and the
//! tables are mapped nowhere in its address space); its CPU only sets
//! accessed/dirty bits.
//!
//! Every entry is reached through [`HostMapping::atomic_u64`], which checks
//! bounds and alignment, and every table address read out of an entry is
//! checked against the tables this address space owns before it is
//! followed. A corrupt entry is an error for the walk, never a host access.
//!
//! Table pages come from one [`TablePool`] for every process. A table a
//! process no longer needs is *retired*, never handed out again: KVM may
//! still keep shadow pages for its guest-physical address, and a table
//! reused elsewhere would be read through them.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::arch::PAGE_SIZE;
use crate::memory::HostMapping;

const PRESENT: u64 = 1 << 0;
const WRITABLE: u64 = 1 << 1;
const USER: u64 = 1 << 2;
const ACCESSED: u64 = 1 << 5;
const DIRTY: u64 = 1 << 6;
/// PS in a PDPT or PD entry: a 1 GiB or 2 MiB page. faultline never makes
/// them, so an intermediate entry with it set is corrupt.
const HUGE: u64 = 1 << 7;
const NX: u64 = 1 << 63;
/// Software bit (ignored by the CPU when P = 0): a frame is assigned but
/// the page allows no access (PROT_NONE). The frame's address stays in the
/// entry so the data survives until the page is made accessible again.
const SOFT_NOACCESS: u64 = 1 << 9;
/// Software bit 11, as Linux's _PAGE_SOFT_DIRTY: the page was written since
/// clear_refs last cleaned it. The CPU sets only the dirty bit; an entry is
/// soft-dirty if either is set, and whoever clears the dirty bit (reclaim)
/// keeps it here.
const SOFT_DIRTY: u64 = 1 << 11;
const ADDR_MASK: u64 = 0x000f_ffff_ffff_f000;
const ENTRIES: u64 = 512;
/// PML4 slot of the kernel half every process shares.
const KERNEL_SLOT: u64 = 511;
/// PML4 slot of the syscall ring's pages, which each vCPU's view owns.
const RING_SLOT: u64 = 510;

/// Page permissions as a program sees them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Perms {
    /// Readable.
    pub read: bool,
    /// Writable.
    pub write: bool,
    /// Executable.
    pub exec: bool,
}

impl Perms {
    /// Permissions from the three bits.
    pub const fn new(read: bool, write: bool, exec: bool) -> Self {
        Perms { read, write, exec }
    }

    /// Read and write, not execute.
    pub const RW: Perms = Perms::new(true, true, false);

    /// What either allows.
    pub fn union(self, o: Perms) -> Perms {
        Perms::new(self.read | o.read, self.write | o.write, self.exec | o.exec)
    }

    /// Whether the page allows any access at all.
    pub fn any(self) -> bool {
        self.read || self.write || self.exec
    }
}

impl std::fmt::Display for Perms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let c = |b: bool, ch: char| if b { ch } else { '-' };
        write!(f, "{}{}{}", c(self.read, 'r'), c(self.write, 'w'), c(self.exec, 'x'))
    }
}

/// A user leaf entry.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pte(u64);

impl Pte {
    /// An entry mapping `frame` with `perms`; `writable` may be narrower
    /// than `perms.write` (copy-on-write). No access at all keeps the frame
    /// in a non-present entry.
    pub fn user(frame: u64, perms: Perms, writable: bool) -> Pte {
        if !perms.any() {
            return Pte((frame & ADDR_MASK) | SOFT_NOACCESS);
        }
        let mut f = PRESENT | USER;
        if perms.write && writable {
            f |= WRITABLE;
        }
        if !perms.exec {
            f |= NX;
        }
        Pte((frame & ADDR_MASK) | f)
    }

    pub const NONE: Pte = Pte(0);

    #[cfg(test)]
    pub fn raw(self) -> u64 {
        self.0
    }
    /// Whether a frame is assigned (accessible or not).
    pub fn mapped(self) -> bool {
        self.0 & (PRESENT | SOFT_NOACCESS) != 0
    }
    pub fn present(self) -> bool {
        self.0 & PRESENT != 0
    }
    pub fn frame(self) -> u64 {
        self.0 & ADDR_MASK
    }
    pub fn writable(self) -> bool {
        self.0 & (PRESENT | WRITABLE) == PRESENT | WRITABLE
    }
    pub fn user_accessible(self) -> bool {
        self.0 & (PRESENT | USER) == PRESENT | USER
    }
    pub fn accessed(self) -> bool {
        self.0 & ACCESSED != 0
    }
    pub fn dirty(self) -> bool {
        self.0 & DIRTY != 0
    }
    /// The same entry with accessed/dirty carried over from `old`: they
    /// are the page's history, and reclaim must not lose that it was
    /// written.
    pub fn keeping_history(self, old: Pte) -> Pte {
        Pte(self.0 | (old.0 & (ACCESSED | DIRTY | SOFT_DIRTY)))
    }
    /// Written since clear_refs last cleaned it (or ever).
    pub fn soft_dirty(self) -> bool {
        self.0 & (DIRTY | SOFT_DIRTY) != 0
    }
    /// The same entry, soft-dirty if `old` was (a fork child's copy).
    pub fn keeping_soft_dirty(self, old: Pte) -> Pte {
        if old.soft_dirty() {
            Pte(self.0 | SOFT_DIRTY)
        } else {
            self
        }
    }
    /// clear_refs' soft-dirty clearing: not soft-dirty, not dirty (the
    /// caller keeps that in the frame), and read-only if `protect`, so the
    /// next write faults and marks it again.
    pub fn cleaned(self, protect: bool) -> Pte {
        let mut v = self.0 & !(DIRTY | SOFT_DIRTY);
        if protect {
            v &= !WRITABLE;
        }
        Pte(v)
    }
}

/// Errors while walking or editing page tables.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum PagingError {
    #[error("the page-table pool is exhausted ({0} pages)")]
    PoolExhausted(u64),
    #[error("guest address {0:#x} is not canonical")]
    NonCanonical(u64),
    #[error("corrupt page table for {va:#x} at level {level}: entry {entry:#x}")]
    Corrupt { va: u64, level: u8, entry: u64 },
}

/// Where page-table pages come from: a range of the system slot, handed out
/// once each.
pub struct TablePool {
    mem: Arc<HostMapping>,
    base_gpa: u64,
    start: u64,
    next: u64,
    end: u64,
    retired: u64,
}

impl TablePool {
    /// Table pages from slot offsets `[start, end)` of `mem` (mapped for
    /// the guest at `base_gpa`), which must be zeroed and used for nothing
    /// else.
    pub fn new(mem: Arc<HostMapping>, base_gpa: u64, start: u64, end: u64) -> Self {
        let end = end.min(mem.len());
        TablePool { mem, base_gpa, start, next: start, end, retired: 0 }
    }

    fn alloc(&mut self) -> Result<u64, PagingError> {
        if self.next + PAGE_SIZE > self.end {
            return Err(PagingError::PoolExhausted((self.end - self.start) / PAGE_SIZE));
        }
        let off = self.next;
        self.next += PAGE_SIZE;
        Ok(self.base_gpa + off)
    }

    /// Gives the host memory of tables no longer used back; their
    /// addresses are never handed out again.
    fn retire(&mut self, tables: impl Iterator<Item = u64>) {
        for t in tables {
            let _ = self.mem.discard(t - self.base_gpa, PAGE_SIZE);
            self.retired += 1;
        }
    }

    /// Table pages in use by live address spaces.
    pub fn in_use(&self) -> u64 {
        (self.next - self.start) / PAGE_SIZE - self.retired
    }

    pub fn mem(&self) -> &Arc<HostMapping> {
        &self.mem
    }
}

/// A leaf entry found by a walk: its value and where it lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Leaf {
    pub pte: Pte,
    /// Offset of the entry in the system slot: stable for the life of the
    /// address space, so reclaim can read its accessed/dirty bits directly.
    pub slot_offset: u64,
}

/// A vCPU's own root of an address space, while its thread uses the
/// syscall ring: a PML4 whose entries are the address space's own (the
/// user half and the shared kernel slot) but for the ring's slot, which
/// maps that one vCPU's stub, mailbox and doorbell. Threads of one process
/// share every table below the PML4 but never see each other's mailbox:
/// a mailbox is writable by the one thread whose calls it carries.
struct View {
    root: u64,
    /// Every table of the view: the root and the ring slot's own.
    tables: Vec<u64>,
}

/// One address space's tables.
pub struct PageTables {
    mem: Arc<HostMapping>,
    base_gpa: u64,
    root: u64,
    /// Every table page this address space owns (PML4 included).
    tables: HashSet<u64>,
    /// Frames whose present translation changed (or went) since the last
    /// [`PageTables::take_stale`]: the MMU may still cache them.
    stale: Vec<u64>,
    /// Tables made for the syscall ring's pages (the views): faultline's,
    /// not the program's, so not in its VmPTE.
    ring_tables: u64,
    /// The ring's views, by vCPU. Every PML4 entry the address space gains
    /// is copied into each.
    views: Vec<(u32, View)>,
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
    fn entry(&self, table_gpa: u64, index: u64, va: u64, level: u8) -> Result<&AtomicU64, PagingError> {
        let corrupt = || PagingError::Corrupt { va, level, entry: table_gpa };
        if !self.tables.contains(&table_gpa) || index >= ENTRIES {
            return Err(corrupt());
        }
        let off = table_gpa.checked_sub(self.base_gpa).ok_or_else(corrupt)?;
        self.mem.atomic_u64(off + index * 8).ok_or_else(corrupt)
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
    fn entry_at(&self, off: u64, va: u64) -> Result<&AtomicU64, PagingError> {
        let table = self.base_gpa + (off & !(PAGE_SIZE - 1));
        self.entry(table, (off % PAGE_SIZE) / 8, va, 1)
    }

    /// `leaf_mut` from root `root` (the address space's, or a view's):
    /// the new tables, and the leaf's slot offset. A new PML4 entry of the
    /// address space's own root goes into every view too.
    fn leaf_mut_from(&mut self, pool: &mut TablePool, root: u64, va: u64) -> Result<(Vec<u64>, u64), PagingError> {
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
    fn walk(&self, va: u64) -> Result<Option<(&AtomicU64, u64)>, PagingError> {
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
            self.visit(self.root, 4, 0, start, end, &mut f);
        }
    }

    fn visit(&self, table: u64, level: u8, base: u64, start: u64, end: u64, f: &mut dyn FnMut(u64, Leaf)) {
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
                if pte.mapped() {
                    f(va, Leaf { pte, slot_offset: table - self.base_gpa + i * 8 });
                }
            } else if let Ok(Some(next)) = self.next_table(e, va, level) {
                self.visit(next, level - 1, va, start, end, f);
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

/// The leaf entry at `slot_offset` of the system slot, for reading and
/// clearing accessed/dirty bits (reclaim).
pub fn entry_at(mem: &HostMapping, slot_offset: u64) -> Option<&AtomicU64> {
    mem.atomic_u64(slot_offset)
}

/// Reads and clears the accessed and dirty bits of an entry; a dirty one
/// stays soft-dirty.
pub fn take_accessed_dirty(entry: &AtomicU64) -> (bool, bool) {
    let mut v = entry.load(Ordering::Acquire);
    loop {
        let mut new = v & !(ACCESSED | DIRTY);
        if v & DIRTY != 0 {
            new |= SOFT_DIRTY;
        }
        match entry.compare_exchange_weak(v, new, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => break,
            Err(now) => v = now,
        }
    }
    (v & ACCESSED != 0, v & DIRTY != 0)
}

/// Whether an entry is dirty, without clearing it.
pub fn peek_dirty(entry: &AtomicU64) -> bool {
    entry.load(Ordering::Acquire) & DIRTY != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: u64 = 0x10_0000;

    #[test]
    fn reclaim_taking_the_dirty_bit_leaves_the_page_soft_dirty() {
        let e = AtomicU64::new(Pte::user(BASE, Perms::RW, true).raw() | DIRTY | ACCESSED);
        assert_eq!(take_accessed_dirty(&e), (true, true));
        let p = Pte(e.load(Ordering::Relaxed));
        assert!(!p.dirty() && !p.accessed() && p.soft_dirty());
        assert_eq!(take_accessed_dirty(&e), (false, false));
        assert!(Pte(e.load(Ordering::Relaxed)).soft_dirty());
        let c = p.cleaned(true);
        assert!(!c.soft_dirty() && !c.writable() && c.present() && c.frame() == BASE);
        assert!(Pte::user(BASE, Perms::RW, false).keeping_soft_dirty(p).soft_dirty());
        assert!(!Pte::user(BASE, Perms::RW, false).keeping_soft_dirty(c).soft_dirty());
    }
    const RW: Perms = Perms::RW;

    fn pool(pages: u64) -> TablePool {
        let mem = Arc::new(HostMapping::new("test tables", pages * PAGE_SIZE).unwrap());
        TablePool::new(mem, BASE, 0x1000, pages * PAGE_SIZE)
    }

    /// Writes `v` into entry `index` of table `table_gpa`, as a corrupting
    /// guest (or bug) would.
    fn poke(pt: &PageTables, table_gpa: u64, index: u64, v: u64) {
        pt.mem.atomic_u64(table_gpa - BASE + index * 8).unwrap().store(v, Ordering::Relaxed);
    }

    #[test]
    fn maps_and_reads_back_with_permissions() {
        let mut pool = pool(64);
        let mut pt = PageTables::new(&mut pool, None).unwrap();
        pt.set(&mut pool, 0x40_1000, Pte::user(0x1_0000_3000, Perms::new(true, false, true), true)).unwrap();
        pt.set(&mut pool, 0x7fff_ffff_e000, Pte::user(0x1_0000_4000, RW, true)).unwrap();
        let t = pt.pte(0x40_1000);
        assert_eq!(t.frame(), 0x1_0000_3000);
        assert!(t.user_accessible() && !t.writable());
        assert!(pt.pte(0x7fff_ffff_e000).writable());
        // Copy-on-write: the VMA allows writes, the entry does not.
        pt.set(&mut pool, 0x40_2000, Pte::user(0x1_0000_5000, RW, false)).unwrap();
        assert!(!pt.pte(0x40_2000).writable());
        assert_eq!(pt.pte(0x40_3000), Pte::NONE);
        // 2 address ranges far apart: PML4 + 2 × (PDPT, PD, PT).
        assert_eq!(pt.table_pages(), 7);
        assert_eq!(pool.in_use(), 7);
        pt.retire(&mut pool);
        assert_eq!(pool.in_use(), 0);
    }

    #[test]
    fn no_access_pages_keep_their_frame_and_changes_go_stale() {
        let mut pool = pool(64);
        let mut pt = PageTables::new(&mut pool, None).unwrap();
        pt.set(&mut pool, 0x50_0000, Pte::user(0x1_0000_7000, RW, true)).unwrap();
        pt.set(&mut pool, 0x50_0000, Pte::user(0x1_0000_7000, Perms::default(), true)).unwrap();
        let p = pt.pte(0x50_0000);
        assert!(!p.present() && p.mapped() && p.frame() == 0x1_0000_7000);
        pt.set(&mut pool, 0x50_0000, Pte::user(0x1_0000_7000, Perms::new(true, false, false), true)).unwrap();
        assert_eq!(pt.clear(0x50_0000).frame(), 0x1_0000_7000);
        assert!(!pt.pte(0x50_0000).mapped());
        // Only changes to present translations go stale.
        assert_eq!(pt.take_stale(), vec![0x1_0000_7000, 0x1_0000_7000]);
        assert!(pt.take_stale().is_empty());
    }

    #[test]
    fn range_walks_visit_only_what_is_mapped() {
        let mut pool = pool(64);
        let mut pt = PageTables::new(&mut pool, None).unwrap();
        for va in [0x40_0000, 0x40_1000, 0x7fff_0000_0000, 0x7fff_ffff_e000] {
            pt.set(&mut pool, va, Pte::user(0x1_0000_0000 + va / 0x1000 * 0x1000, RW, true)).unwrap();
        }
        pt.set(&mut pool, 0x40_2000, Pte::user(0x1_0000_9000, Perms::default(), true)).unwrap();
        let mut seen = Vec::new();
        pt.for_each_mapped(0x1000, 1 << 47, |va, _| seen.push(va));
        assert_eq!(seen, vec![0x40_0000, 0x40_1000, 0x40_2000, 0x7fff_0000_0000, 0x7fff_ffff_e000]);
        seen.clear();
        pt.for_each_mapped(0x40_1000, 0x7fff_0000_1000, |va, _| seen.push(va));
        assert_eq!(seen, vec![0x40_1000, 0x40_2000, 0x7fff_0000_0000]);
        seen.clear();
        pt.for_each_mapped(0x40_1000, 0x40_1000, |va, _| seen.push(va));
        assert!(seen.is_empty());
    }

    #[test]
    fn kernel_half_is_shared_and_not_user() {
        let mut pool = pool(64);
        let mut k = PageTables::new(&mut pool, None).unwrap();
        k.map_kernel(&mut pool, 0xffff_ff80_0000_0000, 0x1000, false, true).unwrap();
        let pt = PageTables::new(&mut pool, Some(k.kernel_entry())).unwrap();
        assert_ne!(k.kernel_entry(), 0);
        // User walks never reach into the kernel half.
        assert_eq!(pt.leaf(0xffff_ff80_0000_0000), None);
    }

    /// Reads entry `index` of table `table_gpa`.
    fn peek(pt: &PageTables, table_gpa: u64, index: u64) -> u64 {
        pt.mem.atomic_u64(table_gpa - BASE + index * 8).unwrap().load(Ordering::Relaxed)
    }

    /// The leaf for `va` under root `root`, walked by hand.
    fn walk_from(pt: &PageTables, root: u64, va: u64) -> u64 {
        let idx = PageTables::indices(va);
        let mut table = root;
        for &i in &idx[..3] {
            let e = peek(pt, table, i);
            if e & PRESENT == 0 {
                return 0;
            }
            table = e & ADDR_MASK;
        }
        peek(pt, table, idx[3])
    }

    #[test]
    fn each_vcpu_view_has_its_own_ring_pages_and_the_rest_shared() {
        let mut pool = pool(64);
        let mut k = PageTables::new(&mut pool, None).unwrap();
        k.map_kernel(&mut pool, 0xffff_ff80_0000_0000, 0x1000, false, true).unwrap();
        let mut pt = PageTables::new(&mut pool, Some(k.kernel_entry())).unwrap();
        pt.set(&mut pool, 0x40_0000, Pte::user(0x1_0000_0000, RW, true)).unwrap();
        let (user_pages, before) = (pt.table_pages(), pool.in_use());
        let ring = |cpu: u64| 0xffff_ff00_0000_0000 + cpu * 4 * PAGE_SIZE;
        let pages =
            |cpu: u64| [(ring(cpu), 0x8000_0000, RingPage::Code), (ring(cpu) + PAGE_SIZE, 0x8000_1000, RingPage::Data)];
        let v0 = pt.make_view(&mut pool, 0, &pages(0), true).unwrap();
        let v1 = pt.make_view(&mut pool, 1, &pages(1), true).unwrap();
        assert_ne!(v0, v1);
        assert_eq!((pt.view_root(0), pt.view_root(1), pt.view_root(2)), (Some(v0), Some(v1), None));
        // The views' tables count against memory, not against VmPTE.
        assert_eq!(pt.table_pages(), user_pages);
        assert_eq!(pool.in_use(), before + 8);
        // Each view maps its own vCPU's ring pages, no other's; the address
        // space's own root maps none.
        assert_eq!(
            walk_from(&pt, v0, ring(0) + PAGE_SIZE),
            0x8000_1000 | PRESENT | WRITABLE | USER | NX | ACCESSED | DIRTY
        );
        assert_eq!(walk_from(&pt, v0, ring(1) + PAGE_SIZE), 0);
        assert_eq!(walk_from(&pt, v1, ring(0) + PAGE_SIZE), 0);
        assert_ne!(walk_from(&pt, v1, ring(1)), 0);
        assert_eq!(walk_from(&pt, pt.root_gpa(), ring(0) + PAGE_SIZE), 0);
        // User pages and the kernel half are the same tables in every root,
        // including PML4 entries made after the views.
        pt.set(&mut pool, 0x7fff_ffff_e000, Pte::user(0x1_0000_4000, RW, true)).unwrap();
        for va in [0x40_0000, 0x7fff_ffff_e000, 0xffff_ff80_0000_0000] {
            assert_ne!(walk_from(&pt, pt.root_gpa(), va), 0, "{va:#x}");
            for v in [v0, v1] {
                assert_eq!(walk_from(&pt, v, va), walk_from(&pt, pt.root_gpa(), va), "{va:#x}");
            }
        }
        // A view retired goes whole; its vCPU's next one is new.
        assert!(pt.drop_view(&mut pool, 0));
        assert!(!pt.drop_view(&mut pool, 0));
        assert_eq!(pool.in_use(), before + 4 + 3);
        let v0b = pt.make_view(&mut pool, 0, &pages(0), false).unwrap();
        assert_ne!(v0b, v0);
        assert_eq!(walk_from(&pt, v0b, ring(0) + PAGE_SIZE) & USER, 0);
        pt.retire(&mut pool);
        assert_eq!(pool.in_use(), k.table_pages());
    }

    #[test]
    fn rejects_non_canonical_and_exhaustion() {
        let mut pool = pool(4);
        let mut pt = PageTables::new(&mut pool, None).unwrap();
        assert_eq!(
            pt.set(&mut pool, 0x0000_8000_0000_0000, Pte::NONE),
            Err(PagingError::NonCanonical(0x0000_8000_0000_0000))
        );
        assert!(matches!(pt.set(&mut pool, 0x1000, Pte::NONE), Err(PagingError::PoolExhausted(_))));
    }

    #[test]
    fn corrupt_tables_are_errors_not_host_accesses() {
        let mut pool = pool(64);
        let mut pt = PageTables::new(&mut pool, None).unwrap();
        let mut other = PageTables::new(&mut pool, None).unwrap();
        other.set(&mut pool, 0x40_0000, Pte::user(0x1_0000_0000, RW, true)).unwrap();
        pt.set(&mut pool, 0x40_0000, Pte::user(0x1_0000_0000, RW, true)).unwrap();
        let root = pt.root_gpa();
        let va = 0x80_0000_0000; // PML4 slot 1
        let bad_entries = [
            // Beyond the slot: the repro's 0xffffffffff007.
            0x000f_ffff_ffff_f007,
            // Inside the slot but not a table at all.
            BASE | 0x7,
            (BASE + 60 * PAGE_SIZE) | 0x7,
            // Another address space's table.
            other.root_gpa() | 0x7,
            // Below the slot.
            0x7,
            // A huge-page bit where a table must be.
            root | 0x87,
        ];
        for bad in bad_entries {
            poke(&pt, root, 1, bad);
            assert!(matches!(pt.walk(va), Err(PagingError::Corrupt { level: 4, .. })), "{bad:#x}");
            assert_eq!(pt.leaf(va), None);
            let r = pt.set(&mut pool, va, Pte::user(0x1_0000_1000, RW, true));
            assert!(matches!(r, Err(PagingError::Corrupt { .. })), "{bad:#x}");
        }
        // An entry pointing at the tables themselves (a loop) is followed
        // only for the walk's four levels, and stays inside our tables.
        poke(&pt, root, 1, root | 0x7);
        assert!(pt.walk(va).is_ok());
        // Non-canonical addresses are refused before any walk.
        assert!(matches!(pt.walk(0x0000_8000_0000_1000), Err(PagingError::NonCanonical(_))));
        // Deeper levels are checked the same way: corrupt the PD entry.
        let pdpt = pt.mem.atomic_u64(root - BASE).unwrap().load(Ordering::Relaxed) & ADDR_MASK;
        let pd = pt.mem.atomic_u64(pdpt - BASE).unwrap().load(Ordering::Relaxed) & ADDR_MASK;
        poke(&pt, pd, 2, 0xdead_b000 | 0x87);
        assert!(matches!(pt.walk(0x40_0000), Err(PagingError::Corrupt { level: 2, .. })));
        assert_eq!(pt.leaf(0x40_0000), None);
    }
}
