//! Writeback: dirty pages of shared file mappings go back to their host
//! files (msync(MS_SYNC), munmap, fsync, exit). Memory-only files (shmem,
//! memfd, tmpfs) keep them.

use crate::arch::PAGE_SIZE;
use crate::kernel::errno::*;
use crate::kernel::task::Ctx;
use crate::kernel::KernelState;
use crate::mm::{MmId, Residency};

/// msync(2) of `[addr, end)` (checked by the handler): MS_SYNC writes it
/// back; MS_INVALIDATE may not touch locked memory.
pub(crate) fn msync(ctx: &mut Ctx, addr: u64, end: u64, sync: bool, invalidate: bool) -> Result<(), Errno> {
    let mm = ctx.mm();
    if invalidate && ctx.k.mm.space(mm).vmas.overlapping(addr, end).any(|v| v.locked) {
        return Err(EBUSY);
    }
    if sync {
        ctx.k.writeback_range(mm, addr, end);
    }
    if !ctx.k.mm.space(mm).vmas.covers(addr, end) {
        return Err(ENOMEM);
    }
    Ok(())
}

impl KernelState {
    /// Writes the dirty shared file pages mapped in `[start, end)` of `mm`
    /// back to their files.
    pub(crate) fn writeback_range(&mut self, mm: MmId, start: u64, end: u64) {
        let frames: Vec<u64> = {
            let space = self.mm.space(mm);
            space
                .vmas
                .overlapping(start, end)
                .filter(|v| v.shared && !v.is_anon())
                .flat_map(|v| space.mapped_frames(v.start.max(start), v.end.min(end)))
                .map(|(_, g)| g)
                .collect()
        };
        for gpa in frames {
            self.writeback_frame(gpa);
        }
    }

    /// Writes a dirty page-cache frame back to its file (memory-only files
    /// keep it).
    pub(crate) fn writeback_frame(&mut self, gpa: u64) {
        let Some(f) = self.phys.frame(gpa) else { return };
        let dirty = f.dirty
            || f.maps.iter().any(|m| {
                crate::arch::paging::entry_at(self.phys.tables.mem(), m.pte)
                    .is_some_and(crate::arch::paging::peek_dirty)
            });
        let crate::mm::Content::File { file, index } = f.content else { return };
        if !dirty || f.residency != Residency::Resident {
            return;
        }
        let Some(c) = self.phys.cache.get(&file) else { return };
        if c.data.memory_only() {
            return;
        }
        let data = c.data.clone();
        let off = index * PAGE_SIZE;
        let n = data.size().saturating_sub(off).min(PAGE_SIZE) as usize;
        let mut buf = vec![0u8; n];
        if self.phys.read(gpa, 0, &mut buf) && data.write_at(off, &buf).is_ok() {
            self.files.count_bytes_out(n as u64);
            self.phys.update(gpa, |f| f.dirty = false);
        }
    }
}
