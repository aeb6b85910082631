//! eventfd, as fs/eventfd.c: a 64-bit counter. A read takes it all (or 1
//! in semaphore mode) and blocks while it is 0; a write adds to it and
//! blocks while the sum would pass 0xfffffffffffffffe. Both move exactly
//! 8 bytes.

use std::sync::atomic::{AtomicU32, Ordering};

use parking_lot::Mutex;

use crate::kernel::abi::epoll::*;
use crate::kernel::errno::{Errno, EINVAL};
use crate::kernel::wait::WaitQueue;
use crate::mm::KmemCharge;

/// struct eventfd_ctx (kmalloc'd).
pub(crate) const EVENTFD_CTX_BYTES: u64 = 48;

/// eventfd-id in fdinfo: from an IDA, the lowest free; faultline counts.
static NEXT_ID: AtomicU32 = AtomicU32::new(0);

pub(crate) struct EventFd {
    count: Mutex<u64>,
    pub semaphore: bool,
    /// Readers waiting (woken by writes), and pollers.
    pub readable: WaitQueue,
    /// Writers waiting (woken by reads), and pollers.
    pub writable: WaitQueue,
    pub id: u32,
    _kmem: KmemCharge,
}

/// What a read or write attempt did.
pub(crate) enum Step {
    Done(u64),
    WouldBlock,
}

impl EventFd {
    pub(crate) fn new(initval: u64, semaphore: bool, kmem: KmemCharge) -> Self {
        EventFd {
            count: Mutex::new(initval),
            semaphore,
            readable: WaitQueue::default(),
            writable: WaitQueue::default(),
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            _kmem: kmem,
        }
    }

    pub(crate) fn count(&self) -> u64 {
        *self.count.lock()
    }

    /// eventfd_read's step: the value read, or nothing to read yet.
    pub(crate) fn read(&self) -> Step {
        let mut c = self.count.lock();
        if *c == 0 {
            return Step::WouldBlock;
        }
        let v = if self.semaphore { 1 } else { *c };
        *c -= v;
        drop(c);
        self.writable.wake_all();
        Step::Done(v)
    }

    /// eventfd_write's step: EINVAL for ULLONG_MAX, else `v` added, or no
    /// room for it yet.
    pub(crate) fn write(&self, v: u64) -> Result<Step, Errno> {
        if v == u64::MAX {
            return Err(EINVAL);
        }
        let mut c = self.count.lock();
        if EVENTFD_MAX - *c < v {
            return Ok(Step::WouldBlock);
        }
        *c += v;
        drop(c);
        self.readable.wake_all();
        Ok(Step::Done(v))
    }

    /// eventfd_poll.
    pub(crate) fn mask(&self) -> u32 {
        let c = self.count();
        let mut r = 0;
        if c > 0 {
            r |= EPOLLIN;
        }
        if c == u64::MAX {
            r |= EPOLLERR;
        }
        if c < EVENTFD_MAX {
            r |= EPOLLOUT;
        }
        r
    }

    /// eventfd_show_fdinfo's lines.
    pub(crate) fn fdinfo(&self) -> String {
        format!(
            "eventfd-count: {:16x}\neventfd-id: {}\neventfd-semaphore: {}\n",
            self.count(),
            self.id,
            u8::from(self.semaphore)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn efd(v: u64, sem: bool) -> EventFd {
        EventFd::new(v, sem, KmemCharge::empty(&Default::default(), crate::mm::KmemClass::SlabUnreclaimable))
    }

    #[test]
    fn counts_as_linux() {
        let e = efd(0, false);
        assert!(matches!(e.read(), Step::WouldBlock));
        assert_eq!(e.mask(), EPOLLOUT);
        assert!(matches!(e.write(3), Ok(Step::Done(3))));
        assert!(matches!(e.write(4), Ok(Step::Done(4))));
        assert_eq!(e.mask(), EPOLLIN | EPOLLOUT);
        assert!(matches!(e.read(), Step::Done(7)));
        assert_eq!(e.write(u64::MAX).err(), Some(EINVAL));
        // The most it holds is 0xfffffffffffffffe.
        assert!(matches!(e.write(EVENTFD_MAX), Ok(Step::Done(_))));
        assert_eq!(e.mask(), EPOLLIN);
        assert!(matches!(e.write(1), Ok(Step::WouldBlock)));
    }

    #[test]
    fn semaphore_reads_one() {
        let e = efd(2, true);
        assert!(matches!(e.read(), Step::Done(1)));
        assert!(matches!(e.read(), Step::Done(1)));
        assert!(matches!(e.read(), Step::WouldBlock));
    }
}
