//! mincore(2): which pages of a range are in memory, as the program would
//! see it (resident, or a file page the page cache holds, mapped here or
//! not).

use crate::arch::PAGE_SIZE;
use crate::kernel::errno::*;
use crate::kernel::task::Ctx;
use crate::mm::Residency;

/// One byte per page of `[addr, end)`, 1 if it is in memory; ENOMEM if
/// any of it is unmapped.
pub(crate) fn mincore(ctx: &Ctx, addr: u64, end: u64) -> Result<Vec<u8>, Errno> {
    let k = &ctx.k;
    let space = k.mm.space(ctx.mm());
    if !space.vmas.covers(addr, end) {
        return Err(ENOMEM);
    }
    let mut out = vec![0u8; ((end - addr) / PAGE_SIZE) as usize];
    space.for_each_mapped(addr, end, |va, l| {
        let in_core =
            k.phys.frame(l.pte.frame()).is_some_and(|f| matches!(f.residency, Residency::Resident | Residency::Zero));
        out[((va - addr) / PAGE_SIZE) as usize] = u8::from(in_core);
    });
    for v in space.vmas.overlapping(addr, end) {
        let Some((file, first)) = v.file_page(v.start.max(addr)).map(|(f, i)| (f.id, i)) else { continue };
        let Some(c) = k.phys.cache.get(&file) else { continue };
        let (s, e) = (v.start.max(addr), v.end.min(end));
        for (i, va) in (s..e).step_by(PAGE_SIZE as usize).enumerate() {
            if let Some(&g) = c.pages.get(&(first + i as u64)) {
                if k.phys.frame(g).is_some_and(|f| f.residency == Residency::Resident) {
                    out[((va - addr) / PAGE_SIZE) as usize] = 1;
                }
            }
        }
    }
    Ok(out)
}
