//! First touch of anonymous memory: zeroes (or the zero page, for a read).

use super::super::super::KernelState;
use super::record::event_kind;
use super::{Resolved, Want};
use crate::fault::{self, Evicted, FaultError};
use crate::mm::MmId;

impl KernelState {
    /// First touch of an anonymous page: its block gets frames and entries,
    /// and this page its data (the zero page for a read, a zeroed page for a
    /// write).
    pub(super) fn fault_anon(
        &mut self,
        mm: MmId,
        page: u64,
        want: Want,
        evicted: &mut Vec<Evicted>,
    ) -> Result<Option<Resolved>, FaultError> {
        let gpa = {
            let k = &mut *self;
            let space = k.mm.space_mut(mm);
            space.fill_anon(&mut k.phys, page, k.cfg.fill_pages).map_err(FaultError::from)?
        };
        let filled = fault::populate(&mut self.phys, &*self.backing, gpa, want.need(), evicted)?;
        Ok(event_kind(filled).map(|k| (k, gpa)))
    }
}
