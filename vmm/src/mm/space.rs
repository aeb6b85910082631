//! The address space: VMAs, the frames behind their pages, the page
//! tables that map them, and what the fault handler must put in each frame.
//! Every change to the guest's memory layout goes through here.

use std::sync::Arc;

use super::vma::{Vma, VmaKind, VmaSet};
use super::{FrameAllocator, RegionId, RegionKind, RegionTable};
use crate::arch::paging::{PageTables, PagingError, Translation};
use crate::arch::{Perms, PAGE_SIZE};
use crate::fault::{Backing, FaultError, Source};
use crate::loader::Section;

#[derive(Debug, thiserror::Error)]
pub enum MapError {
    #[error("guest RAM is exhausted: no frame left for {0:#x}")]
    OutOfFrames(u64),
    #[error("page {0:#x} is already mapped")]
    AlreadyMapped(u64),
    #[error(transparent)]
    Paging(#[from] PagingError),
    #[error(transparent)]
    Fault(#[from] FaultError),
}

/// A user page as a syscall sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UserPage {
    pub gpa: u64,
    pub writable: bool,
}

/// Linux's stack_guard_gap: 256 pages below a stack nothing may map.
pub const STACK_GUARD_GAP: u64 = 256 * PAGE_SIZE;

pub struct AddressSpace {
    tables: PageTables,
    frames: FrameAllocator,
    regions: RegionTable,
    vmas: VmaSet,
    backing: Arc<Backing>,
    sections: Vec<Section>,
}

impl AddressSpace {
    pub fn new(tables: PageTables, frames: FrameAllocator, backing: Arc<Backing>) -> Self {
        AddressSpace {
            tables,
            frames,
            regions: RegionTable::default(),
            vmas: VmaSet::default(),
            backing,
            sections: Vec::new(),
        }
    }

    pub fn tables(&self) -> &PageTables {
        &self.tables
    }

    pub fn backing(&self) -> &Arc<Backing> {
        &self.backing
    }

    pub fn regions(&self) -> &RegionTable {
        &self.regions
    }

    pub fn vmas(&self) -> &VmaSet {
        &self.vmas
    }

    pub fn region(&mut self, name: &str, kind: RegionKind) -> RegionId {
        self.regions.intern(name, kind)
    }

    /// Remembers the image's sections, to name addresses in reports.
    pub fn set_sections(&mut self, sections: Vec<Section>) {
        self.sections = sections;
    }

    /// Invalidates, on the host, every frame whose present translation
    /// changed since the guest last ran, so that no vCPU keeps a stale one.
    pub fn flush_stale(&mut self) {
        let stale = self.tables.take_stale();
        if !stale.is_empty() {
            self.backing.invalidate(stale);
        }
    }

    /// Maps one page to a fresh frame holding `source`.
    fn map_page(&mut self, gva: u64, perms: Perms, region: RegionId, source: Source) -> Result<u64, MapError> {
        if self.tables.frame(gva).is_some() {
            return Err(MapError::AlreadyMapped(gva));
        }
        let gpa = self.frames.alloc().ok_or(MapError::OutOfFrames(gva))?;
        if let Err(e) = self.tables.map_user(gva, gpa, perms) {
            self.frames.release(gpa);
            return Err(e.into());
        }
        let pte = self.tables.leaf_offset(gva).expect("just mapped");
        self.backing.add_page(gpa, gva, pte, region, source)?;
        self.regions.add_page(region, gva, perms);
        Ok(gpa)
    }

    /// Adds an image page (from the loader's plan) and its VMA coverage.
    pub fn map_image_page(&mut self, gva: u64, perms: Perms, region: RegionId, source: Source) -> Result<(), MapError> {
        self.map_page(gva, perms, region, source).map(|_| ())
    }

    /// Records the VMA of a PT_LOAD segment (pages are mapped separately).
    /// A page two segments share goes to the later one, as with Linux's
    /// MAP_FIXED mappings of each segment.
    pub fn add_image_vma(&mut self, vma: Vma) {
        self.vmas.remove(vma.start, vma.end);
        self.vmas.insert(vma);
    }

    /// Maps `[vma.start, vma.end)`, which must be free, with zero-filled
    /// pages filed under `vma.region`. All or nothing.
    pub fn map_anon(&mut self, vma: Vma) -> Result<(), MapError> {
        debug_assert!(self.vmas.is_free(vma.start, vma.end));
        let (start, end, perms, region) = (vma.start, vma.end, vma.perms, vma.region);
        let mut at = start;
        while at < end {
            if let Err(e) = self.map_page(at, perms, region, Source::Zero) {
                self.unmap_pages(start, at);
                return Err(e);
            }
            at += PAGE_SIZE;
        }
        self.vmas.insert(vma);
        Ok(())
    }

    fn unmap_pages(&mut self, start: u64, end: u64) {
        for gva in (start..end).step_by(PAGE_SIZE as usize) {
            if let Some(gpa) = self.tables.unmap_user(gva) {
                if let Some(region) = self.backing.forget(gpa) {
                    self.regions.remove_page(region);
                }
                self.frames.release(gpa);
            }
        }
    }

    /// Unmaps `[start, end)`: VMAs split, frames go back, host pages are
    /// freed so the memory really returns.
    pub fn unmap(&mut self, start: u64, end: u64) -> Vec<Vma> {
        let gone = self.vmas.remove(start, end);
        for v in &gone {
            self.unmap_pages(v.start, v.end);
        }
        gone
    }

    /// Changes permissions of `[start, end)`, which must be mapped.
    pub fn protect(&mut self, start: u64, end: u64, perms: Perms) {
        self.vmas.update(start, end, |v| v.perms = perms);
        for gva in (start..end).step_by(PAGE_SIZE as usize) {
            self.tables.protect_user(gva, perms);
        }
    }

    /// Changes VMA attributes other than permissions.
    pub fn update_vmas(&mut self, start: u64, end: u64, f: impl FnMut(&mut Vma)) {
        self.vmas.update(start, end, f);
    }

    /// Moves the pages of `[old, old + len)` to `new` (free) without
    /// touching their contents: the frames stay, only the mapping moves.
    pub fn move_range(&mut self, old: u64, len: u64, new: u64) -> Vec<Vma> {
        let moved = self.vmas.remove(old, old + len);
        for v in &moved {
            for gva in (v.start..v.end).step_by(PAGE_SIZE as usize) {
                let to = gva - old + new;
                // Only a full table pool can fail here; the page then
                // stays where it was, unreachable, until exit.
                if let Ok(Some(gpa)) = self.tables.move_user(gva, to) {
                    let pte = self.tables.leaf_offset(to).expect("just mapped");
                    self.backing.set_gva(gpa, to, pte);
                }
            }
            let mut nv = v.clone();
            nv.start = v.start - old + new;
            nv.end = v.end - old + new;
            self.vmas.insert(nv);
        }
        moved
    }

    /// Calls `f(gva, gpa)` for each mapped page of `[start, end)`.
    pub fn for_each_frame(&self, start: u64, end: u64, mut f: impl FnMut(u64, u64)) {
        for gva in (start..end).step_by(PAGE_SIZE as usize) {
            if let Some(gpa) = self.tables.frame(gva) {
                f(gva, gpa);
            }
        }
    }

    /// The user page holding `gva`, if the program may access it.
    pub fn user_page(&self, gva: u64) -> Option<UserPage> {
        match self.tables.translate(gva) {
            Some(Translation { gpa, user: true, writable, .. }) => {
                Some(UserPage { gpa: gpa & !(PAGE_SIZE - 1), writable })
            }
            _ => None,
        }
    }

    /// What a person would call the place `addr` is in.
    pub fn describe(&self, addr: u64) -> String {
        if let Some(s) = self.sections.iter().find(|s| s.addr <= addr && addr - s.addr < s.size) {
            return s.name.clone();
        }
        match self.vmas.find(addr) {
            Some(v) => match v.kind {
                VmaKind::Image { .. } => "the image".into(),
                VmaKind::Heap => "heap".into(),
                VmaKind::Stack => "stack".into(),
                VmaKind::Anon => "mmap".into(),
            },
            None => match self.vmas.find_from(addr) {
                Some(v) if v.growsdown && v.start - addr <= STACK_GUARD_GAP => "the stack guard gap".into(),
                _ => "an unmapped area".into(),
            },
        }
    }
}
