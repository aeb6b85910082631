//! Regions: what the timeline calls a place in memory (`.text`, `heap`,
//! `stack`, `mmap`, `libc.so.6`, …). Events point at their region by id;
//! names are interned once per sandbox.

use std::collections::HashMap;

/// A region's number in its run's [`RegionTable`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RegionId(pub u32);

/// What sort of memory a region is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegionKind {
    /// An ELF section of the program or, without section headers, a segment.
    Image,
    /// The main thread's stack.
    Stack,
    /// The brk heap.
    Heap,
    /// Anonymous mappings.
    Mmap,
    /// A mapped file (a shared library, a data file, shared memory).
    File,
}

/// A named place in memory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Region {
    /// `.text`, `heap`, `stack`, `mmap`, a file's path, …
    pub name: String,
    /// What sort of memory it is.
    pub kind: RegionKind,
}

/// Every region named so far, in the order first named.
#[derive(Default, Debug, Clone)]
pub struct RegionTable {
    regions: Vec<Region>,
    by_name: HashMap<String, RegionId>,
}

impl RegionTable {
    /// The region called `name`, created with `kind` if new.
    pub(crate) fn intern(&mut self, name: &str, kind: RegionKind) -> RegionId {
        if let Some(&id) = self.by_name.get(name) {
            return id;
        }
        let id = RegionId(self.regions.len() as u32);
        self.regions.push(Region { name: name.to_owned(), kind });
        self.by_name.insert(name.to_owned(), id);
        id
    }

    /// The region numbered `id`.
    pub fn get(&self, id: RegionId) -> Option<&Region> {
        self.regions.get(id.0 as usize)
    }

    /// The name of region `id` (`?` if there is none).
    pub fn name(&self, id: RegionId) -> &str {
        self.get(id).map_or("?", |r| r.name.as_str())
    }

    /// The region called `name`, if any event was in it.
    pub fn find(&self, name: &str) -> Option<RegionId> {
        self.by_name.get(name).copied()
    }

    /// Every region, in the order first named.
    pub fn iter(&self) -> impl Iterator<Item = (RegionId, &Region)> {
        self.regions.iter().enumerate().map(|(i, r)| (RegionId(i as u32), r))
    }
}
