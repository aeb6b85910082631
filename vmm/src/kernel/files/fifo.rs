//! FIFOs (named pipes), as fs/pipe.c's fifo_open: a node of the view
//! whose opens meet in one [`Pipe`], the same as pipe(2)'s, kept while any
//! end is open and keyed by the node's (device, inode) so hard links
//! share it. The pipe is always the sandbox's own: a FIFO of the host
//! (in the root or in a bind) is never opened on the host, so the
//! sandbox's processes meet each other there and never a host process.

use std::collections::HashMap;
use std::sync::{Arc, Weak};

use super::pipe::Pipe;
use super::ready::PollTable;
use super::vfs::{Lookup, Meta};
use crate::kernel::abi::epoll::*;
use crate::kernel::abi::fcntl::{O_ACCMODE, O_RDONLY, O_RDWR, O_WRONLY};
use crate::kernel::errno::Errno;
use crate::kernel::KernelState;

/// The pipes of the FIFOs open now, by their node's (device, inode).
#[derive(Default)]
pub(crate) struct Fifos(HashMap<(u64, u64), Weak<Pipe>>);

/// An open FIFO: its pipe, and the node it was opened by.
pub(crate) struct Fifo {
    pub pipe: Arc<Pipe>,
    /// What stat and /proc/PID/fd report: the node, not pipefs.
    pub node: Lookup,
    /// The write end's opens when a reader opened (filp->f_pipe): a
    /// reader that found no writer sees EPOLLHUP only once one has come
    /// and gone since.
    pub w_seen: u64,
}

/// Whether access mode `flags` reads, and whether it writes.
pub(crate) fn ends(flags: u32) -> (bool, bool) {
    match flags & O_ACCMODE {
        O_RDONLY => (true, false),
        O_WRONLY => (false, true),
        O_RDWR => (true, true),
        _ => (false, false),
    }
}

impl Fifo {
    /// Counts this open's ends on the pipe (fifo_open's readers++ and
    /// writers++, which wake an opener waiting for its partner).
    pub(crate) fn open_ends(&self, flags: u32) {
        let (r, w) = ends(flags);
        if r {
            self.pipe.open_end(false);
        }
        if w {
            self.pipe.open_end(true);
        }
    }

    /// Gives back this open's ends (pipe_release).
    pub(crate) fn close_ends(&self, flags: u32) {
        let (r, w) = ends(flags);
        if r {
            self.pipe.close_end(false);
        }
        if w {
            self.pipe.close_end(true);
        }
    }

    /// pipe_poll for an open of access mode `flags`.
    pub(crate) fn poll(&self, flags: u32, pt: &mut PollTable) -> u32 {
        let (r, w) = ends(flags);
        let p = &self.pipe;
        let mut mask = 0;
        if r {
            pt.wait_on_for(&p.readable, EPOLLIN | EPOLLRDNORM | EPOLLHUP);
            if !p.is_empty() {
                mask |= EPOLLIN | EPOLLRDNORM;
            }
            if !p.has_writers() && p.counters().1 != self.w_seen {
                mask |= EPOLLHUP;
            }
        }
        if w {
            pt.wait_on_for(&p.writable, EPOLLOUT | EPOLLWRNORM | EPOLLERR);
            if !p.full() {
                mask |= EPOLLOUT | EPOLLWRNORM;
            }
            if !p.has_readers() {
                mask |= EPOLLERR;
            }
        }
        mask
    }

    /// What fstat says: the node's own meta.
    pub(crate) fn meta(&self) -> Meta {
        self.node.node.stat_now()
    }
}

impl KernelState {
    /// The pipe of FIFO node `key`: the one its open ends share, or a new
    /// one (get_pipe_inode's work at a first open).
    pub(crate) fn fifo_pipe(&mut self, key: (u64, u64), who: &crate::kernel::cred::Cred) -> Result<Arc<Pipe>, Errno> {
        if let Some(p) = self.files.fifos.0.get(&key).and_then(Weak::upgrade) {
            return Ok(p);
        }
        let p = self.new_pipe(who)?;
        // Entries whose pipes are gone go as new ones come, so the table
        // holds no more than the FIFOs open at once (and this one).
        self.files.fifos.0.retain(|_, w| w.strong_count() > 0);
        self.files.fifos.0.insert(key, Arc::downgrade(&p));
        Ok(p)
    }
}
