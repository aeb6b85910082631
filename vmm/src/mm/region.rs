//! Regions: what the timeline calls a place in memory (`.text`, `heap`,
//! `stack`, …). Pages point at their region by id.

use crate::arch::Perms;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RegionId(pub u32);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegionKind {
    /// An ELF section or, without section headers, a segment.
    Image,
    Stack,
    Heap,
    Mmap,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Region {
    pub name: String,
    pub kind: RegionKind,
    /// Lowest mapped address and one past the highest.
    pub start: u64,
    pub end: u64,
    pub perms: Perms,
    /// Pages mapped in this region now.
    pub pages: u64,
}

/// All regions, in the order they were created (the image's in address
/// order, then the stack).
#[derive(Default, Debug, Clone)]
pub struct RegionTable {
    regions: Vec<Region>,
}

impl RegionTable {
    /// The region called `name`, created with `kind` if new.
    pub fn intern(&mut self, name: &str, kind: RegionKind) -> RegionId {
        if let Some(i) = self.regions.iter().position(|r| r.name == name) {
            return RegionId(i as u32);
        }
        self.regions.push(Region {
            name: name.to_owned(),
            kind,
            start: u64::MAX,
            end: 0,
            perms: Perms::default(),
            pages: 0,
        });
        RegionId(self.regions.len() as u32 - 1)
    }

    /// Records that a page at `gva` with `perms` now belongs to `id`.
    pub fn add_page(&mut self, id: RegionId, gva: u64, perms: Perms) {
        let r = &mut self.regions[id.0 as usize];
        r.start = r.start.min(gva);
        r.end = r.end.max(gva + crate::arch::PAGE_SIZE);
        r.perms = r.perms.union(perms);
        r.pages += 1;
    }

    /// Records that a page of `id` was unmapped.
    pub fn remove_page(&mut self, id: RegionId) {
        let r = &mut self.regions[id.0 as usize];
        r.pages = r.pages.saturating_sub(1);
    }

    pub fn get(&self, id: RegionId) -> &Region {
        &self.regions[id.0 as usize]
    }

    pub fn name(&self, id: RegionId) -> &str {
        &self.get(id).name
    }

    pub fn iter(&self) -> impl Iterator<Item = (RegionId, &Region)> {
        self.regions.iter().enumerate().map(|(i, r)| (RegionId(i as u32), r))
    }
}
