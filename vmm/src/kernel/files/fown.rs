//! An open file's owner and its SIGIO (fs/fcntl.c). F_SETOWN, F_SETOWN_EX
//! and F_SETSIG say who is told and with which signal; O_ASYNC (F_SETFL or
//! FIOASYNC) puts the file on the wait queues of what it reads and writes
//! (a pipe's, a socket's), and each wake-up of one queues a SIGIO for the
//! owner. The queue is emptied when the call that caused the wake-up ends,
//! as kill_fasync sends the signal before the call returns to user space.
//! Files of other kinds keep the flag and send nothing, as in Linux for a
//! file without a fasync method.

use std::sync::{Arc, Weak};

use parking_lot::Mutex;

use super::{FileKind, OpenFile};
use crate::kernel::abi::fcntl::{FOwnerEx, F_OWNER_PGRP, F_OWNER_PID, F_OWNER_TID, O_ASYNC};
use crate::kernel::abi::poll::*;
use crate::kernel::abi::signal::{NSIGPOLL, POLL_ERR, POLL_HUP, POLL_IN, POLL_MSG, POLL_OUT, POLL_PRI};
use crate::kernel::cred::Cred;
use crate::kernel::errno::*;
use crate::kernel::process::Pid;
use crate::kernel::signal::{SigInfo, NSIG, SIGIO};
use crate::kernel::wait::WakeNotify;
use crate::kernel::KernelState;

/// Whom the owner id names (PIDTYPE_PID, PIDTYPE_TGID, PIDTYPE_PGID).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OwnerKind {
    Thread,
    Process,
    Group,
}

/// struct fown_struct.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Fown {
    owner: Option<(OwnerKind, Pid)>,
    /// F_SETSIG's signal; 0 is a plain SIGIO.
    signum: i32,
    /// Who set the owner: the signal goes where they could send one.
    uid: u32,
    euid: u32,
}

/// One file on the queues of what it watches (struct fasync_struct).
pub(crate) struct Fasync {
    file: Weak<OpenFile>,
    /// The descriptor O_ASYNC was set through: the signal's si_fd.
    fd: i32,
    queue: Arc<SigioQueue>,
}

/// The SIGIOs wake-ups queued, to be sent when the call ends.
#[derive(Default)]
pub(crate) struct SigioQueue(Mutex<Vec<(Weak<OpenFile>, i32, i32)>>);

impl WakeNotify for Fasync {
    fn woken(&self, reason: i32) {
        let mut q = self.queue.0.lock();
        // Several wake-ups in one call are one signal each way.
        if !q.iter().any(|(f, fd, r)| f.ptr_eq(&self.file) && *fd == self.fd && *r == reason) {
            q.push((self.file.clone(), self.fd, reason));
        }
    }
}

/// band_table: the poll bits each reason stands for (si_band).
fn band(reason: i32) -> u64 {
    let b = match reason {
        POLL_IN => POLLIN | POLLRDNORM,
        POLL_OUT => POLLOUT | POLLWRNORM | POLLWRBAND,
        POLL_MSG => POLLIN | POLLRDNORM | POLLMSG,
        POLL_ERR => POLLERR,
        POLL_PRI => POLLPRI | POLLRDBAND,
        POLL_HUP => POLLHUP | POLLERR,
        _ => return u64::MAX,
    };
    b as u64
}

impl KernelState {
    /// f_setown(): `who` > 0 a process, < 0 a process group, 0 nobody
    /// (ESRCH for an id nothing has, EINVAL for INT_MIN).
    pub(crate) fn f_setown(&mut self, f: &OpenFile, who: i32, cred: &Cred) -> Result<(), Errno> {
        if who == i32::MIN {
            return Err(EINVAL);
        }
        let kind = if who < 0 { OwnerKind::Group } else { OwnerKind::Process };
        self.set_owner(f, kind, who.unsigned_abs(), cred)
    }

    /// F_SETOWN_EX.
    pub(crate) fn f_setown_ex(&mut self, f: &OpenFile, o: FOwnerEx, cred: &Cred) -> Result<(), Errno> {
        let kind = match o.kind {
            F_OWNER_TID => OwnerKind::Thread,
            F_OWNER_PID => OwnerKind::Process,
            F_OWNER_PGRP => OwnerKind::Group,
            _ => return Err(EINVAL),
        };
        if o.pid < 0 {
            return Err(EINVAL);
        }
        self.set_owner(f, kind, o.pid as u32, cred)
    }

    fn set_owner(&mut self, f: &OpenFile, kind: OwnerKind, id: Pid, cred: &Cred) -> Result<(), Errno> {
        let exists = match kind {
            OwnerKind::Thread => self.tasks.thread(id).is_some(),
            OwnerKind::Process => self.tasks.proc(id).is_some(),
            OwnerKind::Group => self.tasks.procs().any(|p| p.pgid == id),
        };
        if id != 0 && !exists {
            return Err(ESRCH);
        }
        let mut o = f.fown.lock();
        o.owner = (id != 0).then_some((kind, id));
        (o.uid, o.euid) = (cred.uid, cred.euid);
        Ok(())
    }

    /// __f_setown() without force: the caller's process becomes the owner
    /// unless the file has one (F_NOTIFY does this).
    pub(crate) fn f_setown_if_none(f: &OpenFile, pid: Pid, cred: &Cred) {
        let mut o = f.fown.lock();
        if o.owner.is_none() {
            o.owner = Some((OwnerKind::Process, pid));
            (o.uid, o.euid) = (cred.uid, cred.euid);
        }
    }

    /// F_GETOWN: the process, or minus the group.
    pub(crate) fn f_getown(f: &OpenFile) -> i64 {
        match f.fown.lock().owner {
            Some((OwnerKind::Group, g)) => -(g as i64),
            Some((_, id)) => id as i64,
            None => 0,
        }
    }

    /// F_GETOWN_EX.
    pub(crate) fn f_getown_ex(f: &OpenFile) -> FOwnerEx {
        match f.fown.lock().owner {
            Some((k, id)) => FOwnerEx {
                kind: match k {
                    OwnerKind::Thread => F_OWNER_TID,
                    OwnerKind::Process => F_OWNER_PID,
                    OwnerKind::Group => F_OWNER_PGRP,
                },
                pid: id as i32,
            },
            None => FOwnerEx { kind: F_OWNER_PID, pid: 0 },
        }
    }

    /// F_SETSIG (0 is SIGIO; EINVAL past the last signal).
    pub(crate) fn f_setsig(f: &OpenFile, sig: u64) -> Result<(), Errno> {
        if sig > NSIG as u64 {
            return Err(EINVAL);
        }
        f.fown.lock().signum = sig as i32;
        Ok(())
    }

    pub(crate) fn f_getsig(f: &OpenFile) -> i64 {
        f.fown.lock().signum as i64
    }

    /// O_ASYNC on or off for `f`, through descriptor `fd`: its place on
    /// the wait queues of what it reads (told POLL_IN) and writes
    /// (POLL_OUT).
    pub(crate) fn set_fasync(&mut self, f: &Arc<OpenFile>, fd: i32, on: bool) {
        let queues = match &f.kind {
            FileKind::PipeRead(p) => vec![(&p.readable, POLL_IN)],
            FileKind::PipeWrite(p) => vec![(&p.writable, POLL_OUT)],
            FileKind::Fifo(ff) => {
                let mut v = Vec::new();
                if f.readable() {
                    v.push((&ff.pipe.readable, POLL_IN));
                }
                if f.writable() {
                    v.push((&ff.pipe.writable, POLL_OUT));
                }
                v
            }
            FileKind::Socket(s) => vec![(&s.rq, POLL_IN), (&s.wq, POLL_OUT)],
            _ => Vec::new(),
        };
        let mut held = f.fasync.lock();
        if let Some(old) = held.take() {
            let old: Arc<dyn WakeNotify> = old;
            for (q, _) in &queues {
                q.remove_notify(&old);
            }
        }
        if on {
            let n = Arc::new(Fasync { file: Arc::downgrade(f), fd, queue: self.files.sigio.clone() });
            let dynamic: Arc<dyn WakeNotify> = n.clone();
            for (q, reason) in &queues {
                q.add_notify(&dynamic, *reason);
            }
            *held = Some(n);
        }
        drop(held);
        let mut fl = f.flags.lock();
        *fl = if on { *fl | O_ASYNC } else { *fl & !O_ASYNC };
    }

    /// Sends the SIGIOs the call's wake-ups queued.
    pub(crate) fn deliver_sigio(&mut self) {
        let queued = std::mem::take(&mut *self.files.sigio.0.lock());
        for (file, fd, reason) in queued {
            if let Some(f) = file.upgrade() {
                self.sigio(&f, fd, reason);
            }
        }
    }

    /// send_sigio(): `f`'s owner learns `reason` about descriptor `fd`.
    pub(crate) fn sigio(&mut self, f: &OpenFile, fd: i32, reason: i32) {
        let fown = *f.fown.lock();
        let Some((kind, id)) = fown.owner else { return };
        let procs: Vec<Pid> = match kind {
            OwnerKind::Group => self.tasks.procs().filter(|p| p.pgid == id).map(|p| p.pid).collect(),
            OwnerKind::Process => vec![id],
            OwnerKind::Thread => self.tasks.thread(id).map(|t| t.pid).into_iter().collect(),
        };
        for pid in procs {
            let Some(p) = self.tasks.proc(pid) else { continue };
            // sigio_perm(): the setter could signal it.
            let c = &p.cred;
            if !(fown.euid == 0 || [c.suid, c.uid].contains(&fown.euid) || [c.suid, c.uid].contains(&fown.uid)) {
                continue;
            }
            let info = if fown.signum == 0 {
                SigInfo::kernel(SIGIO)
            } else {
                debug_assert!((POLL_IN..=NSIGPOLL).contains(&reason));
                SigInfo { signo: fown.signum, code: reason, band: band(reason), fd, ..Default::default() }
            };
            if kind == OwnerKind::Thread {
                self.send_thread_signal(id, info);
            } else {
                self.send_process_signal(pid, info);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::kernel::abi::fcntl::*;
    use crate::kernel::abi::mman::{PROT_READ, PROT_WRITE};
    use crate::kernel::abi::signal::POLL_IN;
    use crate::kernel::errno::*;
    use crate::kernel::signal::SIGUSR1;
    use crate::kernel::testing::{err, TestKernel};

    #[test]
    fn a_pipe_in_async_mode_signals_its_owner_with_the_fd_and_band() {
        let t = TestKernel::new();
        let m = t.mmap_anon(4096, PROT_READ | PROT_WRITE);
        assert_eq!(t.sys("pipe2", &[m, 0]), 0);
        let ends = t.peek(m, 8);
        let (r, w) =
            (u32::from_le_bytes(ends[..4].try_into().unwrap()), u32::from_le_bytes(ends[4..].try_into().unwrap()));
        let (r, w) = (r as u64, w as u64);
        // SIGUSR1 blocked, so that it waits to be taken by sigtimedwait.
        t.poke(m, &(1u64 << (SIGUSR1 - 1)).to_le_bytes());
        assert_eq!(t.sys("rt_sigprocmask", &[0, m, 0, 8]), 0);
        let pid = t.pid as u64;
        assert_eq!(t.sys("fcntl", &[r, F_SETOWN, 99_999]), err(ESRCH));
        assert_eq!(t.sys("fcntl", &[r, F_SETOWN, pid]), 0);
        assert_eq!(t.sys("fcntl", &[r, F_GETOWN]), pid as i64);
        assert_eq!(t.sys("fcntl", &[r, F_SETSIG, 65]), err(EINVAL));
        assert_eq!(t.sys("fcntl", &[r, F_SETSIG, SIGUSR1 as u64]), 0);
        assert_eq!(t.sys("fcntl", &[r, F_GETSIG]), SIGUSR1 as i64);
        let take = |t: &TestKernel| {
            // A zero timeout: the signal is pending now, or EAGAIN.
            t.poke(m + 64, &[0u8; 16]);
            t.sys("rt_sigtimedwait", &[m, m + 128, m + 64, 8])
        };
        // Not in O_ASYNC mode yet: a write tells nobody.
        t.poke(m + 512, b"x");
        assert_eq!(t.sys("write", &[w, m + 512, 1]), 1);
        assert_eq!(take(&t), err(EAGAIN));
        assert_eq!(t.sys("fcntl", &[r, F_SETFL, O_ASYNC as u64]), 0);
        assert_eq!(t.sys("fcntl", &[r, F_GETFL]) as u32 & O_ASYNC, O_ASYNC);
        assert_eq!(t.sys("write", &[w, m + 512, 1]), 1);
        assert_eq!(take(&t), SIGUSR1 as i64);
        let si = t.peek(m + 128, 32);
        let word = |i: usize| i32::from_le_bytes(si[i..i + 4].try_into().unwrap());
        assert_eq!((word(0), word(8)), (SIGUSR1, POLL_IN), "si_signo, si_code");
        assert_eq!(u64::from_le_bytes(si[16..24].try_into().unwrap()), 0x41, "si_band: POLLIN | POLLRDNORM");
        assert_eq!(word(24) as u64, r, "si_fd");
        // Off again: nothing more.
        assert_eq!(t.sys("fcntl", &[r, F_SETFL, 0]), 0);
        assert_eq!(t.sys("write", &[w, m + 512, 1]), 1);
        assert_eq!(take(&t), err(EAGAIN));
    }
}
