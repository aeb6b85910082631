//! Copy-on-write: a write to a page whose entry is read-only only because
//! its frame is shared (after fork, a private file page, the zero page)
//! gives the writer its own copy, as Linux's do_wp_page does. If nothing
//! else maps the frame any more, the writer simply gets it writable
//! (wp_page_reuse).

use super::backing::Backing;
use super::reclaim::{self, Evicted};
use super::resolve::{copy_frame, FaultError};
use crate::arch::PAGE_SIZE;
use crate::mm::{AddressSpace, Content, FrameKind, Phys, Residency, Vma};

/// How a copy-on-write fault was resolved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cow {
    /// The frame was the writer's alone: made writable in place.
    Reused,
    /// The writer got its own copy: a new frame, or for the zero page
    /// (mapped only here) its frame given memory of its own.
    Copied,
}

/// Resolves a write to page `va` of `space` in `vma` (private, writable),
/// whose entry maps its frame read-only.
pub fn break_cow(
    phys: &mut Phys,
    backing: &dyn Backing,
    space: &mut AddressSpace,
    va: u64,
    vma: &Vma,
    evicted: &mut Vec<Evicted>,
) -> Result<Cow, FaultError> {
    let old = space.pte(va).frame();
    let f = phys.frame(old).ok_or(FaultError::NoFrame(old))?;
    if f.maps.len() == 1 && !f.cached && f.kind == FrameKind::Anon {
        if f.residency == Residency::Zero {
            // It still maps the zero page: the host copies it on the write.
            reclaim::make_room(phys, backing, evicted)?;
            backing.writeprotect(phys.host_addr(old), PAGE_SIZE, false, true)?;
            phys.update(old, |f| {
                f.residency = Residency::Resident;
                f.dirty = true;
            });
            space.remap_page(phys, va, old, vma.perms, true).map_err(FaultError::from)?;
            return Ok(Cow::Copied);
        }
        space.remap_page(phys, va, old, vma.perms, true).map_err(FaultError::from)?;
        return Ok(Cow::Reused);
    }
    let new = phys.alloc(FrameKind::Anon, Content::Zero).map_err(FaultError::from)?;
    if let Err(e) = copy_frame(phys, backing, old, new, evicted) {
        phys.free_if_unused(new);
        return Err(e);
    }
    if space.map_page(phys, va, new, vma.perms, true, vma.locked).is_err() {
        phys.free_if_unused(new);
        return Err(FaultError::OutOfMemory);
    }
    Ok(Cow::Copied)
}
