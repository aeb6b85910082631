//! A file page (or shared memory) with no entry: from the page cache, read
//! in if it is not there; a private write gets its own copy.

use super::super::super::KernelState;
use super::Resolved;
use super::Want;
use crate::arch::PAGE_SIZE;
use crate::fault::{self, Evicted, FaultError, Filled, Need};
use crate::mm::{Backing, Content, FrameKind, MmId, PageCache, Vma};
use crate::timeline::EventKind;

impl KernelState {
    /// A file page (or shared memory) with no entry: the page cache has it
    /// (a minor fault) or reads it in (a major one). A private write gets
    /// its own copy at once, as do_cow_fault does.
    pub(super) fn fault_file(
        &mut self,
        mm: MmId,
        page: u64,
        vma: &Vma,
        want: Want,
        evicted: &mut Vec<Evicted>,
    ) -> Result<Option<Resolved>, FaultError> {
        let Backing::File { .. } = &vma.backing else {
            return Err(FaultError::NoFrame(page));
        };
        let (file, index) = vma.file_page(page).map(|(f, i)| (f.id, i)).expect("file backing");
        let Some(cached) = self.phys.cache.get(&file) else { return Err(FaultError::NoFrame(page)) };
        // A page wholly beyond the end of the file: SIGBUS (BUS_ADRERR).
        if index * PAGE_SIZE >= cached.data.size().div_ceil(PAGE_SIZE) * PAGE_SIZE {
            return Err(FaultError::Io(std::io::Error::from_raw_os_error(libc::EFAULT)));
        }
        let (cache_gpa, filled) = self.cache_page(file, index, evicted)?;
        let kind = if filled == Filled::FileRead { EventKind::FileCopy } else { EventKind::CacheHit };
        let k = &mut *self;
        let space = k.mm.space_mut(mm);
        if want == Want::Write && !vma.shared {
            let new = k.phys.alloc(FrameKind::Anon, Content::Zero).map_err(FaultError::from)?;
            fault::resolve::copy_frame(&mut k.phys, &*k.backing, cache_gpa, new, evicted)?;
            space.map_page(&mut k.phys, page, new, vma.perms, true, vma.locked).map_err(FaultError::from)?;
            return Ok(Some((kind, new)));
        }
        let writable = vma.shared && vma.perms.write;
        space.map_page(&mut k.phys, page, cache_gpa, vma.perms, writable, vma.locked).map_err(FaultError::from)?;
        if want == Want::Write {
            k.phys.update(cache_gpa, |f| f.dirty = true);
        }
        Ok(Some((kind, cache_gpa)))
    }

    /// Whether page `index` of `file`, not in the cache now, was in it at
    /// the start ([`PageCache`]). Not if the cache held it and let it go:
    /// that page comes from the file again. Never for memory-only files.
    pub(super) fn precached(&self, file: crate::mm::FileId, index: u64) -> bool {
        let Some(c) = self.phys.cache.get(&file) else { return false };
        if c.data.memory_only() || c.dropped.contains(&index) {
            return false;
        }
        match self.cfg.page_cache {
            PageCache::Cold => false,
            PageCache::Warm => true,
            PageCache::Host => c.data.in_host_cache(index * PAGE_SIZE),
        }
    }

    /// Page `index` of cached `file`: its frame, created and read in if it
    /// is not in the cache (or was dropped).
    pub(crate) fn cache_page(
        &mut self,
        file: crate::mm::FileId,
        index: u64,
        evicted: &mut Vec<Evicted>,
    ) -> Result<(u64, Filled), FaultError> {
        let held = self.phys.cache.get(&file).is_some_and(|c| c.pages.contains_key(&index));
        let pre = !held && self.precached(file, index);
        self.cache_page_as(file, index, pre, evicted)
    }

    /// [`KernelState::cache_page`], told whether a page not in the cache
    /// was in it at the start (`pre`, from [`KernelState::precached`]).
    pub(super) fn cache_page_as(
        &mut self,
        file: crate::mm::FileId,
        index: u64,
        pre: bool,
        evicted: &mut Vec<Evicted>,
    ) -> Result<(u64, Filled), FaultError> {
        let memory_only = self.phys.cache.get(&file).is_some_and(|c| c.data.memory_only());
        let existing = self.phys.cache.get(&file).and_then(|c| c.pages.get(&index).copied());
        let gpa = match existing {
            Some(g) => g,
            None => {
                let kind = if memory_only { FrameKind::Shmem } else { FrameKind::File };
                let g = self.phys.alloc(kind, Content::File { file, index }).map_err(FaultError::from)?;
                self.phys.update(g, |f| f.cached = true);
                if let Some(c) = self.phys.cache.get_mut(&file) {
                    c.pages.insert(index, g);
                }
                self.files.vfs_mut().note_cached(file, 1);
                g
            }
        };
        let pre = pre && existing.is_none();
        let filled = fault::populate(&mut self.phys, &*self.backing, gpa, Need::Write, evicted)?;
        let filled = match filled {
            // Shared memory's pages start as zeroes: no read from anywhere.
            Filled::FileRead if memory_only => Filled::Zeroes,
            Filled::FileRead if pre => Filled::PreCached,
            other => other,
        };
        if filled == Filled::FileRead {
            self.files.count_page_in();
        }
        Ok((gpa, filled))
    }
}
