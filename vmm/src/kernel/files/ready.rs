//! Readiness: what each kind of open file reports to poll, select and
//! epoll (its poll mask, EPOLL* bits, which poll's POLL* equal bit for
//! bit), and how a waiter learns it may have changed. [`poll_file`] is the
//! one function every waiter asks (Linux's vfs_poll); the [`PollTable`] it
//! is given registers the waiter on the wait queues the file's state
//! changes on, notes when a timer's state changes by itself, and sums the
//! queues' wake-ups, so edge-triggered epoll can tell a new event from an
//! old one.

use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Condvar;

use super::stdio::host_ready;
use super::{FileKind, OpenFile};
use crate::kernel::abi::epoll::*;
use crate::kernel::process::Tid;
use crate::kernel::wait::WaitQueue;
use crate::kernel::KernelState;

/// How often a wait that involves the host's stdio looks again (the
/// host's descriptors cannot wake a guest thread).
pub(crate) const HOST_TICK: Duration = Duration::from_millis(10);

/// What a poll of files collects besides their masks.
pub(crate) struct PollTable {
    /// The waiter's condition variable, registered on every queue looked
    /// at (none: only looking).
    cv: Option<Arc<Condvar>>,
    /// The wake-ups of the queues looked at, summed.
    pub wakes: u64,
    /// The earliest time a file looked at changes by itself (a timer).
    pub wake_at: Option<Instant>,
    /// Readiness came from the host: it must be looked at again.
    pub host: bool,
    /// Epoll files being polled inside one another (ep_poll's nesting).
    pub depth: usize,
    /// The events the asker wants: a wake-up that carries none of them
    /// is no event for it (ep_poll_callback's key check).
    interest: u32,
    /// For an EPOLLEXCLUSIVE item: whether to take the wake-ups found.
    pub exclusive: Exclusive,
    /// A queue looked at has a wake-up no exclusive item has taken.
    pub unclaimed: bool,
}

/// How a poll treats wake-ups meant for one exclusive waiter each.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exclusive {
    /// Not an exclusive item: every wake-up is its own.
    No,
    /// Note whether one is untaken.
    Look,
    /// Take them (the item is being reported).
    Claim,
}

impl PollTable {
    pub(crate) fn new(cv: Option<Arc<Condvar>>) -> Self {
        PollTable {
            cv,
            wakes: 0,
            wake_at: None,
            host: false,
            depth: 0,
            interest: u32::MAX,
            exclusive: Exclusive::No,
            unclaimed: false,
        }
    }

    /// A table for one file an epoll item watches, asking for `interest`.
    pub(crate) fn child(&self, interest: u32) -> Self {
        PollTable { depth: self.depth + 1, interest, ..PollTable::new(self.cv.clone()) }
    }

    /// Takes in what `c` (from [`PollTable::child`]) collected.
    pub(crate) fn absorb(&mut self, c: PollTable) {
        self.wakes = self.wakes.wrapping_add(c.wakes);
        if let Some(at) = c.wake_at {
            self.wake_by(at);
        }
        self.host |= c.host;
    }

    /// The file's state changes when `q` is woken.
    pub(crate) fn wait_on(&mut self, q: &WaitQueue) {
        self.wait_on_for(q, u32::MAX);
    }

    /// The same, for a queue whose wake-ups carry only `events`.
    pub(crate) fn wait_on_for(&mut self, q: &WaitQueue, events: u32) {
        if let Some(cv) = &self.cv {
            q.register(cv);
        }
        if events & self.interest != 0 {
            self.wakes = self.wakes.wrapping_add(q.wakes());
            if self.exclusive != Exclusive::No {
                self.unclaimed |= q.unclaimed();
                if self.exclusive == Exclusive::Claim {
                    q.claim();
                }
            }
        }
    }

    /// The file's state changes by itself at `at`.
    pub(crate) fn wake_by(&mut self, at: Instant) {
        self.wake_at = Some(self.wake_at.map_or(at, |w| w.min(at)));
    }

    /// Counts `n` changes that come with no wake-up (a timer's expiries),
    /// each carrying `events`.
    pub(crate) fn changes(&mut self, n: u64, events: u32) {
        if events & self.interest != 0 {
            self.wakes = self.wakes.wrapping_add(n);
            // No queue carries them, so none can be taken: every
            // exclusive watcher of a timer sees its expiries.
            self.unclaimed |= n > 0;
        }
    }

    /// When a waiter that found nothing ready should look again, at the
    /// latest: `deadline`, a timer, or the host's tick.
    pub(crate) fn sleep_until(&self, deadline: Option<Instant>) -> Option<Instant> {
        let mut until = [deadline, self.wake_at].into_iter().flatten().min();
        if self.host {
            let tick = Instant::now() + HOST_TICK;
            until = Some(until.map_or(tick, |u| u.min(tick)));
        }
        until
    }
}

/// What open file `f` is ready for now, as thread `tid` asks (a signalfd
/// reports the asker's signals): its EPOLL* mask, all events (the caller
/// keeps those it asked for).
pub(crate) fn poll_file(k: &KernelState, tid: Tid, f: &OpenFile, pt: &mut PollTable) -> u32 {
    match &f.kind {
        // pipe_poll.
        FileKind::PipeRead(p) => {
            pt.wait_on_for(&p.readable, EPOLLIN | EPOLLRDNORM | EPOLLHUP);
            let mut r = 0;
            if !p.is_empty() {
                r |= EPOLLIN | EPOLLRDNORM;
            }
            if p.hung_up() {
                r |= EPOLLHUP;
            }
            r
        }
        FileKind::PipeWrite(p) => {
            pt.wait_on_for(&p.writable, EPOLLOUT | EPOLLWRNORM | EPOLLERR);
            let mut r = 0;
            if !p.full() {
                r |= EPOLLOUT | EPOLLWRNORM;
            }
            if !p.has_readers() {
                r |= EPOLLERR;
            }
            r
        }
        FileKind::Fifo(fi) => fi.poll(f.flags(), pt),
        FileKind::Input(i) => match i.host_fd() {
            Some(fd) => {
                pt.host = true;
                if host_ready(fd, false, 0) {
                    EPOLLIN | EPOLLRDNORM
                } else {
                    0
                }
            }
            None => EPOLLIN | EPOLLRDNORM,
        },
        FileKind::Output(o) => match o.host_fd() {
            Some(fd) => {
                pt.host = true;
                if host_ready(fd, true, 0) {
                    EPOLLOUT | EPOLLWRNORM
                } else {
                    0
                }
            }
            None => EPOLLOUT | EPOLLWRNORM,
        },
        FileKind::Anon(a) => a.poll(k, tid, pt),
        FileKind::Socket(s) => {
            s.wait_on(pt);
            s.poll() as u16 as u32
        }
        // mounts_poll(): readable always, and EPOLLERR | EPOLLPRI once
        // for each change of the mount table since the last poll.
        FileKind::Proc { mounts_seen: Some(seen), .. } => {
            let vfs = k.files.vfs();
            pt.wait_on(vfs.mounts_wq());
            let now = vfs.mount_events();
            let changed = seen.swap(now, std::sync::atomic::Ordering::Relaxed) != now;
            EPOLLIN | EPOLLRDNORM | if changed { EPOLLERR | EPOLLPRI } else { 0 }
        }
        // Files without a poll of their own (regular files, /proc, /dev).
        _ => DEFAULT_POLLMASK,
    }
}

/// Whether epoll may watch `f` (file_can_poll): not a file whose poll is
/// the default one (regular files, directories, /proc, /dev/null), nor a
/// host stdio that is a regular file.
pub(crate) fn can_poll(f: &OpenFile) -> bool {
    match &f.kind {
        FileKind::PipeRead(_)
        | FileKind::PipeWrite(_)
        | FileKind::Fifo(_)
        | FileKind::Anon(_)
        | FileKind::Socket(_)
        | FileKind::Random
        | FileKind::Proc { mounts_seen: Some(_), .. } => true,
        FileKind::Input(i) => i.host_fd().is_none_or(host_fd_polls),
        FileKind::Output(o) => o.host_fd().is_none_or(host_fd_polls),
        _ => false,
    }
}

/// Whether the host's descriptor `fd` is one Linux can poll (not a regular
/// file or directory).
fn host_fd_polls(fd: i32) -> bool {
    let mut st = std::mem::MaybeUninit::<libc::stat>::zeroed();
    // SAFETY: fstat fills the struct; on failure it stays zeroed.
    if unsafe { libc::fstat(fd, st.as_mut_ptr()) } != 0 {
        return true;
    }
    // SAFETY: initialised by fstat (or zeroed).
    let mode = unsafe { st.assume_init() }.st_mode & libc::S_IFMT;
    !matches!(mode, libc::S_IFREG | libc::S_IFDIR)
}
