//! Wait queues: how a thread blocked in the kernel learns that what it waits
//! for may have happened. A blocked thread sleeps on its own condition
//! variable (paired with the kernel lock) after registering it on the
//! queues of what it waits for; waking a queue notifies them all, and each
//! re-checks its condition.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use parking_lot::{Condvar, Mutex};

/// Threads waiting for something.
#[derive(Default)]
pub(crate) struct WaitQueue {
    waiters: Mutex<Vec<Arc<Condvar>>>,
    /// Wake-ups so far: an edge-triggered epoll item reports again only
    /// after one (as ep_poll_callback queues it at each wake-up).
    wakes: AtomicU64,
    /// Wake-ups an EPOLLEXCLUSIVE item has taken: each goes to one such
    /// item, as __wake_up_common stops at the first exclusive entry.
    claimed: AtomicU64,
    /// Told of every wake-up, with the reason they were added with (a
    /// file in O_ASYNC mode, whose owner gets SIGIO: the fasync list).
    notify: Mutex<Vec<(Weak<dyn WakeNotify>, i32)>>,
}

/// Something told when a queue it is on wakes (kill_fasync's receiver).
pub(crate) trait WakeNotify: Send + Sync {
    /// The queue woke; `reason` is what the entry was added with.
    fn woken(&self, reason: i32);
}

impl WaitQueue {
    /// Registers `cv` to be notified at the next wake-up.
    pub(crate) fn register(&self, cv: &Arc<Condvar>) {
        let mut w = self.waiters.lock();
        if !w.iter().any(|c| Arc::ptr_eq(c, cv)) {
            w.push(cv.clone());
        }
    }

    /// Wakes every registered thread (they register again if they go on
    /// waiting).
    pub(crate) fn wake_all(&self) {
        self.wakes.fetch_add(1, Ordering::Relaxed);
        for cv in std::mem::take(&mut *self.waiters.lock()) {
            cv.notify_all();
        }
        // Told with this queue's lock let go: leaf locks are never held
        // two at once.
        let told: Vec<_> = {
            let mut n = self.notify.lock();
            n.retain(|(w, _)| w.strong_count() > 0);
            n.iter().filter_map(|(w, reason)| Some((w.upgrade()?, *reason))).collect()
        };
        for (w, reason) in told {
            w.woken(reason);
        }
    }

    /// Adds `n` to be told of each wake-up with `reason` (once).
    pub(crate) fn add_notify(&self, n: &Arc<dyn WakeNotify>, reason: i32) {
        let mut l = self.notify.lock();
        if !l.iter().any(|(w, _)| std::ptr::addr_eq(w.as_ptr(), Arc::as_ptr(n))) {
            l.push((Arc::downgrade(n), reason));
        }
    }

    /// Takes `n` off.
    pub(crate) fn remove_notify(&self, n: &Arc<dyn WakeNotify>) {
        self.notify.lock().retain(|(w, _)| !std::ptr::addr_eq(w.as_ptr(), Arc::as_ptr(n)));
    }
}

impl WaitQueue {
    /// Wake-ups so far.
    pub(crate) fn wakes(&self) -> u64 {
        self.wakes.load(Ordering::Relaxed)
    }

    /// Whether a wake-up has come that no exclusive watcher has taken.
    pub(crate) fn unclaimed(&self) -> bool {
        self.claimed.load(Ordering::Relaxed) < self.wakes()
    }

    /// An exclusive watcher takes every wake-up so far.
    pub(crate) fn claim(&self) {
        self.claimed.fetch_max(self.wakes(), Ordering::Relaxed);
    }
}

impl std::fmt::Debug for WaitQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WaitQueue({})", self.waiters.lock().len())
    }
}
