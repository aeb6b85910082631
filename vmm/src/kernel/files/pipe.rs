//! Pipes, as fs/pipe.c has them: a ring of slots, each a page of kernel
//! memory allocated as data arrives and freed once read, charged to the
//! sandbox's RAM. Reads block while it is empty and a writer exists, and
//! end of file once none does; writes block while every slot is taken, are
//! atomic up to PIPE_BUF bytes, and fail with EPIPE (and SIGPIPE) once no
//! reader exists. A write's odd bytes (its length modulo a page) go into
//! the last page if they fit, as pipe_write merges, so what a pipe holds
//! before it is full is what Linux's holds. F_SETPIPE_SZ resizes the ring
//! within fs.pipe-max-size, and fs.pipe-user-pages-soft shrinks new pipes
//! to two slots once the sandbox's user holds that many.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::arch::PAGE_SIZE;
use crate::kernel::cred::{Cred, CAP_SYS_ADMIN, CAP_SYS_RESOURCE};
use crate::kernel::errno::{Errno, EBUSY, EINVAL, EPERM, EPIPE};
use crate::kernel::wait::WaitQueue;
use crate::kernel::KernelState;
use crate::mm::{Kmem, KmemCharge, KmemClass};

/// PIPE_DEF_BUFFERS: a new pipe's slots (64 KiB).
pub(crate) const PIPE_DEF_BUFFERS: usize = 16;
/// PIPE_MIN_DEF_BUFFERS: a new pipe's slots once its user is past
/// pipe-user-pages-soft.
pub(crate) const PIPE_MIN_DEF_BUFFERS: usize = 2;
/// fs.pipe-max-size: the most an unprivileged F_SETPIPE_SZ may ask.
pub(crate) const PIPE_MAX_SIZE: u64 = 1 << 20;
/// fs.pipe-user-pages-soft: slots a user's pipes may hold before new
/// pipes get PIPE_MIN_DEF_BUFFERS.
pub(crate) const PIPE_USER_PAGES_SOFT: u64 = 16384;
/// fs.pipe-user-pages-hard: no hard limit by default.
pub(crate) const PIPE_USER_PAGES_HARD: u64 = 0;

const PAGE: usize = PAGE_SIZE as usize;

/// One slot's page and the bytes in it.
struct Buf {
    page: Box<[u8; PAGE]>,
    offset: usize,
    len: usize,
}

struct State {
    /// Occupied slots, oldest first.
    bufs: VecDeque<Buf>,
    /// Slots the pipe may fill (max_usage).
    max_usage: usize,
    readers: u32,
    writers: u32,
    /// Opens of each end ever made (r_counter, w_counter): a FIFO's
    /// opener waits for the other's to change (wait_for_partner).
    r_counter: u64,
    w_counter: u64,
    /// The pages the slots hold.
    pages: KmemCharge,
    /// pipe_inode_info and the ring of pipe_buffers.
    ring: KmemCharge,
}

pub(crate) struct Pipe {
    state: Mutex<State>,
    /// Its inode and dentry (pipefs): reclaimable slab.
    _inode: KmemCharge,
    /// Slots counted against the user's pipe pages (nr_accounted).
    accounted: AtomicU64,
    /// The user's pipe pages, shared by every pipe.
    user_pages: Arc<AtomicU64>,
    /// Threads waiting for data, or for the last writer to go.
    pub readable: WaitQueue,
    /// Threads waiting for room, or for the last reader to go.
    pub writable: WaitQueue,
}

/// What a read or write attempt did.
pub(crate) enum Io {
    Done(usize),
    /// Nothing can be done now: block (or EAGAIN when non-blocking).
    WouldBlock,
}

/// round_pipe_size(): at least a page, a power of two, and 0 (EINVAL)
/// above 2 GiB.
pub(crate) fn round_pipe_size(size: u32) -> u64 {
    match size {
        s if s as u64 > 1 << 31 => 0,
        s if (s as u64) < PAGE_SIZE => PAGE_SIZE,
        s => (s as u64).next_power_of_two(),
    }
}

/// pipe_is_unprivileged_user(): neither CAP_SYS_RESOURCE nor
/// CAP_SYS_ADMIN, so the user's pipe page limits apply.
fn unprivileged(who: &Cred) -> bool {
    !who.capable(CAP_SYS_RESOURCE) && !who.capable(CAP_SYS_ADMIN)
}

impl Drop for Pipe {
    fn drop(&mut self) {
        self.user_pages.fetch_sub(self.accounted.load(Ordering::Relaxed), Ordering::Relaxed);
    }
}

impl Pipe {
    /// Counts an open of one end, and wakes a FIFO opener waiting for
    /// it (wake_up_partner: the queues of both ends).
    pub(crate) fn open_end(&self, write: bool) {
        let mut s = self.state.lock();
        if write {
            s.writers += 1;
            s.w_counter += 1;
        } else {
            s.readers += 1;
            s.r_counter += 1;
        }
        drop(s);
        self.readable.wake_all();
        self.writable.wake_all();
    }

    /// Opens of the read and of the write end so far.
    pub(crate) fn counters(&self) -> (u64, u64) {
        let s = self.state.lock();
        (s.r_counter, s.w_counter)
    }

    pub(crate) fn close_end(&self, write: bool) {
        let mut s = self.state.lock();
        if write {
            s.writers = s.writers.saturating_sub(1);
            if s.writers == 0 {
                drop(s);
                self.readable.wake_all();
            }
        } else {
            s.readers = s.readers.saturating_sub(1);
            if s.readers == 0 {
                drop(s);
                self.writable.wake_all();
            }
        }
    }

    /// Bytes waiting.
    pub(crate) fn len(&self) -> usize {
        self.state.lock().bufs.iter().map(|b| b.len).sum()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.state.lock().bufs.is_empty()
    }

    /// Whether every slot is taken (pipe_full).
    pub(crate) fn full(&self) -> bool {
        let s = self.state.lock();
        s.bufs.len() >= s.max_usage
    }

    /// pipe_poll's EPOLLHUP for the read end: no writer is left.
    pub(crate) fn hung_up(&self) -> bool {
        !self.has_writers()
    }

    pub(crate) fn has_writers(&self) -> bool {
        self.state.lock().writers > 0
    }

    pub(crate) fn has_readers(&self) -> bool {
        self.state.lock().readers > 0
    }

    /// F_GETPIPE_SZ: its capacity in bytes.
    pub(crate) fn size(&self) -> u64 {
        self.state.lock().max_usage as u64 * PAGE_SIZE
    }

    /// Takes up to `max` bytes, slot after slot; a slot's page is freed
    /// (and uncharged) once read.
    pub(crate) fn read(&self, max: usize) -> Result<(Io, Vec<u8>), Errno> {
        let mut s = self.state.lock();
        if s.bufs.is_empty() {
            return Ok(if s.writers == 0 { (Io::Done(0), Vec::new()) } else { (Io::WouldBlock, Vec::new()) });
        }
        let mut data = Vec::new();
        while data.len() < max {
            let Some(b) = s.bufs.front_mut() else { break };
            let n = b.len.min(max - data.len());
            data.extend_from_slice(&b.page[b.offset..b.offset + n]);
            b.offset += n;
            b.len -= n;
            if b.len == 0 {
                s.bufs.pop_front();
                s.pages.shrink(Kmem::PipePage);
            }
        }
        drop(s);
        self.writable.wake_all();
        Ok((Io::Done(data.len()), data))
    }

    /// pipe_write's work on `data`: first its odd `merge` bytes into the
    /// last page if they fit there, then a new page per slot while slots
    /// are free, each charged through `charge`. What went in, or
    /// WouldBlock (full), EPIPE (no reader), or the charge's error when
    /// nothing went in.
    pub(crate) fn write(
        &self,
        data: &[u8],
        merge: usize,
        mut charge: impl FnMut(&mut KmemCharge) -> Result<(), Errno>,
    ) -> Result<Io, Errno> {
        let mut s = self.state.lock();
        if s.readers == 0 {
            return Err(EPIPE);
        }
        let mut done = 0;
        if merge > 0 && merge <= data.len() {
            if let Some(b) = s.bufs.back_mut() {
                let end = b.offset + b.len;
                if end + merge <= PAGE {
                    b.page[end..end + merge].copy_from_slice(&data[..merge]);
                    b.len += merge;
                    done = merge;
                }
            }
        }
        while done < data.len() && s.bufs.len() < s.max_usage {
            if let Err(e) = charge(&mut s.pages) {
                if done == 0 {
                    return Err(e);
                }
                break;
            }
            let n = PAGE.min(data.len() - done);
            let mut page = Box::new([0u8; PAGE]);
            page[..n].copy_from_slice(&data[done..done + n]);
            s.bufs.push_back(Buf { page, offset: 0, len: n });
            done += n;
        }
        drop(s);
        if done == 0 {
            return Ok(Io::WouldBlock);
        }
        self.readable.wake_all();
        Ok(Io::Done(done))
    }
}

impl KernelState {
    /// alloc_pipe_info(): a new pipe, its structures charged (ENOMEM past
    /// the budget; pipe(2) reports ENFILE, as get_pipe_inode's failure),
    /// with PIPE_DEF_BUFFERS slots, or PIPE_MIN_DEF_BUFFERS once the user
    /// holds more than pipe-user-pages-soft.
    pub(crate) fn new_pipe(&mut self, who: &Cred) -> Result<Arc<Pipe>, Errno> {
        let mut slots = PIPE_DEF_BUFFERS as u64;
        // alloc_pipe_info(): pipe-max-size caps the first ring of a caller
        // without CAP_SYS_RESOURCE.
        if slots * PAGE_SIZE > self.files.pipe_max_size && !who.capable(CAP_SYS_RESOURCE) {
            slots = (self.files.pipe_max_size / PAGE_SIZE).max(1);
        }
        // too_many_pipe_buffers_soft() on the count with this pipe's slots,
        // for an unprivileged user.
        if self.files.pipe_user_pages.fetch_add(slots, Ordering::Relaxed) + slots > PIPE_USER_PAGES_SOFT
            && unprivileged(who)
            && slots > PIPE_MIN_DEF_BUFFERS as u64
        {
            self.files.pipe_user_pages.fetch_sub(slots - PIPE_MIN_DEF_BUFFERS as u64, Ordering::Relaxed);
            slots = PIPE_MIN_DEF_BUFFERS as u64;
        }
        let made = (|| {
            let mut ring = self.kmem_charge(Kmem::PipeInfo, 1)?;
            ring.absorb(self.kmem_charge(Kmem::Kmalloc(slots * crate::mm::kmem::PIPE_BUFFER_BYTES), 1)?);
            let mut inode = self.kmem_charge(Kmem::Inode, 1)?;
            inode.absorb(self.kmem_charge(Kmem::Dentry, 1)?);
            Ok::<_, Errno>((ring, inode))
        })();
        let (ring, inode) = match made {
            Ok(m) => m,
            Err(e) => {
                self.files.pipe_user_pages.fetch_sub(slots, Ordering::Relaxed);
                return Err(e);
            }
        };
        let pages = KmemCharge::empty(&self.phys.kmem, KmemClass::Pages);
        Ok(Arc::new(Pipe {
            state: Mutex::new(State {
                bufs: VecDeque::new(),
                max_usage: slots as usize,
                readers: 0,
                writers: 0,
                r_counter: 0,
                w_counter: 0,
                pages,
                ring,
            }),
            _inode: inode,
            accounted: AtomicU64::new(slots),
            user_pages: self.files.pipe_user_pages.clone(),
            readable: WaitQueue::default(),
            writable: WaitQueue::default(),
        }))
    }

    /// pipe_set_size(): F_SETPIPE_SZ's size rounded (round_pipe_size),
    /// EPERM above pipe-max-size when growing (without CAP_SYS_RESOURCE)
    /// or past the user's pipe pages (for an unprivileged user), EBUSY
    /// below the slots in use, ENOMEM
    /// when the new ring cannot be had. The new size in bytes.
    pub(crate) fn pipe_set_size(&mut self, p: &Pipe, arg: u32, who: &Cred) -> Result<u64, Errno> {
        let size = round_pipe_size(arg);
        let slots = size / PAGE_SIZE;
        if slots == 0 {
            return Err(EINVAL);
        }
        let max_usage = p.state.lock().max_usage as u64;
        if slots > max_usage && size > self.files.pipe_max_size && !who.capable(CAP_SYS_RESOURCE) {
            return Err(EPERM);
        }
        let accounted = p.accounted.load(Ordering::Relaxed);
        let user = self.files.pipe_user_pages.load(Ordering::Relaxed) + slots - accounted;
        let over = (PIPE_USER_PAGES_HARD != 0 && user > PIPE_USER_PAGES_HARD) || user > PIPE_USER_PAGES_SOFT;
        if slots > accounted && over && unprivileged(who) {
            return Err(EPERM);
        }
        let mut ring = self.kmem_charge(Kmem::PipeInfo, 1)?;
        ring.absorb(self.kmem_charge(Kmem::Kmalloc(slots * crate::mm::kmem::PIPE_BUFFER_BYTES), 1)?);
        let mut s = p.state.lock();
        if (slots as usize) < s.bufs.len() {
            return Err(EBUSY);
        }
        s.ring = ring;
        s.max_usage = slots as usize;
        drop(s);
        self.files.pipe_user_pages.fetch_add(slots, Ordering::Relaxed);
        self.files.pipe_user_pages.fetch_sub(accounted, Ordering::Relaxed);
        p.accounted.store(slots, Ordering::Relaxed);
        p.writable.wake_all();
        Ok(slots * PAGE_SIZE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pipe_sizes_round_as_linux() {
        assert_eq!(round_pipe_size(0), 4096);
        assert_eq!(round_pipe_size(4097), 8192);
        assert_eq!(round_pipe_size(65537), 131072);
        assert_eq!(round_pipe_size(1 << 31), 1 << 31);
        assert_eq!(round_pipe_size((1 << 31) + 1), 0);
    }

    #[test]
    fn pipe_max_size_caps_an_unprivileged_users_pipes() {
        use crate::kernel::abi::fcntl::{F_GETPIPE_SZ, F_SETPIPE_SZ, O_WRONLY};
        use crate::kernel::abi::mman::{PROT_READ, PROT_WRITE};
        use crate::kernel::errno::{EACCES, EPERM};
        use crate::kernel::testing::{err, TestConfig, TestKernel};
        let t = TestKernel::with(TestConfig { uid: 0, ..TestConfig::default() });
        let m = t.mmap_anon(4096, PROT_READ | PROT_WRITE);
        let pipe_size = |t: &TestKernel| {
            assert_eq!(t.sys("pipe2", &[m, 0]), 0);
            let r = u32::from_le_bytes(t.peek(m, 4).try_into().unwrap()) as u64;
            (r, t.sys("fcntl", &[r, F_GETPIPE_SZ]))
        };
        let fd = t.open("/proc/sys/fs/pipe-max-size", O_WRONLY as u64);
        assert!(fd >= 0, "root may write it: {fd}");
        t.poke(m + 64, b"3000\n");
        assert_eq!(t.sys("write", &[fd as u64, m + 64, 5]), 5);
        assert_eq!(t.read_file("/proc/sys/fs/pipe-max-size").unwrap(), b"4096\n", "rounded to a page");
        // Root (CAP_SYS_RESOURCE) is not held to it.
        assert_eq!(pipe_size(&t).1, 65536);
        // An ordinary user is: a one-page pipe, and no growing past it.
        assert_eq!(t.sys("setresuid", &[1000, 1000, 1000]), 0);
        let (r, size) = pipe_size(&t);
        assert_eq!(size, 4096);
        assert_eq!(t.sys("fcntl", &[r, F_SETPIPE_SZ, 8192]), err(EPERM));
        assert_eq!(t.open("/proc/sys/fs/pipe-max-size", O_WRONLY as u64), err(EACCES));
    }
}
