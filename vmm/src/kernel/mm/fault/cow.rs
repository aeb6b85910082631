//! A write to a present, write-protected page: copy-on-write for a private
//! mapping, a dirtied page-cache page for a shared one.

use super::super::super::KernelState;
use super::Resolved;
use crate::fault::{self, Cow, Evicted, FaultError};
use crate::mm::{MmId, Vma};
use crate::timeline::EventKind;

impl KernelState {
    /// A write to a present, read-only page of a writable area: shared
    /// frames are copied for the writer (copy-on-write); a shared mapping's
    /// page is just made writable.
    pub(super) fn fault_write_protected(
        &mut self,
        mm: MmId,
        page: u64,
        vma: &Vma,
        evicted: &mut Vec<Evicted>,
    ) -> Result<Option<Resolved>, FaultError> {
        let k = &mut *self;
        let space = k.mm.space_mut(mm);
        let gpa = space.pte(page).frame();
        if vma.shared {
            // Write-protected by clear_refs: wp_page_shared, a minor fault
            // on a page already in the page cache.
            space.remap_page(&mut k.phys, page, gpa, vma.perms, true).map_err(FaultError::from)?;
            k.phys.update(gpa, |f| f.dirty = true);
            return Ok(Some((EventKind::CacheHit, gpa)));
        }
        let how = fault::break_cow(&mut k.phys, &*k.backing, space, page, vma, evicted)?;
        let now = space.pte(page).frame();
        let kind = if how == Cow::Reused { EventKind::CowReuse } else { EventKind::Cow };
        Ok(Some((kind, now)))
    }
}
