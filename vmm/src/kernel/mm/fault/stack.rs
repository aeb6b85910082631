//! Stack growth: a fault just below a stack extends it (expand_stack).

use super::super::super::process::Pid;
use super::super::super::KernelState;
use crate::arch::page_floor;
use crate::kernel::abi::resource::{RLIMIT_AS, RLIMIT_MEMLOCK, RLIMIT_STACK};
use crate::mm::{MmId, Vma, STACK_GUARD_GAP};

impl KernelState {
    /// A not-present fault just below a stack grows it, as Linux's
    /// expand_stack does: down to the faulting page, within RLIMIT_STACK,
    /// and never into the guard gap above another mapping. Returns the
    /// grown VMA.
    pub(super) fn expand_stack(&mut self, pid: Pid, mm: MmId, addr: u64) -> Option<Vma> {
        let addr = page_floor(addr);
        let limits = self.tasks.proc(pid)?.limits.clone();
        let space = self.mm.get(mm)?;
        let stack = space.vmas.find_from(addr).filter(|v| v.growsdown && v.start > addr).cloned()?;
        // acct_stack_growth(): within RLIMIT_STACK and RLIMIT_AS, and for a
        // locked stack within RLIMIT_MEMLOCK.
        let grow = stack.start - addr;
        if stack.end - addr > limits.cur(RLIMIT_STACK)
            || space.vmas.total().saturating_add(grow) > limits.cur(RLIMIT_AS)
            || (stack.locked
                && super::super::mlock::locked_bytes(space).saturating_add(grow) > limits.cur(RLIMIT_MEMLOCK))
        {
            return None;
        }
        // expand_downwards(): the guard gap is kept only from a previous
        // mapping that is accessible and not itself a stack.
        if let Some(p) = space.vmas.find_prev(addr).filter(|p| p.perms.any() && !p.growsdown) {
            if addr < p.end.saturating_add(STACK_GUARD_GAP) {
                return None;
            }
        }
        let space = self.mm.get_mut(mm)?;
        space.vmas.remove(stack.start, stack.end);
        let grown = Vma { start: addr, ..stack };
        space.vmas.insert(grown.clone());
        self.procfs.changed();
        Some(grown)
    }
}
