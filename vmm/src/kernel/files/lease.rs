//! File leases (fcntl's F_SETLEASE and F_GETLEASE, fs/locks.c's leases):
//! an open file description of a regular file holds a read lease while no
//! one has the file open for writing, or a write lease while no one else
//! has it open at all. An open (or truncate) that conflicts breaks it: the
//! holder's owner gets SIGIO (POLL_MSG, or F_SETSIG's signal), and the
//! opener waits until the holder gives the lease up or downgrades it, or
//! until fs.lease-break-time passes and the kernel does it for them.
//! Like the other locks, leases are the sandbox's own (nothing is leased
//! on the host), keyed by the file's identity, and each is a lock record
//! of kernel memory.

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use super::locks::{LockKey, LockType};
use super::{FileKind, OpenFile};
use crate::kernel::abi::fcntl::{F_RDLCK, F_UNLCK, F_WRLCK};
use crate::kernel::abi::signal::POLL_MSG;
use crate::kernel::cred::{Cred, CAP_LEASE};
use crate::kernel::errno::*;
use crate::kernel::process::Pid;
use crate::kernel::wait::WaitQueue;
use crate::kernel::KernelState;
use crate::mm::KmemCharge;

/// fs.lease-break-time's default, in seconds.
pub(crate) const LEASE_BREAK_TIME: i32 = 45;

struct Lease {
    file: Weak<OpenFile>,
    /// The descriptor F_SETLEASE came through: the signal's si_fd.
    fd: i32,
    kind: LockType,
    /// Being broken: what it must become (none, or a read lease), and
    /// when the kernel makes it so.
    breaking: Option<(LockType, Instant)>,
    _record: Option<KmemCharge>,
}

impl Lease {
    fn holds(&self, f: &OpenFile) -> bool {
        std::ptr::eq(self.file.as_ptr(), f)
    }
}

/// Every lease in the sandbox, and the queue their breakers wait on.
pub(crate) struct Leases {
    by_file: HashMap<LockKey, Vec<Lease>>,
    /// Woken when a lease changes or its file is released.
    pub(crate) wq: Arc<WaitQueue>,
    /// fs.lease-break-time, in seconds (an int, as the sysctl keeps it).
    pub(crate) break_time: i32,
}

impl Default for Leases {
    fn default() -> Self {
        Leases { by_file: HashMap::new(), wq: Arc::default(), break_time: LEASE_BREAK_TIME }
    }
}

/// What an open must do about the leases on its file.
pub(crate) enum Break {
    /// Nothing in the way.
    Clear,
    /// Leases are being broken: wait until this time at the latest.
    Wait(Instant),
}

impl KernelState {
    /// The open descriptions of `key` other than `me`: (read-only ones,
    /// writable ones), as i_readcount and i_writecount count them.
    fn open_counts(&self, key: LockKey, me: &OpenFile) -> (u32, u32) {
        let mut seen: Vec<*const OpenFile> = Vec::new();
        let (mut r, mut w) = (0, 0);
        for p in self.tasks.procs() {
            for (_, fd) in p.files.iter() {
                let f = &fd.file;
                let ptr = Arc::as_ptr(f);
                if std::ptr::eq(ptr, me) || seen.contains(&ptr) || !matches!(f.kind, FileKind::File(_)) {
                    continue;
                }
                if LockKey::of(f) != key {
                    continue;
                }
                seen.push(ptr);
                if f.writable() {
                    w += 1;
                } else if f.readable() {
                    r += 1;
                }
            }
        }
        (r, w)
    }

    /// F_SETLEASE on `f` (through descriptor `fd`), as generic_setlease.
    pub(crate) fn set_lease(
        &mut self,
        f: &Arc<OpenFile>,
        fd: i32,
        arg: i16,
        pid: Pid,
        cred: &Cred,
    ) -> Result<(), Errno> {
        let FileKind::File(n) = &f.kind else { return Err(EINVAL) };
        if n.meta.uid != cred.fsuid && !cred.capable(CAP_LEASE) {
            return Err(EACCES);
        }
        let kind = match arg {
            F_RDLCK => LockType::Read,
            F_WRLCK => LockType::Write,
            F_UNLCK => LockType::Unlock,
            _ => return Err(EINVAL),
        };
        let key = LockKey::of(f);
        self.lease_prune(key);
        // Only a lease that is made gets an entry: a guest asking about
        // many files makes nothing.
        let none = Vec::new();
        let list = self.files.leases.by_file.get(&key).unwrap_or(&none);
        let mine = list.iter().position(|l| l.holds(f));
        if kind == LockType::Unlock {
            let Some(i) = mine else { return Err(EAGAIN) };
            if let Some(v) = self.files.leases.by_file.get_mut(&key) {
                v.remove(i);
            }
            self.lease_changed(key);
            return Ok(());
        }
        // check_conflicting_open(): a read lease while the file is open for
        // writing (an opener waiting to break one counts), a write lease
        // while anyone else has it open.
        let breaking_write = list.iter().any(|l| matches!(l.breaking, Some((LockType::Unlock, _))));
        // Another's lease: no write lease beside it, and no new lease
        // while one is being given up for a writer.
        let others = list.iter().filter(|l| !l.holds(f));
        let refused = others.clone().any(|_| kind == LockType::Write)
            || (mine.is_none() && others.clone().any(|l| matches!(l.breaking, Some((LockType::Unlock, _)))));
        let (r, w) = self.open_counts(key, f);
        let conflict = match kind {
            LockType::Read => w > 0 || f.writable() || breaking_write,
            _ => r + w > 0,
        };
        if conflict || refused {
            return Err(EAGAIN);
        }
        match mine {
            Some(i) => {
                let Some(l) = self.files.leases.by_file.get_mut(&key).map(|v| &mut v[i]) else { return Err(EAGAIN) };
                l.kind = kind;
                l.fd = fd;
                // A downgrade as asked ends the break.
                if l.breaking.is_some_and(|(to, _)| to == kind || kind == LockType::Read) {
                    l.breaking = None;
                }
            }
            None => {
                let record = self.lock_charge(1)?;
                let list = self.files.leases.by_file.entry(key).or_default();
                list.push(Lease { file: Arc::downgrade(f), fd, kind, breaking: None, _record: record });
                *f.release_wq.lock() = Some(self.files.leases.wq.clone());
            }
        }
        // lease_setup(): the lease's signal goes to the caller's process.
        self.f_setown(f, pid as i32, cred)?;
        self.lease_changed(key);
        Ok(())
    }

    /// F_GETLEASE: the lease `f` holds, or what it is being broken to.
    pub(crate) fn get_lease(&self, f: &OpenFile) -> i16 {
        let l = self.files.leases.by_file.get(&LockKey::of(f)).and_then(|v| v.iter().find(|l| l.holds(f)));
        match l {
            Some(l) => l.breaking.map_or(l.kind, |(to, _)| to).abi(),
            None => F_UNLCK,
        }
    }

    /// __break_lease()'s first half for an open of `f` (`write`: for
    /// writing, or a truncate): starts breaking the leases in the way
    /// (their holders are signalled once) and lets leases whose break
    /// time has passed go. Clear when none is left in the way.
    pub(crate) fn lease_break(&mut self, f: &OpenFile, write: bool, now: Instant) -> Break {
        let key = LockKey::of(f);
        self.lease_prune(key);
        let grace = Duration::from_secs(self.files.leases.break_time.max(0) as u64);
        let Some(list) = self.files.leases.by_file.get_mut(&key) else { return Break::Clear };
        let mut signal = Vec::new();
        let mut changed = false;
        list.retain_mut(|l| {
            // The kernel gives up for the holder what it did not in time.
            if let Some((to, at)) = l.breaking {
                if now >= at {
                    changed = true;
                    l.breaking = None;
                    l.kind = to;
                    return to != LockType::Unlock;
                }
            }
            true
        });
        let mut wait = None::<Instant>;
        for l in list.iter_mut() {
            let conflicts = write || l.kind == LockType::Write;
            if !conflicts {
                continue;
            }
            let target = if write { LockType::Unlock } else { LockType::Read };
            match &mut l.breaking {
                Some((to, at)) => {
                    // A writer now wants what a reader's break left.
                    if target == LockType::Unlock {
                        *to = LockType::Unlock;
                    }
                    wait = Some(wait.map_or(*at, |w| w.min(*at)));
                }
                None => {
                    let at = now + grace;
                    l.breaking = Some((target, at));
                    signal.push((l.file.clone(), l.fd));
                    wait = Some(wait.map_or(at, |w| w.min(at)));
                }
            }
        }
        if changed || !signal.is_empty() {
            self.lease_changed(key);
        }
        // lease_break_callback(): kill_fasync(POLL_MSG) to the holder.
        for (file, fd) in signal {
            if let Some(file) = file.upgrade() {
                self.sigio(&file, fd, POLL_MSG);
            }
        }
        wait.map_or(Break::Clear, Break::Wait)
    }

    /// Leases of files no longer open go.
    fn lease_prune(&mut self, key: LockKey) {
        if let Some(v) = self.files.leases.by_file.get_mut(&key) {
            v.retain(|l| l.file.strong_count() > 0);
            if v.is_empty() {
                self.files.leases.by_file.remove(&key);
            }
        }
    }

    fn lease_changed(&mut self, key: LockKey) {
        self.lease_prune(key);
        self.files.leases.wq.wake_all();
        self.procfs.changed();
    }

    /// /proc/locks: the record locks, then the leases.
    pub(crate) fn proc_locks(&self) -> String {
        let mut s = self.locks().proc_locks();
        let mut n = s.lines().count() + 1;
        let mut keys: Vec<_> = self.files.leases.by_file.keys().copied().collect();
        keys.sort();
        for key in keys {
            for l in &self.files.leases.by_file[&key] {
                let Some(f) = l.file.upgrade() else { continue };
                let LockKey::Inode { dev, ino } = key else { continue };
                let (major, minor) = super::locks::major_minor(dev);
                let state = if l.breaking.is_some() { "BREAKING  " } else { "ACTIVE    " };
                let kind = match l.breaking.map_or(l.kind, |(to, _)| to) {
                    LockType::Write => "WRITE",
                    LockType::Read => "READ ",
                    LockType::Unlock => "UNLCK",
                };
                let pid = Self::f_getown(&f);
                s.push_str(&format!("{n}: LEASE  {state}{kind} {pid} {major:02x}:{minor:02x}:{ino} 0 EOF\n"));
                n += 1;
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use crate::kernel::abi::fcntl::*;
    use crate::kernel::abi::mman::{PROT_READ, PROT_WRITE};
    use crate::kernel::errno::*;
    use crate::kernel::signal::SIGIO;
    use crate::kernel::testing::{err, TestKernel};

    #[test]
    fn a_lease_is_broken_by_a_conflicting_open_and_given_up_or_timed_out() {
        let t = TestKernel::new();
        let m = t.mmap_anon(4096, PROT_READ | PROT_WRITE);
        let fcntl = |fd: i64, cmd: u64, arg: i16| t.sys("fcntl", &[fd as u64, cmd, arg as u64]);
        let locks = || String::from_utf8(t.read_file("/proc/locks").unwrap()).unwrap();
        let made = t.open("/tmp/leased", (O_RDWR | O_CREAT) as u64);
        assert!(made >= 0);
        assert_eq!(t.sys("close", &[made as u64]), 0);
        let fd = t.open("/tmp/leased", O_RDONLY as u64);
        assert_eq!(fcntl(fd, F_SETLEASE, F_UNLCK), err(EAGAIN), "no lease to give up");
        assert_eq!(fcntl(fd, F_SETLEASE, 7), err(EINVAL));
        assert_eq!(t.sys("fcntl", &[t.open("/etc/passwd", O_RDONLY as u64) as u64, F_SETLEASE, 0]), err(EACCES));
        // The only open: a write lease may be had.
        assert_eq!(fcntl(fd, F_SETLEASE, F_WRLCK), 0);
        assert_eq!(fcntl(fd, F_GETLEASE, 0), F_WRLCK as i64);
        let pid = t.pid;
        assert!(locks().contains(&format!("1: LEASE  ACTIVE    WRITE {pid} ")), "{}", locks());
        // SIGIO (the lease's signal, to the caller) blocked, to be taken.
        t.poke(m, &(1u64 << (SIGIO - 1)).to_le_bytes());
        assert_eq!(t.sys("rt_sigprocmask", &[0, m, 0, 8]), 0);
        // A reader that cannot wait breaks it to a read lease and fails.
        assert_eq!(t.open("/tmp/leased", (O_RDONLY | O_NONBLOCK) as u64), err(EAGAIN));
        t.poke(m + 64, &[0u8; 16]);
        assert_eq!(t.sys("rt_sigtimedwait", &[m, 0, m + 64, 8]), SIGIO as i64);
        assert_eq!(fcntl(fd, F_GETLEASE, 0), F_RDLCK as i64, "what it is being broken to");
        assert!(locks().contains("LEASE  BREAKING  READ "), "{}", locks());
        // Downgraded as asked: readers come in, the read lease stays.
        assert_eq!(fcntl(fd, F_SETLEASE, F_RDLCK), 0);
        let reader = t.open("/tmp/leased", O_RDONLY as u64);
        assert!(reader >= 0, "{reader}");
        assert_eq!(fcntl(fd, F_GETLEASE, 0), F_RDLCK as i64);
        // No write lease beside another open.
        assert_eq!(fcntl(fd, F_SETLEASE, F_WRLCK), err(EAGAIN));
        // A writer waits out the break time (none here), then the kernel
        // takes the lease away.
        t.kernel.lock().files.leases.break_time = 0;
        let writer = t.open("/tmp/leased", O_WRONLY as u64);
        assert!(writer >= 0, "{writer}");
        assert_eq!(fcntl(fd, F_GETLEASE, 0), F_UNLCK as i64);
        // And no read lease while it is open for writing.
        assert_eq!(fcntl(fd, F_SETLEASE, F_RDLCK), err(EAGAIN));
    }
}
