//! Files of the anonymous inode (anon_inodefs): epoll, eventfd, timerfd
//! and signalfd. They share one inode, as Linux's anon_inode_getfile
//! gives them: what fstat and /proc/PID/fd show of them is that inode's.

use std::sync::Arc;

use super::epoll::Epoll;
use super::eventfd::EventFd;
use super::ready::PollTable;
use super::signalfd::SignalFd;
use super::timerfd::TimerFd;
use super::{FileKind, OpenFile};
use crate::kernel::abi::epoll::*;
use crate::kernel::process::Tid;
use crate::kernel::KernelState;

/// The anonymous inode's device and number, as a Linux boot gives them.
pub(crate) const ANON_DEV: u64 = 16;
pub(crate) const ANON_INO: u64 = 26;

pub(crate) enum Anon {
    Epoll(Arc<Epoll>),
    EventFd(EventFd),
    TimerFd(TimerFd),
    SignalFd(SignalFd),
}

impl Anon {
    /// The name anon_inode_getfile gives it: /proc/PID/fd shows
    /// `anon_inode:` and this.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Anon::Epoll(_) => "[eventpoll]",
            Anon::EventFd(_) => "[eventfd]",
            Anon::TimerFd(_) => "[timerfd]",
            Anon::SignalFd(_) => "[signalfd]",
        }
    }

    /// Its poll (ep_eventpoll_poll, eventfd_poll, timerfd_poll,
    /// signalfd_poll).
    pub(crate) fn poll(&self, k: &KernelState, tid: Tid, pt: &mut PollTable) -> u32 {
        match self {
            Anon::Epoll(e) => e.mask(k, tid, pt),
            Anon::EventFd(e) => {
                pt.wait_on_for(&e.readable, EPOLLIN);
                pt.wait_on_for(&e.writable, EPOLLOUT);
                e.mask()
            }
            Anon::TimerFd(t) => {
                pt.wait_on(&t.wq);
                let (r, due, total) = t.mask();
                pt.changes(total, EPOLLIN);
                if let Some(at) = due {
                    pt.wake_by(at);
                }
                r
            }
            Anon::SignalFd(s) => {
                pt.wait_on(&k.files.events().signal_wq);
                if k.signal_pending_in(tid, s.mask()) {
                    EPOLLIN
                } else {
                    0
                }
            }
        }
    }

    /// The lines /proc/PID/fdinfo/N adds for it.
    pub(crate) fn fdinfo(&self) -> String {
        match self {
            Anon::Epoll(e) => e.fdinfo(),
            Anon::EventFd(e) => e.fdinfo(),
            Anon::TimerFd(t) => t.fdinfo(),
            Anon::SignalFd(s) => s.fdinfo(),
        }
    }
}

/// A new open file for `a`, with status flags `flags`.
pub(crate) fn open_anon(a: Anon, flags: u32) -> Arc<OpenFile> {
    let path = format!("anon_inode:{}", a.name());
    OpenFile::new(FileKind::Anon(a), flags, path)
}

/// The device fdinfo shows for `f`'s file (its inode's s_dev).
pub(crate) fn dev_of(f: &OpenFile) -> u64 {
    match &f.kind {
        FileKind::Anon(_) => ANON_DEV,
        FileKind::Socket(_) => crate::kernel::net::SOCKFS_DEV,
        FileKind::Fifo(fi) => fi.meta().dev,
        _ => 0,
    }
}

/// The inode number fdinfo shows for `f`'s file.
pub(crate) fn ino_of(f: &OpenFile) -> u64 {
    match &f.kind {
        FileKind::Anon(_) => ANON_INO,
        FileKind::PipeRead(p) | FileKind::PipeWrite(p) => Arc::as_ptr(p) as u64 % 100_000,
        FileKind::Fifo(fi) => fi.meta().ino,
        _ => 0,
    }
}
