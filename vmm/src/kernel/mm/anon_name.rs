//! Naming anonymous memory (prctl PR_SET_VMA_ANON_NAME): shown as
//! `[anon:name]` in /proc/PID/maps and as the timeline's region.

use std::sync::Arc;

use super::with_space;
use crate::kernel::errno::*;
use crate::kernel::task::Ctx;
use crate::mm::VmaKind;
use crate::timeline::RegionKind;

/// Names the anonymous memory in `[addr, end)` (`None` clears the name).
/// EBADF if a file mapping is in the range; ENOMEM at the first hole.
pub(crate) fn set_anon_name(ctx: &mut Ctx, addr: u64, end: u64, name: Option<Arc<str>>) -> Result<(), Errno> {
    let mm = ctx.mm();
    if ctx.k.mm.space(mm).vmas.overlapping(addr, end).any(|v| !v.is_anon() && !v.shared) {
        return Err(EBADF);
    }
    let region = match &name {
        Some(n) => ctx.k.report.recorder_mut().region(&format!("[anon:{n}]"), RegionKind::Mmap),
        None => ctx.k.report.recorder_mut().region("mmap", RegionKind::Mmap),
    };
    let reach = ctx.k.mm.space(mm).vmas.mapped_prefix(addr, end);
    with_space(ctx, |s, _| {
        s.vmas.update(addr, reach, |v| {
            if v.kind == VmaKind::Anon {
                v.anon_name = name.clone();
                v.region = region;
            }
        })
    });
    if reach < end {
        return Err(ENOMEM);
    }
    Ok(())
}
