//! An address space: one process's VMAs and page tables (its mm_struct),
//! and the operations Linux's mm does on them: map, unmap, protect, move,
//! copy for fork. Every page-table entry it sets or clears is mirrored in
//! the reverse map ([`Phys`]), and every present translation it changes is
//! made stale so no vCPU keeps it.
//!
//! Reservation is free: a new VMA gets no frames and no page-table entries.
//! Anonymous pages get frames when the program first touches the block of
//! [`FILL_PAGES`] around them ([`AddressSpace::fill_anon`]); the touch
//! itself is then resolved through userfaultfd, one page at a time.

use super::phys::{Content, FrameKind, Mapping, MmId, Phys, PhysError, Residency};
use super::vma::{Vma, VmaSet};
use crate::arch::paging::{Leaf, Pte};
use crate::arch::{page_floor, PageTables, PagingError, Perms, PAGE_SIZE};
use crate::timeline::RegionId;

/// Pages around a first touch that get frames and page-table entries at
/// once: the rest of the block then costs one userfaultfd trap per page,
/// not a page-fault exit as well. 16 pages, the size of Linux's
/// fault-around window.
pub const FILL_PAGES: u64 = 16;

/// Linux's stack_guard_gap: 256 pages below a stack nothing may map.
pub const STACK_GUARD_GAP: u64 = 256 * PAGE_SIZE;

#[derive(Debug, thiserror::Error)]
pub enum MapError {
    #[error(transparent)]
    Phys(#[from] PhysError),
    #[error(transparent)]
    Paging(#[from] PagingError),
}

/// One of the program's ELF sections, byte for byte as its section
/// headers give it (readelf -S), where it was loaded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ElfSection {
    pub start: u64,
    pub end: u64,
    pub name: std::sync::Arc<str>,
}

/// A range of the program image filed under one section.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SectionRange {
    pub start: u64,
    pub end: u64,
    pub region: RegionId,
}

pub struct AddressSpace {
    pub id: MmId,
    tables: PageTables,
    pub vmas: VmaSet,
    /// The heap: brk's lowest and current values.
    pub brk_start: u64,
    pub brk: u64,
    /// Where top-down mmap placement starts.
    pub mmap_base: u64,
    /// Highest address of the initial stack, and where argv/envp lie
    /// (for /proc/PID/cmdline and environ).
    pub start_stack: u64,
    pub arg: (u64, u64),
    pub env: (u64, u64),
    /// The auxiliary vector exec gave the program (mm->saved_auxv), for a
    /// core's NT_AUXV.
    pub saved_auxv: std::sync::Arc<[u64]>,
    /// Where a signal handler without SA_RESTORER returns: the vDSO's
    /// rt_sigreturn trampoline, where the architecture has exec map one
    /// (arm64), else `None`.
    pub sigreturn_trampoline: Option<u64>,
    /// mlockall(MCL_FUTURE) in force, and with MCL_ONFAULT.
    pub lock_future: bool,
    pub lock_future_onfault: bool,
    /// `--pin heap` / `--pin mmap`: pin those pages as they are mapped.
    pub pin_heap: bool,
    pub pin_mmap: bool,
    /// The program image's pages, filed by section.
    pub sections: Vec<SectionRange>,
    /// The program's sections byte for byte, in address order: what a
    /// crash report names (a page may hold parts of several).
    pub elf_sections: std::sync::Arc<[ElfSection]>,
    /// Largest VmSize seen, in bytes.
    pub peak_size: u64,
    /// Resident pages this address space gave back (munmap, MADV_DONTNEED,
    /// brk shrinking, MAP_FIXED over a mapping) since the kernel last
    /// took the list: the timeline's `release` rows.
    pub released: Vec<Released>,
}

/// A resident page an address space stopped mapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Released {
    pub va: u64,
    pub gpa: u64,
    pub region: RegionId,
    /// Start of the mapping it was in.
    pub mapping: u64,
}

impl AddressSpace {
    pub fn new(id: MmId, phys: &mut Phys, kernel_half: u64) -> Result<Self, MapError> {
        Ok(AddressSpace {
            id,
            tables: PageTables::new(&mut phys.tables, Some(kernel_half))?,
            vmas: VmaSet::default(),
            brk_start: 0,
            brk: 0,
            mmap_base: 0,
            start_stack: 0,
            arg: (0, 0),
            env: (0, 0),
            saved_auxv: std::sync::Arc::from([]),
            sigreturn_trampoline: None,
            lock_future: false,
            lock_future_onfault: false,
            pin_heap: false,
            pin_mmap: false,
            sections: Vec::new(),
            elf_sections: std::sync::Arc::from([]),
            peak_size: 0,
            released: Vec::new(),
        })
    }

    /// CR3 for this address space.
    pub fn root(&self) -> u64 {
        self.tables.root_gpa()
    }

    /// Makes vCPU `cpu`'s view of this address space, with the syscall
    /// ring's `pages` (va, gpa, kind) in its ring slot (see
    /// `PageTables::make_view`): the CR3 its thread runs on while it uses
    /// the ring.
    pub fn make_view(
        &mut self,
        phys: &mut Phys,
        cpu: u32,
        pages: &[(u64, u64, crate::arch::RingPage)],
        user: bool,
    ) -> Result<u64, crate::arch::PagingError> {
        let made = self.tables.make_view(&mut phys.tables, cpu, pages, user);
        phys.sync_tables();
        made
    }

    /// The root of vCPU `cpu`'s view, if it has one here.
    pub fn view_root(&self, cpu: u32) -> Option<u64> {
        self.tables.view_root(cpu)
    }

    /// Retires vCPU `cpu`'s view; true if it had one.
    pub fn drop_view(&mut self, phys: &mut Phys, cpu: u32) -> bool {
        let dropped = self.tables.drop_view(&mut phys.tables, cpu);
        phys.sync_tables();
        dropped
    }

    /// Page-table pages it uses (VmPTE, pgtables).
    pub fn table_pages(&self) -> u64 {
        self.tables.table_pages()
    }

    pub fn pte(&self, va: u64) -> Pte {
        self.tables.pte(va)
    }

    /// Sets `va`'s accessed and (for a write) dirty bits, as the MMU would.
    #[cfg(test)]
    pub fn note_access(&self, va: u64, write: bool) {
        self.tables.note_access(va, write)
    }

    /// Calls `f(va, leaf)` for each populated page of `[start, end)`.
    pub fn for_each_mapped(&self, start: u64, end: u64, f: impl FnMut(u64, Leaf)) {
        self.tables.for_each_mapped(start, end, f)
    }

    /// Populated pages of `[start, end)`: (va, frame).
    pub fn mapped_frames(&self, start: u64, end: u64) -> Vec<(u64, u64)> {
        let mut v = Vec::new();
        self.for_each_mapped(start, end, |va, l| v.push((va, l.pte.frame())));
        v
    }

    /// The region the timeline files page `va` under.
    pub fn region_of(&self, va: u64) -> Option<RegionId> {
        let page = page_floor(va);
        let i = self.sections.partition_point(|s| s.end <= page);
        if let Some(s) = self.sections.get(i).filter(|s| s.start <= page) {
            return Some(s.region);
        }
        self.vmas.find(va).map(|v| v.region)
    }

    /// The ELF section holding byte `va` of the program, if one does.
    pub fn elf_section_at(&self, va: u64) -> Option<&str> {
        let i = self.elf_sections.partition_point(|s| s.end <= va);
        self.elf_sections.get(i).filter(|s| s.start <= va).map(|s| &*s.name)
    }

    /// Makes the frames whose translations changed stale in `phys`.
    pub fn flush_into(&mut self, phys: &mut Phys) {
        let stale = self.tables.take_stale();
        if !stale.is_empty() {
            phys.note_stale(stale);
        }
    }

    /// Maps frame `gpa` at `va`, in an area with `perms`, writable only if
    /// `writable` too (copy-on-write keeps it read-only); `locked` counts
    /// it as mlocked. Whatever was mapped there before goes.
    pub fn map_page(
        &mut self,
        phys: &mut Phys,
        va: u64,
        gpa: u64,
        perms: Perms,
        writable: bool,
        locked: bool,
    ) -> Result<(), MapError> {
        let (old, pte) = self.tables.set(&mut phys.tables, va, Pte::user(gpa, perms, writable))?;
        if old.mapped() {
            self.forget(phys, va, old.frame());
        }
        phys.add_map(gpa, Mapping { mm: self.id, va, pte });
        if locked {
            phys.update(gpa, |f| f.mlocks += 1);
        }
        self.flush_into(phys);
        Ok(())
    }

    /// Replaces the entry at `va` (same frame or another), keeping the
    /// accessed/dirty history if the frame stays.
    pub fn remap_page(
        &mut self,
        phys: &mut Phys,
        va: u64,
        gpa: u64,
        perms: Perms,
        writable: bool,
    ) -> Result<(), MapError> {
        let old = self.tables.pte(va);
        let locked = self.vmas.find(va).is_some_and(|v| v.locked);
        if old.mapped() && old.frame() == gpa {
            let new = Pte::user(gpa, perms, writable).keeping_history(old);
            self.tables.set(&mut phys.tables, va, new)?;
            self.flush_into(phys);
            return Ok(());
        }
        self.map_page(phys, va, gpa, perms, writable, locked)
    }

    fn forget(&mut self, phys: &mut Phys, va: u64, gpa: u64) {
        let locked = self.vmas.find(va).is_some_and(|v| v.locked);
        if locked {
            phys.update(gpa, |f| f.mlocks = f.mlocks.saturating_sub(1));
        }
        phys.remove_map(gpa, self.id, va);
    }

    /// Forgets page `va` for good (unmapped, zapped): a `release` row if
    /// it was resident.
    fn give_back(&mut self, phys: &mut Phys, va: u64, gpa: u64) {
        if phys.frame(gpa).is_some_and(|f| f.residency == Residency::Resident) {
            if let (Some(region), Some(vma)) = (self.region_of(va), self.vmas.find(va)) {
                self.released.push(Released { va, gpa, region, mapping: vma.start });
            }
        }
        self.forget(phys, va, gpa);
    }

    /// Gives the anonymous pages of the [`FILL_PAGES`] block around `va`
    /// that have none a frame and a page-table entry, as the first touch in
    /// the block needs. Returns `va`'s frame.
    pub fn fill_anon(&mut self, phys: &mut Phys, va: u64, block_pages: u64) -> Result<u64, MapError> {
        let vma = self.vmas.find(va).cloned().expect("caller checked the VMA");
        debug_assert!(vma.is_anon() && !vma.shared);
        let block = block_pages.clamp(1, 512).next_power_of_two() * PAGE_SIZE;
        let start = (va & !(block - 1)).max(vma.start);
        let end = ((va & !(block - 1)) + block).min(vma.end);
        let mut at = start;
        while at < end {
            if !self.tables.pte(at).mapped() {
                let gpa = phys.alloc(FrameKind::Anon, Content::Zero)?;
                if let Err(e) = self.map_page(phys, at, gpa, vma.perms, true, vma.locked) {
                    phys.free_if_unused(gpa);
                    return Err(e);
                }
            }
            at += PAGE_SIZE;
        }
        Ok(self.tables.pte(page_floor(va)).frame())
    }

    /// Removes the VMAs of `[start, end)` and every page in it; frames go
    /// back when nothing else maps them.
    pub fn unmap(&mut self, phys: &mut Phys, start: u64, end: u64) -> Vec<Vma> {
        let pages = self.mapped_frames(start, end);
        for (va, gpa) in pages {
            self.tables.clear(va);
            self.give_back(phys, va, gpa);
        }
        for va in self.tables.guards(start, end) {
            self.tables.clear(va);
        }
        let gone = self.vmas.remove(start, end);
        self.flush_into(phys);
        gone
    }

    /// Drops the pages of `[start, end)` but keeps the VMAs (MADV_DONTNEED
    /// on a private mapping): the next touch gets fresh zeroes or the
    /// file's bytes again.
    pub fn zap(&mut self, phys: &mut Phys, start: u64, end: u64) {
        for (va, gpa) in self.mapped_frames(start, end) {
            self.tables.clear(va);
            self.give_back(phys, va, gpa);
        }
        self.flush_into(phys);
    }

    /// MADV_GUARD_INSTALL: the pages of `[start, end)` go and each entry
    /// becomes a guard marker, which any access faults on (SIGSEGV) until
    /// MADV_GUARD_REMOVE. Markers stay through MADV_DONTNEED and mprotect,
    /// go with munmap, and move with mremap and fork as the entries do.
    pub fn install_guards(&mut self, phys: &mut Phys, start: u64, end: u64) -> Result<(), MapError> {
        self.zap(phys, start, end);
        for va in (start..end).step_by(PAGE_SIZE as usize) {
            self.tables.set(&mut phys.tables, va, Pte::GUARD)?;
        }
        Ok(())
    }

    /// MADV_GUARD_REMOVE: the guard markers of `[start, end)` go (the pages
    /// they guarded were dropped when they were put there).
    pub fn remove_guards(&mut self, start: u64, end: u64) {
        for va in self.tables.guards(start, end) {
            self.tables.clear(va);
        }
    }

    /// Whether page `va`'s entry may be writable: the area allows writes
    /// and the frame is this mapping's alone (or the area is shared).
    pub fn may_write(&self, phys: &Phys, vma: &Vma, gpa: u64) -> bool {
        if !vma.perms.write {
            return false;
        }
        if vma.shared {
            return true;
        }
        phys.frame(gpa).is_some_and(|f| f.maps.len() == 1 && !f.cached && f.residency != Residency::Zero)
    }

    /// Changes the permissions of `[start, end)`, which must be mapped.
    pub fn protect(&mut self, phys: &mut Phys, start: u64, end: u64, perms: Perms) {
        self.vmas.update(start, end, |v| v.perms = perms);
        for (va, gpa) in self.mapped_frames(start, end) {
            let vma = self.vmas.find(va).cloned().expect("mapped page has a VMA");
            let writable = self.may_write(phys, &vma, gpa);
            let old = self.tables.pte(va);
            let _ = self.tables.set(&mut phys.tables, va, Pte::user(gpa, perms, writable).keeping_history(old));
        }
        self.flush_into(phys);
    }

    /// Sets VM_LOCKED (and on-fault) on `[start, end)` or clears it,
    /// counting the mapped pages' locks.
    pub fn set_locked(&mut self, phys: &mut Phys, start: u64, end: u64, locked: bool, on_fault: bool) {
        for (va, gpa) in self.mapped_frames(start, end) {
            let was = self.vmas.find(va).is_some_and(|v| v.locked);
            if was != locked {
                phys.update(gpa, |f| {
                    if locked {
                        f.mlocks += 1;
                    } else {
                        f.mlocks = f.mlocks.saturating_sub(1);
                    }
                });
            }
        }
        self.vmas.update(start, end, |v| {
            v.locked = locked;
            v.lock_on_fault = locked && on_fault;
        });
    }

    /// Moves the pages of `[old, old + len)` to `new` (free) without
    /// touching their contents: the frames stay, only the mapping moves.
    pub fn move_range(&mut self, phys: &mut Phys, old: u64, len: u64, new: u64) -> Result<(), MapError> {
        let moved = self.vmas.remove(old, old + len);
        for (va, gpa) in self.mapped_frames(old, old + len) {
            let to = va - old + new;
            let pte = self.tables.clear(va);
            let (_, slot) = self.tables.set(&mut phys.tables, to, pte)?;
            phys.move_map(gpa, self.id, va, to, slot);
        }
        for va in self.tables.guards(old, old + len) {
            self.tables.clear(va);
            self.tables.set(&mut phys.tables, va - old + new, Pte::GUARD)?;
        }
        for v in moved {
            let mut nv = v.clone();
            nv.start = v.start - old + new;
            nv.end = v.end - old + new;
            self.vmas.insert(nv);
        }
        self.flush_into(phys);
        Ok(())
    }

    /// A copy for a fork child, as Linux's dup_mmap: the same VMAs (but
    /// those marked MADV_DONTFORK, and without mlock), and every populated
    /// private page shared copy-on-write (read-only in both); shared pages
    /// stay shared. Pages never touched are not copied: the child fills
    /// its own.
    pub fn fork(&mut self, phys: &mut Phys, child_id: MmId, kernel_half: u64) -> Result<AddressSpace, MapError> {
        let mut child = AddressSpace::new(child_id, phys, kernel_half)?;
        child.brk_start = self.brk_start;
        child.brk = self.brk;
        child.mmap_base = self.mmap_base;
        child.start_stack = self.start_stack;
        child.arg = self.arg;
        child.env = self.env;
        child.saved_auxv = self.saved_auxv.clone();
        child.sigreturn_trampoline = self.sigreturn_trampoline;
        child.pin_heap = self.pin_heap;
        child.pin_mmap = self.pin_mmap;
        child.sections = self.sections.clone();
        child.elf_sections = self.elf_sections.clone();
        child.peak_size = self.vmas.total();
        let vmas: Vec<Vma> = self.vmas.iter().filter(|v| !v.dontcopy).cloned().collect();
        for v in &vmas {
            let mut cv = v.clone();
            cv.locked = false;
            cv.lock_on_fault = false;
            let anon = !v.shared
                && self
                    .mapped_frames(v.start, v.end)
                    .iter()
                    .any(|&(_, gpa)| phys.frame(gpa).is_some_and(|f| f.kind == crate::mm::FrameKind::Anon));
            let (mine, childs) = v.anon_vma.fork(anon);
            if mine != v.anon_vma {
                self.vmas.update(v.start, v.end, |p| p.anon_vma = mine);
            }
            // A wiped copy starts with no anon_vma (dup_mmap).
            cv.anon_vma = if v.wipeonfork { crate::mm::vma::AnonVma::None } else { childs };
            child.vmas.insert(cv);
            if v.wipeonfork {
                continue;
            }
            // copy_page_range() copies guard markers with the entries.
            for va in self.tables.guards(v.start, v.end) {
                child.tables.set(&mut phys.tables, va, Pte::GUARD)?;
            }
            for (va, gpa) in self.mapped_frames(v.start, v.end) {
                let Some(f) = phys.frame(gpa) else { continue };
                if f.residency == Residency::Absent && f.content == Content::Zero && !f.dirty {
                    continue;
                }
                let pte = self.tables.pte(va);
                let writable = v.shared && pte.writable();
                if !v.shared && pte.writable() {
                    let old = pte;
                    self.tables.set(&mut phys.tables, va, Pte::user(gpa, v.perms, false).keeping_history(old))?;
                }
                let child_pte = Pte::user(gpa, v.perms, writable).keeping_soft_dirty(pte);
                let (_, slot) = child.tables.set(&mut phys.tables, va, child_pte)?;
                phys.add_map(gpa, Mapping { mm: child_id, va, pte: slot });
            }
        }
        self.flush_into(phys);
        Ok(child)
    }

    /// Marks page `va` soft-dirty: the kernel wrote it (copy_to_user), not
    /// the CPU, so no dirty bit says so.
    pub fn mark_soft_dirty(&self, va: u64) {
        self.tables.mark_soft_dirty(va);
    }

    /// /proc/PID/clear_refs, as Linux's clear_refs_write: 1 to 3 clear the
    /// accessed bits (of every page, of anonymous ones, of file ones); 4
    /// clears soft-dirty: every VMA loses VM_SOFTDIRTY and every entry its
    /// soft-dirty and dirty bits (the frame keeps that it was written), and
    /// pages with their own data are write-protected, so the next write
    /// faults and marks the page again. Pages not there yet (the block
    /// fill's, the zero page's, swapped ones) fault on their next write
    /// anyway, or are marked by the CPU's write after a swap-in.
    pub fn clear_refs(&mut self, phys: &mut Phys, what: u32) {
        if what == 4 {
            self.vmas.update(0, crate::arch::layout::USER_TOP, |v| v.soft_dirty = false);
        }
        let vmas: Vec<Vma> = self.vmas.iter().cloned().collect();
        for v in &vmas {
            let file = !v.is_anon();
            if (what == 2 && file) || (what == 3 && !file) {
                continue;
            }
            for (va, gpa) in self.mapped_frames(v.start, v.end) {
                if what != 4 {
                    self.tables.clear_accessed(va);
                    continue;
                }
                let old = self.tables.pte(va);
                let protect = old.writable() && phys.frame(gpa).is_some_and(|f| f.residency == Residency::Resident);
                // The entry the swap replaced says whether the CPU wrote
                // the page up to the last moment.
                if let Ok((was, _)) = self.tables.set(&mut phys.tables, va, old.cleaned(protect)) {
                    if was.dirty() {
                        phys.update(gpa, |f| f.dirty = true);
                    }
                }
            }
        }
        self.flush_into(phys);
    }

    /// Tears everything down: every page unmapped, every table retired.
    /// Every frame's translations are invalidated too, though none through
    /// these tables can be reached again: on x86-64 that invalidation is
    /// what flushes the TLB of a vCPU later given another address space,
    /// since KVM flushes on a new CR3 from KVM_SET_SREGS only from Linux
    /// 6.6 ("KVM: x86: Force TLB flush on changes to special registers").
    pub fn release(mut self, phys: &mut Phys) {
        self.unmap(phys, 0, crate::arch::layout::USER_TOP);
        phys.drop_mm(self.id);
        self.tables.retire(&mut phys.tables);
        phys.sync_tables();
    }
}
