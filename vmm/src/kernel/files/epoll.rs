//! epoll, as fs/eventpoll.c: an epoll file holds items, each a (file,
//! descriptor) pair with the events asked for and a word of user data.
//! An item holds its file weakly: it goes when the file's last reference
//! closes (eventpoll_release), not when one descriptor of it does.
//!
//! Readiness is the files' own ([`super::ready::poll_file`]), looked at
//! when a waiter asks rather than queued by callbacks: a level-triggered
//! item is reported while its file is ready; an edge-triggered one when
//! ready and its file's wait queues have been woken (the events Linux's
//! ep_poll_callback would have queued) since it was last reported;
//! EPOLLONESHOT disables an item once reported, until EPOLL_CTL_MOD. An
//! item reported moves behind the others, as Linux requeues it at the
//! ready list's tail.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use parking_lot::Mutex;

use super::ready::{poll_file, Exclusive, PollTable};
use super::{FileKind, OpenFile};
use crate::kernel::abi::epoll::*;
use crate::kernel::errno::{Errno, EEXIST, ELOOP, ENOENT, ENOSPC};
use crate::kernel::process::Tid;
use crate::kernel::wait::WaitQueue;
use crate::kernel::KernelState;
use crate::mm::KmemCharge;

/// struct eventpoll (kzalloc'd).
pub(crate) const EVENTPOLL_BYTES: u64 = 192;
/// struct epitem and its struct eppoll_entry (their slab caches).
pub(crate) const EPITEM_BYTES: u64 = 128;
pub(crate) const EPPOLL_ENTRY_BYTES: u64 = 72;

/// fs.epoll.max_user_watches for `ram_bytes` of RAM: 4% of it over an
/// item's cost, as eventpoll_init.
pub(crate) fn max_user_watches(ram_bytes: u64) -> u64 {
    ram_bytes / 25 / (EPITEM_BYTES + EPPOLL_ENTRY_BYTES)
}

/// An item's hold on the sandbox's watches and kernel memory.
struct Watch {
    _kmem: KmemCharge,
    count: Arc<AtomicU64>,
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.count.fetch_sub(1, Ordering::Relaxed);
    }
}

#[derive(Clone)]
struct Item {
    file: Weak<OpenFile>,
    /// The file's address: with `fd`, the item's key (ep_find's).
    key: usize,
    fd: i32,
    events: u32,
    data: u64,
    /// The file's wake-ups when last reported (edge-triggered items).
    seen: Option<u64>,
    _watch: Arc<Watch>,
}

impl Item {
    fn live(&self) -> bool {
        self.file.strong_count() > 0
    }
}

pub(crate) struct Epoll {
    items: Mutex<Vec<Item>>,
    /// Woken when an item is added or changed: waiters look again.
    pub changed: WaitQueue,
    /// The epoll files that hold this one as an item (its `refs`), for
    /// the nesting depth above it.
    parents: Mutex<Vec<Weak<Epoll>>>,
    _kmem: KmemCharge,
}

/// The epoll behind open file `f`, if it is one.
pub(crate) fn epoll_of(f: &OpenFile) -> Option<&Arc<Epoll>> {
    match &f.kind {
        FileKind::Anon(super::anon::Anon::Epoll(e)) => Some(e),
        _ => None,
    }
}

fn key(f: &Arc<OpenFile>) -> usize {
    Arc::as_ptr(f) as usize
}

impl Epoll {
    pub(crate) fn new(kmem: KmemCharge) -> Self {
        Epoll { items: Mutex::default(), changed: WaitQueue::default(), parents: Mutex::default(), _kmem: kmem }
    }

    /// Items whose file is still open.
    fn snapshot(&self) -> Vec<Item> {
        let mut items = self.items.lock();
        items.retain(Item::live);
        items.clone()
    }

    pub(crate) fn contains(&self, f: &Arc<OpenFile>, fd: i32) -> bool {
        self.snapshot().iter().any(|i| i.key == key(f) && i.fd == fd)
    }

    /// The events item (f, fd) asks for, if there is one.
    pub(crate) fn events_of(&self, f: &Arc<OpenFile>, fd: i32) -> Option<u32> {
        self.snapshot().iter().find(|i| i.key == key(f) && i.fd == fd).map(|i| i.events)
    }

    /// The epoll files among its items.
    fn children(&self) -> Vec<Arc<Epoll>> {
        self.snapshot().iter().filter_map(|i| i.file.upgrade()).filter_map(|f| epoll_of(&f).cloned()).collect()
    }

    /// How deep epoll files nest below this one (ep_loop_check_proc), or
    /// more than EP_MAX_NESTS if `into` is among them (a loop).
    fn depth_below(self: &Arc<Self>, into: &Arc<Epoll>, depth: usize, memo: &mut HashMap<usize, usize>) -> usize {
        if let Some(&d) = memo.get(&(Arc::as_ptr(self) as usize)) {
            return d;
        }
        let mut result = 0;
        for c in self.children() {
            result = if Arc::ptr_eq(&c, into) || depth > EP_MAX_NESTS {
                EP_MAX_NESTS + 1
            } else {
                result.max(c.depth_below(into, depth + 1, memo) + 1)
            };
            if result > EP_MAX_NESTS {
                break;
            }
        }
        memo.insert(Arc::as_ptr(self) as usize, result);
        result
    }

    /// How deep this one is nested in others (ep_get_upwards_depth_proc).
    fn depth_above(&self, memo: &mut HashMap<usize, usize>) -> usize {
        if let Some(&d) = memo.get(&(self as *const Epoll as usize)) {
            return d;
        }
        let parents: Vec<Arc<Epoll>> = self.parents.lock().iter().filter_map(Weak::upgrade).collect();
        let r = parents.iter().map(|p| p.depth_above(memo) + 1).max().unwrap_or(0);
        memo.insert(self as *const Epoll as usize, r);
        r
    }

    /// ep_loop_check: whether adding epoll `to` to this one would make a
    /// loop or nest deeper than EP_MAX_NESTS.
    pub(crate) fn loop_check(self: &Arc<Self>, to: &Arc<Epoll>) -> Result<(), Errno> {
        let below = to.depth_below(self, 0, &mut HashMap::new());
        if below > EP_MAX_NESTS || below + 1 + self.depth_above(&mut HashMap::new()) > EP_MAX_NESTS {
            return Err(ELOOP);
        }
        Ok(())
    }

    /// ep_insert: a new item; EEXIST if (f, fd) has one. `events` has
    /// EPOLLERR and EPOLLHUP added, as Linux always reports them.
    pub(crate) fn insert(
        self: &Arc<Self>,
        k: &mut KernelState,
        f: &Arc<OpenFile>,
        fd: i32,
        events: u32,
        data: u64,
    ) -> Result<(), Errno> {
        if self.contains(f, fd) {
            return Err(EEXIST);
        }
        let count = k.files.events().watches.clone();
        let ram = k.phys.budget.resident_pages * crate::arch::PAGE_SIZE;
        if count.load(Ordering::Relaxed) >= max_user_watches(ram) {
            return Err(ENOSPC);
        }
        let mut kmem = k.kmem_charge(crate::mm::Kmem::Kmalloc(EPITEM_BYTES), 1)?;
        kmem.absorb(k.kmem_charge(crate::mm::Kmem::Kmalloc(EPPOLL_ENTRY_BYTES), 1)?);
        count.fetch_add(1, Ordering::Relaxed);
        let watch = Arc::new(Watch { _kmem: kmem, count });
        if let Some(child) = epoll_of(f) {
            child.parents.lock().push(Arc::downgrade(self));
        }
        let item = Item {
            file: Arc::downgrade(f),
            key: key(f),
            fd,
            events: events | EPOLLERR | EPOLLHUP,
            data,
            seen: None,
            _watch: watch,
        };
        self.items.lock().push(item);
        self.changed.wake_all();
        Ok(())
    }

    /// ep_remove: ENOENT if (f, fd) has no item.
    pub(crate) fn remove(&self, f: &Arc<OpenFile>, fd: i32) -> Result<(), Errno> {
        let mut items = self.items.lock();
        let at = items.iter().position(|i| i.key == key(f) && i.fd == fd).ok_or(ENOENT)?;
        items.remove(at);
        drop(items);
        if let Some(child) = epoll_of(f) {
            let mut p = child.parents.lock();
            if let Some(at) = p.iter().position(|w| std::ptr::eq(w.as_ptr(), self)) {
                p.remove(at);
            }
        }
        Ok(())
    }

    /// ep_modify: new events (with EPOLLERR and EPOLLHUP) and data; the
    /// item is looked at afresh (reported again if ready, even
    /// edge-triggered).
    pub(crate) fn modify(&self, f: &Arc<OpenFile>, fd: i32, events: u32, data: u64) -> Result<(), Errno> {
        let mut items = self.items.lock();
        let it = items.iter_mut().find(|i| i.key == key(f) && i.fd == fd).ok_or(ENOENT)?;
        it.events = events | EPOLLERR | EPOLLHUP;
        it.data = data;
        it.seen = None;
        drop(items);
        self.changed.wake_all();
        Ok(())
    }

    /// The items ready now, at most `max`, as (events, data); with
    /// `consume`, as epoll_wait takes them (edge-triggered ones marked
    /// seen, one-shot ones disabled, all moved behind the rest).
    pub(crate) fn ready(
        &self,
        k: &KernelState,
        tid: Tid,
        pt: &mut PollTable,
        max: usize,
        consume: bool,
    ) -> Vec<EpollEvent> {
        pt.wait_on(&self.changed);
        let mut out = Vec::new();
        let mut taken: Vec<(usize, i32, Option<u64>)> = Vec::new();
        let mut idle = Vec::new();
        for it in self.snapshot() {
            if out.len() >= max {
                break;
            }
            // Disabled by EPOLLONESHOT: nothing asked for.
            if it.events & !EP_PRIVATE_BITS == 0 {
                continue;
            }
            let Some(f) = it.file.upgrade() else { continue };
            match judge(k, tid, &f, &it, pt, consume) {
                Some((r, seen)) => {
                    out.push(EpollEvent::new(r, it.data));
                    taken.push((it.key, it.fd, seen));
                }
                // An exclusive level-triggered item found idle leaves the
                // ready list: only a wake-up it takes brings it back.
                None if it.events & (EPOLLEXCLUSIVE | EPOLLET) == EPOLLEXCLUSIVE && it.seen.is_some() => {
                    idle.push((it.key, it.fd));
                }
                None => {}
            }
        }
        if consume {
            self.requeue(taken, idle);
        }
        out
    }

    /// Records what epoll_wait took: each item's wake-ups seen, one-shot
    /// ones disabled, reported ones moved behind the rest; and the idle
    /// exclusive items that left the ready list.
    fn requeue(&self, taken: Vec<(usize, i32, Option<u64>)>, idle: Vec<(usize, i32)>) {
        let mut items = self.items.lock();
        for it in items.iter_mut().filter(|i| idle.contains(&(i.key, i.fd))) {
            it.seen = None;
        }
        for (key, fd, seen) in taken {
            let Some(at) = items.iter().position(|i| i.key == key && i.fd == fd) else { continue };
            let mut it = items.remove(at);
            it.seen = seen;
            if it.events & EPOLLONESHOT != 0 {
                it.events &= EP_PRIVATE_BITS;
            }
            items.push(it);
        }
    }
}

/// Whether item `it` (of file `f`) is reported now: its events, and the
/// wake-ups to remember as seen. An edge-triggered item needs a wake-up
/// since it was last reported; an EPOLLEXCLUSIVE one a wake-up no other
/// exclusive item took (taken now if `consume`), or, level-triggered, to
/// have taken one and stayed ready since.
fn judge(
    k: &KernelState,
    tid: Tid,
    f: &OpenFile,
    it: &Item,
    pt: &mut PollTable,
    consume: bool,
) -> Option<(u32, Option<u64>)> {
    let (et, excl) = (it.events & EPOLLET != 0, it.events & EPOLLEXCLUSIVE != 0);
    let mut sub = pt.child(it.events);
    if excl {
        sub.exclusive = Exclusive::Look;
    }
    let r = poll_file(k, tid, f, &mut sub) & it.events;
    let (wakes, unclaimed) = (sub.wakes, sub.unclaimed);
    pt.absorb(sub);
    if r == 0 || (et && it.seen == Some(wakes)) {
        return None;
    }
    if excl {
        if !unclaimed && (et || it.seen.is_none()) {
            return None;
        }
        if consume && unclaimed {
            let mut claim = pt.child(it.events);
            claim.exclusive = Exclusive::Claim;
            poll_file(k, tid, f, &mut claim);
        }
        return Some((r, Some(wakes)));
    }
    Some((r, et.then_some(wakes)))
}

impl Epoll {
    /// ep_eventpoll_poll: readable while an item is ready.
    pub(crate) fn mask(&self, k: &KernelState, tid: Tid, pt: &mut PollTable) -> u32 {
        if pt.depth > EP_MAX_NESTS {
            return 0;
        }
        if self.ready(k, tid, pt, 1, false).is_empty() {
            0
        } else {
            EPOLLIN | EPOLLRDNORM
        }
    }

    /// ep_show_fdinfo's lines, one per item.
    pub(crate) fn fdinfo(&self) -> String {
        let mut s = String::new();
        for it in self.snapshot() {
            let (ino, dev) = it.file.upgrade().map_or((0, 0), |f| (super::anon::ino_of(&f), super::anon::dev_of(&f)));
            s.push_str(&format!(
                "tfd: {:8} events: {:8x} data: {:16x}  pos:0 ino:{:x} sdev:{:x}\n",
                it.fd, it.events, it.data, ino, dev
            ));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use crate::kernel::abi::epoll::*;
    use crate::kernel::errno::*;
    use crate::kernel::testing::TestKernel;

    /// A kernel with a page of scratch memory for the calls' structs.
    fn kernel() -> (TestKernel, u64) {
        let t = TestKernel::new();
        let mem = t.mmap_anon(4096, 3);
        (t, mem)
    }

    fn ctl(t: &TestKernel, mem: u64, ep: i64, op: u64, fd: i64, events: u32, data: u64) -> i64 {
        let mut ev = events.to_le_bytes().to_vec();
        ev.extend_from_slice(&data.to_le_bytes());
        t.poke(mem, &ev);
        t.sys("epoll_ctl", &[ep as u64, op, fd as u64, mem])
    }

    /// epoll_wait with no timeout: the (events, data) it reports.
    fn wait(t: &TestKernel, mem: u64, ep: i64) -> Vec<(u32, u64)> {
        let buf = mem + 1024;
        let n = t.sys("epoll_wait", &[ep as u64, buf, 8, 0]);
        assert!(n >= 0, "epoll_wait: {n}");
        let raw = t.peek(buf, 12 * n as usize);
        raw.chunks(12)
            .map(|c| (u32::from_le_bytes(c[..4].try_into().unwrap()), u64::from_le_bytes(c[4..].try_into().unwrap())))
            .collect()
    }

    fn efd_add(t: &TestKernel, mem: u64, efd: i64, v: u64) {
        t.poke(mem + 512, &v.to_le_bytes());
        assert_eq!(t.sys("write", &[efd as u64, mem + 512, 8]), 8);
    }

    #[test]
    fn ctl_errors_are_linuxs() {
        let (t, mem) = kernel();
        assert_eq!(t.sys("epoll_create", &[0]), EINVAL.ret());
        assert_eq!(t.sys("epoll_create1", &[1]), EINVAL.ret());
        let ep = t.sys("epoll_create1", &[EPOLL_CLOEXEC as u64]);
        let efd = t.sys("eventfd2", &[0, 0]);
        assert!(ep >= 0 && efd >= 0);
        let reg = t.open("/proc/self/status", 0);
        assert_eq!(ctl(&t, mem, ep, EPOLL_CTL_ADD, reg, EPOLLIN, 0), EPERM.ret());
        assert_eq!(ctl(&t, mem, ep, EPOLL_CTL_ADD, ep, EPOLLIN, 0), EINVAL.ret());
        assert_eq!(ctl(&t, mem, efd, EPOLL_CTL_ADD, ep, EPOLLIN, 0), EINVAL.ret());
        assert_eq!(ctl(&t, mem, ep, EPOLL_CTL_ADD, 999, EPOLLIN, 0), EBADF.ret());
        assert_eq!(ctl(&t, mem, ep, EPOLL_CTL_MOD, efd, EPOLLIN, 0), ENOENT.ret());
        assert_eq!(ctl(&t, mem, ep, EPOLL_CTL_ADD, efd, EPOLLIN, 0), 0);
        assert_eq!(ctl(&t, mem, ep, EPOLL_CTL_ADD, efd, EPOLLIN, 0), EEXIST.ret());
        assert_eq!(ctl(&t, mem, ep, 9, efd, EPOLLIN, 0), EINVAL.ret());
        // A bad event pointer is EFAULT before anything else, but not for DEL.
        assert_eq!(t.sys("epoll_ctl", &[ep as u64, EPOLL_CTL_ADD, efd as u64, 8]), EFAULT.ret());
        assert_eq!(t.sys("epoll_ctl", &[ep as u64, EPOLL_CTL_DEL, efd as u64, 8]), 0);
        assert_eq!(t.sys("epoll_ctl", &[ep as u64, EPOLL_CTL_DEL, efd as u64, 8]), ENOENT.ret());
        // EPOLLEXCLUSIVE: only with ADD, only with its bits, never an epoll.
        assert_eq!(ctl(&t, mem, ep, EPOLL_CTL_ADD, efd, EPOLLIN | EPOLLEXCLUSIVE | EPOLLONESHOT, 0), EINVAL.ret());
        assert_eq!(ctl(&t, mem, ep, EPOLL_CTL_ADD, efd, EPOLLIN | EPOLLEXCLUSIVE, 0), 0);
        assert_eq!(ctl(&t, mem, ep, EPOLL_CTL_MOD, efd, EPOLLIN, 0), EINVAL.ret());
        // maxevents, and the buffer's range.
        assert_eq!(t.sys("epoll_wait", &[ep as u64, mem, 0, 0]), EINVAL.ret());
        assert_eq!(t.sys("epoll_wait", &[ep as u64, mem, EP_MAX_EVENTS + 1, 0]), EINVAL.ret());
        assert_eq!(t.sys("epoll_wait", &[ep as u64, u64::MAX - 8, 1, 0]), EFAULT.ret());
        assert_eq!(t.sys("epoll_wait", &[efd as u64, mem, 1, 0]), EINVAL.ret());
        assert_eq!(t.sys("epoll_pwait", &[ep as u64, mem, 1, 0, mem, 4]), EINVAL.ret());
    }

    #[test]
    fn loops_and_depth_are_eloop() {
        let (t, mem) = kernel();
        let eps: Vec<i64> = (0..7).map(|_| t.sys("epoll_create1", &[0])).collect();
        // A chain: eps[i] holds eps[i + 1].
        for i in 0..4 {
            assert_eq!(ctl(&t, mem, eps[i], EPOLL_CTL_ADD, eps[i + 1], EPOLLIN, 0), 0, "level {i}");
        }
        // One more level is past EP_MAX_NESTS, above or below.
        assert_eq!(ctl(&t, mem, eps[4], EPOLL_CTL_ADD, eps[5], EPOLLIN, 0), ELOOP.ret());
        assert_eq!(ctl(&t, mem, eps[5], EPOLL_CTL_ADD, eps[0], EPOLLIN, 0), ELOOP.ret());
        // And a loop.
        assert_eq!(ctl(&t, mem, eps[3], EPOLL_CTL_ADD, eps[1], EPOLLIN, 0), ELOOP.ret());
        assert_eq!(ctl(&t, mem, eps[5], EPOLL_CTL_ADD, eps[6], EPOLLIN, 0), 0);
    }

    #[test]
    fn level_edge_and_oneshot() {
        let (t, mem) = kernel();
        let efd = t.sys("eventfd2", &[0, 0]);
        let [lt, et, os] = [0, 1, 2].map(|_| t.sys("epoll_create1", &[0]));
        assert_eq!(ctl(&t, mem, lt, EPOLL_CTL_ADD, efd, EPOLLIN, 1), 0);
        assert_eq!(ctl(&t, mem, et, EPOLL_CTL_ADD, efd, EPOLLIN | EPOLLET, 2), 0);
        assert_eq!(ctl(&t, mem, os, EPOLL_CTL_ADD, efd, EPOLLIN | EPOLLONESHOT, 3), 0);
        assert!(wait(&t, mem, lt).is_empty());
        efd_add(&t, mem, efd, 1);
        assert_eq!(wait(&t, mem, lt), [(EPOLLIN, 1)]);
        assert_eq!(wait(&t, mem, lt), [(EPOLLIN, 1)]);
        assert_eq!(wait(&t, mem, et), [(EPOLLIN, 2)]);
        assert!(wait(&t, mem, et).is_empty());
        assert_eq!(wait(&t, mem, os), [(EPOLLIN, 3)]);
        assert!(wait(&t, mem, os).is_empty());
        // A new event: edge-triggered reports again; one-shot waits for MOD.
        efd_add(&t, mem, efd, 1);
        assert_eq!(wait(&t, mem, et), [(EPOLLIN, 2)]);
        assert!(wait(&t, mem, os).is_empty());
        assert_eq!(ctl(&t, mem, os, EPOLL_CTL_MOD, efd, EPOLLIN | EPOLLONESHOT, 4), 0);
        assert_eq!(wait(&t, mem, os), [(EPOLLIN, 4)]);
        // EPOLLOUT is asked for by none: a write-side wake-up is no event
        // for the edge-triggered EPOLLIN item.
        let buf = mem + 512;
        assert_eq!(t.sys("read", &[efd as u64, buf, 8]), 8);
        assert!(wait(&t, mem, lt).is_empty());
        // Closing the eventfd's only descriptor drops its items.
        efd_add(&t, mem, efd, 1);
        assert_eq!(t.sys("close", &[efd as u64]), 0);
        assert!(wait(&t, mem, lt).is_empty());
    }

    #[test]
    fn an_exclusive_wake_up_reaches_one_exclusive_item_and_every_other() {
        let (t, mem) = kernel();
        let efd = t.sys("eventfd2", &[0, 0]);
        let [a, b, plain] = [0, 1, 2].map(|_| t.sys("epoll_create1", &[0]));
        let excl = EPOLLIN | EPOLLET | EPOLLEXCLUSIVE;
        assert_eq!(ctl(&t, mem, a, EPOLL_CTL_ADD, efd, excl, 1), 0);
        assert_eq!(ctl(&t, mem, b, EPOLL_CTL_ADD, efd, excl, 2), 0);
        assert_eq!(ctl(&t, mem, plain, EPOLL_CTL_ADD, efd, EPOLLIN | EPOLLET, 3), 0);
        efd_add(&t, mem, efd, 1);
        assert_eq!(wait(&t, mem, a), [(EPOLLIN, 1)]);
        assert!(wait(&t, mem, b).is_empty(), "a took the wake-up");
        assert_eq!(wait(&t, mem, plain), [(EPOLLIN, 3)]);
        efd_add(&t, mem, efd, 1);
        assert_eq!(wait(&t, mem, b), [(EPOLLIN, 2)]);
        assert!(wait(&t, mem, a).is_empty(), "b took the wake-up");
        // Level-triggered: the one that took it keeps reporting while ready.
        let lt = t.sys("epoll_create1", &[0]);
        let lt2 = t.sys("epoll_create1", &[0]);
        assert_eq!(ctl(&t, mem, lt, EPOLL_CTL_ADD, efd, EPOLLIN | EPOLLEXCLUSIVE, 4), 0);
        assert_eq!(ctl(&t, mem, lt2, EPOLL_CTL_ADD, efd, EPOLLIN | EPOLLEXCLUSIVE, 5), 0);
        efd_add(&t, mem, efd, 1);
        assert_eq!(wait(&t, mem, lt), [(EPOLLIN, 4)]);
        assert_eq!(wait(&t, mem, lt), [(EPOLLIN, 4)]);
        assert!(wait(&t, mem, lt2).is_empty());
    }

    #[test]
    fn an_item_is_keyed_by_file_and_descriptor() {
        let (t, mem) = kernel();
        let efd = t.sys("eventfd2", &[1, 0]);
        let dup = t.sys("dup", &[efd as u64]);
        let ep = t.sys("epoll_create1", &[0]);
        assert_eq!(ctl(&t, mem, ep, EPOLL_CTL_ADD, efd, EPOLLIN, 10), 0);
        assert_eq!(ctl(&t, mem, ep, EPOLL_CTL_ADD, dup, EPOLLIN, 11), 0);
        assert_eq!(wait(&t, mem, ep).len(), 2);
        // Closing one descriptor leaves the file open: both items stay.
        assert_eq!(t.sys("close", &[efd as u64]), 0);
        assert_eq!(wait(&t, mem, ep).len(), 2);
        assert_eq!(t.sys("close", &[dup as u64]), 0);
        assert!(wait(&t, mem, ep).is_empty());
    }

    #[test]
    fn nested_epoll_is_readable_while_an_inner_item_is_ready() {
        let (t, mem) = kernel();
        let efd = t.sys("eventfd2", &[0, 0]);
        let inner = t.sys("epoll_create1", &[0]);
        let outer = t.sys("epoll_create1", &[0]);
        assert_eq!(ctl(&t, mem, inner, EPOLL_CTL_ADD, efd, EPOLLIN, 1), 0);
        assert_eq!(ctl(&t, mem, outer, EPOLL_CTL_ADD, inner, EPOLLIN, 2), 0);
        assert!(wait(&t, mem, outer).is_empty());
        efd_add(&t, mem, efd, 5);
        assert_eq!(wait(&t, mem, outer), [(EPOLLIN, 2)]);
    }
}
