//! The address space: maps user pages to frames and answers "what is at
//! this address" for syscalls and crash reports.

use super::{FrameAllocator, RegionId, RegionKind, RegionTable};
use crate::arch::paging::{PageTables, PagingError, Translation};
use crate::arch::{Perms, PAGE_SIZE};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MapError {
    #[error("guest RAM is exhausted: {needed} more pages needed, {available} frames left (raise --mem)")]
    OutOfFrames { needed: u64, available: u64 },
    #[error("page {0:#x} is already mapped")]
    AlreadyMapped(u64),
    #[error(transparent)]
    Paging(#[from] PagingError),
}

/// A user page as a syscall sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UserPage {
    pub gpa: u64,
    pub writable: bool,
}

pub struct AddressSpace {
    tables: PageTables,
    frames: FrameAllocator,
    regions: RegionTable,
}

impl AddressSpace {
    pub fn new(tables: PageTables, frames: FrameAllocator) -> Self {
        AddressSpace { tables, frames, regions: RegionTable::default() }
    }

    pub fn tables(&self) -> &PageTables {
        &self.tables
    }

    pub fn tables_mut(&mut self) -> &mut PageTables {
        &mut self.tables
    }

    pub fn regions(&self) -> &RegionTable {
        &self.regions
    }

    pub fn region(&mut self, name: &str, kind: RegionKind) -> RegionId {
        self.regions.intern(name, kind)
    }

    pub fn frames_available(&self) -> u64 {
        self.frames.available()
    }

    /// Maps the user page at `gva` to a fresh frame; returns the frame.
    pub fn map_page(&mut self, gva: u64, perms: Perms, region: RegionId) -> Result<u64, MapError> {
        debug_assert_eq!(gva % PAGE_SIZE, 0);
        if self.tables.translate(gva).is_some() {
            return Err(MapError::AlreadyMapped(gva));
        }
        let gpa = self.frames.alloc().ok_or(MapError::OutOfFrames { needed: 1, available: 0 })?;
        if let Err(e) = self.tables.map_user(gva, gpa, perms) {
            self.frames.release(gpa);
            return Err(e.into());
        }
        self.regions.add_page(region, gva, perms);
        Ok(gpa)
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
}
