//! Futexes: threads sleeping on a 32-bit word of user memory until another
//! wakes them, as glibc's and musl's mutexes, condition variables and
//! pthread_join use them. A private futex is keyed by address space and
//! address; a shared one by the frame behind it, so processes sharing
//! memory meet.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use parking_lot::Condvar;

use zerocopy::{FromZeros, IntoBytes};

use super::abi::futex::*;
use super::errno::*;
use super::task::{Ctx, Woken};
use super::thread::RestartBlock;
use super::KernelState;
use crate::mm::MmId;

/// Where waiters on one word meet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Key {
    Private(MmId, u64),
    /// Frame and offset: shared memory.
    Shared(u64),
}

struct Waiter {
    tid: u32,
    bitset: u32,
    woken: bool,
    cond: Arc<Condvar>,
    /// A futex_waitv waiter's place in its array.
    index: Option<u32>,
}

/// Every futex with waiters.
#[derive(Default)]
pub(crate) struct Futexes {
    queues: HashMap<Key, Vec<Waiter>>,
    /// futex_waitv waiters woken, and by which of their futexes (the first).
    woke: HashMap<u32, u32>,
}

impl KernelState {
    /// The key of the word at `addr` in `mm`.
    pub(crate) fn futex_key(&self, mm: MmId, addr: u64, private: bool) -> Key {
        if private {
            return Key::Private(mm, addr);
        }
        match self.mm.get(mm).map(|m| m.pte(addr)) {
            Some(p) if p.mapped() => Key::Shared(p.frame() + addr % crate::arch::PAGE_SIZE),
            _ => Key::Private(mm, addr),
        }
    }

    /// Wakes up to `n` waiters on the private word `addr` of `mm` whose
    /// bitset meets `bitset`; returns how many.
    pub(crate) fn futex_wake(&mut self, mm: MmId, addr: u64, n: u32, bitset: u32) -> u32 {
        let key = Key::Private(mm, addr);
        let mut woken = self.futex_wake_key(key, n, bitset);
        if woken < n {
            let shared = self.futex_key(mm, addr, false);
            if shared != key {
                woken += self.futex_wake_key(shared, n - woken, bitset);
            }
        }
        woken
    }

    pub(crate) fn futex_wake_key(&mut self, key: Key, n: u32, bitset: u32) -> u32 {
        let Some(q) = self.futexes.queues.get_mut(&key) else { return 0 };
        let mut woken = 0;
        for w in q.iter_mut().filter(|w| !w.woken && w.bitset & bitset != 0) {
            if woken == n {
                break;
            }
            w.woken = true;
            w.cond.notify_all();
            if let Some(i) = w.index {
                self.futexes.woke.entry(w.tid).or_insert(i);
            }
            woken += 1;
        }
        q.retain(|w| !w.woken);
        if q.is_empty() {
            self.futexes.queues.remove(&key);
        }
        woken
    }

    /// Moves up to `n` waiters from `from` to `to`.
    pub(crate) fn futex_requeue(&mut self, from: Key, to: Key, n: u32) -> u32 {
        let Some(mut q) = self.futexes.queues.remove(&from) else { return 0 };
        let moved: Vec<Waiter> = q.drain(..(n as usize).min(q.len())).collect();
        let count = moved.len() as u32;
        if !q.is_empty() {
            self.futexes.queues.insert(from, q);
        }
        self.futexes.queues.entry(to).or_default().extend(moved);
        count
    }
}

/// Most entries walked (a loop in the list must not hang the exit).
const ROBUST_LIST_LIMIT: usize = 2048;

impl KernelState {
    /// exit_robust_list(): the robust mutexes thread `tid` of `pid` still
    /// holds are marked FUTEX_OWNER_DIED and a waiter is woken, so the next
    /// locker gets EOWNERDEAD instead of waiting for ever. A bad list is
    /// simply not followed further, as in Linux.
    pub(crate) fn exit_robust_list(&mut self, pid: super::Pid, tid: super::Tid, head: u64) {
        let read = |k: &mut Self, at: u64| -> Option<u64> {
            let mut v = 0u64;
            k.copy_from_user(pid, tid, at, v.as_mut_bytes()).ok().map(|_| v)
        };
        let mut h = RobustListHead::new_zeroed();
        if self.copy_from_user(pid, tid, head, h.as_mut_bytes()).is_err() {
            return;
        }
        let (mut entry, offset) = (h.next, h.futex_offset as u64);
        let pending = h.list_op_pending & !1;
        let mut walked = 0;
        while entry & !1 != head && walked < ROBUST_LIST_LIMIT {
            let at = entry & !1;
            let Some(next) = read(self, at) else { return };
            // The one being (un)locked right now is handled last.
            if at != pending {
                self.futex_owner_died(pid, tid, at.wrapping_add(offset));
            }
            entry = next;
            walked += 1;
        }
        if pending != 0 {
            self.futex_owner_died(pid, tid, pending.wrapping_add(offset));
        }
    }

    /// handle_futex_death(): the word at `addr`, if `tid` owns it.
    fn futex_owner_died(&mut self, pid: super::Pid, tid: super::Tid, addr: u64) {
        if !addr.is_multiple_of(4) {
            return;
        }
        let mut val = 0u32;
        if self.copy_from_user(pid, tid, addr, val.as_mut_bytes()).is_err() {
            return;
        }
        if val & FUTEX_TID_MASK != tid {
            return;
        }
        let new = (val & FUTEX_WAITERS) | FUTEX_OWNER_DIED;
        if self.copy_to_user(pid, tid, addr, new.as_bytes()).is_err() {
            return;
        }
        if val & FUTEX_WAITERS != 0 {
            let Some(mm) = self.tasks.proc(pid).map(|p| p.mm) else { return };
            self.futex_wake(mm, addr, 1, FUTEX_BITSET_MATCH_ANY);
        }
    }
}

/// get_futex_key(): the key of the word at `addr`, or why there is none:
/// EINVAL if it is not aligned, EFAULT outside user space or, for a
/// shared futex (whose key is the memory behind it), where the page
/// cannot be faulted in (unmapped, PROT_NONE, past the end of a file).
/// A private futex's key is its address alone: nothing is touched.
pub(crate) fn key(ctx: &mut Ctx, addr: u64, private: bool) -> Result<Key, Errno> {
    if !addr.is_multiple_of(4) {
        return Err(EINVAL);
    }
    if addr.checked_add(4).is_none_or(|end| end > crate::arch::layout::USER_TOP) {
        return Err(EFAULT);
    }
    if !private {
        ctx.read_u32(addr)?;
    }
    Ok(ctx.k.futex_key(ctx.mm(), addr, private))
}

/// FUTEX_WAIT(_BITSET): sleeps while the word at `addr` holds `val`.
pub(crate) fn wait(
    ctx: &mut Ctx,
    addr: u64,
    val: u32,
    deadline: Option<Instant>,
    bitset: u32,
    private: bool,
) -> SysResult {
    if !addr.is_multiple_of(4) {
        return Err(EINVAL);
    }
    if bitset == 0 {
        return Err(EINVAL);
    }
    let cur = ctx.read_u32(addr)?;
    if cur != val {
        return Err(EAGAIN);
    }
    let mm = ctx.mm();
    let key = ctx.k.futex_key(mm, addr, private);
    let cond = ctx.cond();
    ctx.k.futexes.queues.entry(key).or_default().push(Waiter { tid: ctx.tid, bitset, woken: false, cond, index: None });
    let tid = ctx.tid;
    let result = loop {
        // Woken: no longer queued (a requeue may have moved it).
        let queued = ctx.k.futexes.queues.values().any(|q| q.iter().any(|w| w.tid == tid && !w.woken));
        if !queued {
            break Ok(0);
        }
        if let Some(w) = ctx.interrupted() {
            // With a timeout Linux restarts only when no handler runs
            // (ERESTART_RESTARTBLOCK), to the same deadline: EINTR even
            // under SA_RESTART.
            break Err(match (w, deadline) {
                (Woken::Signal, Some(deadline)) => {
                    let block = RestartBlock::Futex { addr, val, deadline, bitset, private };
                    ctx.thread_mut().restart_block = Some(block);
                    ERESTART_RESTARTBLOCK
                }
                _ => ctx.woken_errno(w),
            });
        }
        if let Some(Woken::Timeout) = ctx.sleep(deadline) {
            break Err(ETIMEDOUT);
        }
    };
    // Leave whichever queue it is on.
    for q in ctx.k.futexes.queues.values_mut() {
        q.retain(|w| w.tid != tid);
    }
    ctx.k.futexes.queues.retain(|_, q| !q.is_empty());
    result
}

/// futex_waitv(2): sleeps until any of `words` (address, expected value,
/// private) is woken (its index is returned), EAGAIN if one already
/// differs, ETIMEDOUT at `deadline`. Each word's key is taken (EINVAL
/// unaligned, EFAULT unreadable) before any value is compared, as
/// futex_wait_multiple_setup does.
pub(crate) fn wait_multiple(ctx: &mut Ctx, words: &[(u64, u32, bool)], deadline: Option<Instant>) -> SysResult {
    let mut keys = Vec::with_capacity(words.len());
    for &(addr, _, private) in words {
        keys.push(key(ctx, addr, private)?);
    }
    for &(addr, val, _) in words {
        if ctx.read_u32(addr)? != val {
            return Err(EAGAIN);
        }
    }
    let tid = ctx.tid;
    let cond = ctx.cond();
    for (i, k) in keys.iter().enumerate() {
        let w = Waiter { tid, bitset: FUTEX_BITSET_MATCH_ANY, woken: false, cond: cond.clone(), index: Some(i as u32) };
        ctx.k.futexes.queues.entry(*k).or_default().push(w);
    }
    let result = loop {
        if let Some(&i) = ctx.k.futexes.woke.get(&tid) {
            break Ok(i as i64);
        }
        if let Some(w) = ctx.interrupted() {
            break Err(ctx.woken_errno(w));
        }
        if let Some(Woken::Timeout) = ctx.sleep(deadline) {
            break Err(ETIMEDOUT);
        }
    };
    ctx.k.futexes.woke.remove(&tid);
    for q in ctx.k.futexes.queues.values_mut() {
        q.retain(|w| w.tid != tid);
    }
    ctx.k.futexes.queues.retain(|_, q| !q.is_empty());
    result
}
