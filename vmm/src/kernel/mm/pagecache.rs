//! Writing files through the page cache, and changing their size: the
//! other half of what read() and file faults do. A write lands in the
//! same cached pages every mapping of the file maps, so a MAP_SHARED
//! mapping sees it at once; a shrink takes the pages beyond the new end
//! out of every mapping (a later touch is SIGBUS) and out of the cache.

use std::sync::Arc;
use std::time::Instant;

use super::super::errno::*;
use super::super::KernelState;
use crate::arch::PAGE_SIZE;
use crate::fault::FaultError;
use crate::mm::{Backing, CachedFile, FileData, FileId};

impl KernelState {
    /// Registers `data` as file `id` of the page cache (if it is not yet).
    fn cache_file(&mut self, id: FileId, data: &Arc<dyn FileData>) {
        self.phys.cache.entry(id).or_insert_with(|| CachedFile::new(data.clone()));
    }

    /// `count` bytes of file `id` from `at`, through its cached pages.
    pub(crate) fn read_cached(
        &mut self,
        id: FileId,
        data: &Arc<dyn FileData>,
        at: u64,
        count: usize,
    ) -> Result<Vec<u8>, Errno> {
        let size = data.size();
        if at >= size {
            return Ok(Vec::new());
        }
        let n = (size - at).min(count as u64) as usize;
        let mut out = vec![0u8; n];
        self.cache_file(id, data);
        let mut done = 0;
        let mut evicted = Vec::new();
        while done < n {
            let off = at + done as u64;
            let (index, in_page) = (off / PAGE_SIZE, (off % PAGE_SIZE) as usize);
            let len = (PAGE_SIZE as usize - in_page).min(n - done);
            let (gpa, _) = self.cache_page(id, index, &mut evicted).map_err(|_| EIO)?;
            if !self.phys.read(gpa, in_page as u64, &mut out[done..done + len]) {
                return Err(EIO);
            }
            done += len;
        }
        self.note_evictions(&evicted, Instant::now());
        Ok(out)
    }

    /// Writes `bytes` at `at` of file `id` through its cached pages;
    /// files of the host (a read-write bind) are written through at once.
    /// Returns how much was written (short when memory ran out).
    pub(crate) fn write_cached(
        &mut self,
        id: FileId,
        data: &Arc<dyn FileData>,
        at: u64,
        bytes: &[u8],
    ) -> Result<usize, Errno> {
        self.cache_file(id, data);
        let size = data.size();
        if at > size {
            self.zero_tail(id, size)?;
        }
        let memory_only = data.memory_only();
        // The layer is a tmpfs of the default size: half of RAM. Past it a
        // write is ENOSPC (rather than the OOM killer's business).
        let limit = self.phys.budget.resident_pages / 2;
        let mut used = if memory_only { self.layer_pages() } else { 0 };
        let mut evicted = Vec::new();
        let mut done = 0;
        let mut err = None;
        while done < bytes.len() {
            let off = at + done as u64;
            let (index, in_page) = (off / PAGE_SIZE, (off % PAGE_SIZE) as usize);
            let len = (PAGE_SIZE as usize - in_page).min(bytes.len() - done);
            if memory_only && !self.phys.cache.get(&id).is_some_and(|c| c.pages.contains_key(&index)) {
                if used >= limit {
                    err = Some(ENOSPC);
                    break;
                }
                used += 1;
            }
            let gpa = match self.cache_page(id, index, &mut evicted) {
                Ok((g, _)) => g,
                Err(e) => {
                    // A full tmpfs says ENOSPC.
                    err = Some(if matches!(e, FaultError::OutOfMemory) { ENOSPC } else { EIO });
                    break;
                }
            };
            let chunk = &bytes[done..done + len];
            if !self.phys.write(gpa, in_page as u64, chunk) {
                err = Some(EIO);
                break;
            }
            if memory_only {
                self.phys.update(gpa, |f| f.dirty = true);
            } else if let Err(e) = data.write_at(off, chunk) {
                err = Some(Errno(e.raw_os_error().unwrap_or(libc::EIO)));
                break;
            } else {
                self.files.count_bytes_out(len as u64);
            }
            done += len;
            if off + len as u64 > data.size() {
                let _ = data.set_size(off + len as u64);
            }
        }
        self.note_evictions(&evicted, Instant::now());
        match err {
            Some(e) if done == 0 => Err(e),
            _ => Ok(done),
        }
    }

    /// Pages the sandbox's files hold in the page cache.
    pub(crate) fn layer_pages(&self) -> u64 {
        self.files.vfs().layer_pages()
    }

    /// Zeroes what lies beyond byte `from` in its page, if cached: bytes a
    /// mapping wrote past the end of file must not reappear when the file
    /// grows.
    fn zero_tail(&mut self, id: FileId, from: u64) -> Result<(), Errno> {
        let (index, in_page) = (from / PAGE_SIZE, from % PAGE_SIZE);
        if in_page == 0 || !self.phys.cache.get(&id).is_some_and(|c| c.pages.contains_key(&index)) {
            return Ok(());
        }
        let mut evicted = Vec::new();
        let (gpa, _) = self.cache_page(id, index, &mut evicted).map_err(|_| EIO)?;
        let zeros = vec![0u8; (PAGE_SIZE - in_page) as usize];
        self.phys.write(gpa, in_page, &zeros);
        self.phys.update(gpa, |f| f.dirty = true);
        self.note_evictions(&evicted, Instant::now());
        Ok(())
    }

    /// Sets file `id`'s size (truncate, ftruncate, fallocate, O_TRUNC).
    pub(crate) fn resize_file(&mut self, id: FileId, data: &Arc<dyn FileData>, new: u64) -> Result<(), Errno> {
        self.cache_file(id, data);
        let old = data.size();
        if new == old {
            return Ok(());
        }
        self.zero_tail(id, old.min(new))?;
        data.set_size(new).map_err(|e| Errno(e.raw_os_error().unwrap_or(libc::EIO)))?;
        if new < old {
            self.drop_pages_from(id, new.div_ceil(PAGE_SIZE));
        }
        Ok(())
    }

    /// Takes pages `first..` of file `id` out of every mapping (private
    /// copies too, as truncate_pagecache does) and out of the cache.
    pub(crate) fn drop_pages_from(&mut self, id: FileId, first: u64) {
        let mms: Vec<_> = self.mm.ids();
        for mm in mms {
            let ranges: Vec<(u64, u64)> = self
                .mm
                .space(mm)
                .vmas
                .iter()
                .filter_map(|v| match &v.backing {
                    Backing::File { file, pgoff } if file.id == id => {
                        let s =
                            if first > *pgoff { v.start.saturating_add((first - pgoff) * PAGE_SIZE) } else { v.start };
                        (s < v.end).then_some((s, v.end))
                    }
                    _ => None,
                })
                .collect();
            let k = &mut *self;
            let space = k.mm.space_mut(mm);
            for (s, e) in ranges {
                space.zap(&mut k.phys, s, e);
            }
        }
        let gone: Vec<u64> = match self.phys.cache.get_mut(&id) {
            Some(c) => {
                let keys: Vec<u64> = c.pages.range(first..).map(|(&i, _)| i).collect();
                keys.into_iter().filter_map(|i| c.pages.remove(&i)).collect()
            }
            None => Vec::new(),
        };
        self.files.vfs_mut().note_cached(id, -(gone.len() as i64));
        for gpa in gone {
            self.phys.update(gpa, |f| f.cached = false);
            self.phys.free_if_unused(gpa);
        }
        self.flush_stale();
        self.procfs.changed();
    }

    /// The files `mm` maps.
    pub(crate) fn mapped_files(&self, mm: crate::mm::MmId) -> Vec<FileId> {
        let mut v: Vec<FileId> = self
            .mm
            .space(mm)
            .vmas
            .iter()
            .filter_map(|v| match &v.backing {
                Backing::File { file, .. } => Some(file.id),
                _ => None,
            })
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    /// Frees the cached pages of a file nothing names, holds open or maps
    /// any more (unlinked, closed and unmapped), as the last iput of an
    /// unlinked inode does: a sandbox file's, or a host file's unlinked
    /// while the sandbox held it (whose cache entry also holds the host
    /// file open).
    pub(crate) fn release_if_orphan(&mut self, id: FileId) {
        // A SysV segment outlives its mappings until IPC_RMID.
        if self.shm.owns(id) {
            self.shm_detached(id);
            return;
        }
        let host_unlinked = || self.phys.cache.get(&id).is_some_and(|c| !c.data.memory_only() && c.data.unlinked());
        if !self.files.vfs().is_orphan(id) && !host_unlinked() {
            return;
        }
        let open = self.tasks.procs().any(|p| {
            p.files.iter().any(|(_, fd)| matches!(&fd.file.kind, super::super::files::FileKind::File(n) if n.id == id))
        });
        let mapped = self
            .mm
            .spaces()
            .any(|m| m.vmas.iter().any(|v| matches!(&v.backing, Backing::File { file, .. } if file.id == id)));
        if open || mapped {
            return;
        }
        self.drop_pages_from(id, 0);
        self.phys.cache.remove(&id);
        self.files.vfs_mut().forget_mem(id);
    }
}
