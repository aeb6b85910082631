//! File locks, as fs/locks.c keeps them: POSIX record locks (fcntl's
//! F_SETLK family), owned by a process and released when it closes any
//! descriptor of the file or exits; OFD locks (F_OFD_SETLK), the same
//! byte ranges owned by an open file description and released with its
//! last descriptor; and flock(2) locks, whole-file and also a
//! description's, kept apart from the other two as Linux keeps them.
//!
//! Locks belong to the file, keyed by its identity in the guest's view
//! (device and inode number), so every open of the file, by any name,
//! sees them. They are the sandbox's own: nothing is locked on the host.
//! Each record is kernel memory (file_lock_cache), charged to the
//! sandbox's RAM: a guest making millions of them meets ENOLCK, as
//! locks_alloc_lock's failure, and faultline's memory stays bounded.
//!
//! A thread that must wait (F_SETLKW, flock without LOCK_NB) sleeps on
//! the file's wait queue and tries again when any lock of the file is
//! released or changed. Deadlock detection follows Linux's
//! posix_locks_deadlock: from the lock in the way, whose owner waits for
//! which lock, up to MAX_DEADLK_ITERATIONS steps.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, Weak};

use parking_lot::Mutex;

use super::super::abi::fcntl::{F_RDLCK, F_UNLCK, F_WRLCK, OFFSET_MAX};
use super::super::errno::{Errno, ENOLCK};
use super::super::process::{Pid, Tid};
use super::super::wait::WaitQueue;
use super::super::KernelState;
use super::{FileKind, OpenFile};
use crate::mm::{Kmem, KmemCharge};

/// struct file_lock, file_lock_cache's object on x86-64: what one lock
/// record costs.
pub(crate) const FILE_LOCK_BYTES: u64 = 216;
/// How far deadlock detection follows the chain of waiters
/// (MAX_DEADLK_ITERATIONS).
const MAX_DEADLK_ITERATIONS: usize = 10;
/// The most records one change of a POSIX lock adds: a lock split in
/// three by a lock of another type inside it (posix_lock_inode allocates
/// two spare locks up front, as this charges two).
pub(crate) const POSIX_CHANGE_RECORDS: u64 = 2;

const RECORD: Kmem = Kmem::Kmalloc(FILE_LOCK_BYTES);

/// Which file a lock is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum LockKey {
    /// A file of the view (or a device of /dev): its device and inode
    /// numbers as stat shows them, the same for every open and every hard
    /// link.
    Inode { dev: u64, ino: u64 },
    /// An object with no inode number of its own here (a pipe, a /proc
    /// file, the sandbox's stdio): its address, which stays its own while
    /// any descriptor holds it (and with it, any lock).
    Object(usize),
}

impl LockKey {
    pub(crate) fn of(f: &OpenFile) -> LockKey {
        match &f.kind {
            FileKind::File(n) => LockKey::Inode { dev: n.meta.dev, ino: n.meta.ino },
            FileKind::Dir(d) => LockKey::Inode { dev: d.meta.dev, ino: d.meta.ino },
            FileKind::PipeRead(p) | FileKind::PipeWrite(p) => LockKey::Object(Arc::as_ptr(p) as usize),
            // Every open of one FIFO node shares its one pipe while any is
            // open, which is as long as a lock on it can live.
            FileKind::Fifo(f) => LockKey::Object(Arc::as_ptr(&f.pipe) as usize),
            FileKind::Socket(s) => LockKey::Inode { dev: crate::kernel::net::SOCKFS_DEV, ino: s.ino },
            // Every epoll, eventfd, timerfd and signalfd is the one
            // anonymous inode, as on Linux: their locks meet.
            FileKind::Anon(_) => LockKey::Inode { dev: super::anon::ANON_DEV, ino: super::anon::ANON_INO },
            FileKind::Null => Self::device(3),
            FileKind::Zero => Self::device(5),
            FileKind::Random => Self::device(9),
            FileKind::Input(_) | FileKind::Output(_) | FileKind::Proc { .. } | FileKind::Path(_) => {
                LockKey::Object(std::ptr::from_ref(f) as usize)
            }
        }
    }

    fn device(minor: u64) -> LockKey {
        let m = super::vfs::Meta::device(minor);
        LockKey::Inode { dev: m.dev, ino: m.ino }
    }
}

/// Who holds a lock: a process (POSIX locks, fl_owner the process's
/// files), or an open file description (OFD and flock locks).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Owner {
    Process(Pid),
    File(u64),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LockType {
    Read,
    Write,
    Unlock,
}

impl LockType {
    /// struct flock's l_type (assign_type: anything else is EINVAL).
    pub(crate) fn from_abi(t: i16) -> Option<LockType> {
        match t {
            F_RDLCK => Some(LockType::Read),
            F_WRLCK => Some(LockType::Write),
            F_UNLCK => Some(LockType::Unlock),
            _ => None,
        }
    }

    pub(crate) fn abi(self) -> i16 {
        match self {
            LockType::Read => F_RDLCK,
            LockType::Write => F_WRLCK,
            LockType::Unlock => F_UNLCK,
        }
    }

    /// As /proc/locks shows it.
    fn name(self) -> &'static str {
        match self {
            LockType::Read => "READ ",
            LockType::Write => "WRITE",
            LockType::Unlock => "UNLCK",
        }
    }
}

/// Bytes `start..=end` of a file; `end` OFFSET_MAX runs to its end
/// however long it grows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Range {
    pub start: i64,
    pub end: i64,
}

impl Range {
    fn overlaps(&self, o: &Range) -> bool {
        self.start <= o.end && o.start <= self.end
    }

    /// Overlapping or adjacent: two such locks of one owner and type are
    /// one.
    fn touches(&self, o: &Range) -> bool {
        self.start <= o.end.saturating_add(1) && o.start <= self.end.saturating_add(1)
    }
}

/// A byte-range lock held, or asked for (F_UNLCK: a range to release, or
/// to test for the asker's own locks).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PosixLock {
    pub owner: Owner,
    /// The process that set it (l_pid; OFD locks report -1).
    pub pid: Pid,
    pub ty: LockType,
    pub range: Range,
}

impl PosixLock {
    /// Whether `self` (asked for) is blocked by `held` (posix_locks_conflict).
    fn blocked_by(&self, held: &PosixLock) -> bool {
        held.owner != self.owner
            && held.range.overlaps(&self.range)
            && (self.ty == LockType::Write || held.ty == LockType::Write)
    }

    /// F_GETLK's test (posix_test_locks_conflict): an F_UNLCK request
    /// (F_OFD_GETLK only) finds the asker's own locks.
    fn tested_by(&self, held: &PosixLock) -> bool {
        match self.ty {
            LockType::Unlock => held.owner == self.owner && held.range.overlaps(&self.range),
            _ => self.blocked_by(held),
        }
    }
}

/// A flock(2) lock: an open file description's, on the whole file.
#[derive(Clone, Copy, Debug)]
struct FlockLock {
    owner: u64,
    pid: Pid,
    ty: LockType,
}

/// One file's locks (its file_lock_context).
#[derive(Default)]
struct FileLocks {
    /// POSIX and OFD locks, each owner's together and in order of their
    /// start, owners in the order they came (as flc_posix): F_GETLK
    /// reports the first that conflicts.
    posix: Vec<PosixLock>,
    flock: Vec<FlockLock>,
    /// Threads waiting for a lock of this file to go.
    waiters: Arc<WaitQueue>,
}

impl FileLocks {
    fn is_empty(&self) -> bool {
        self.posix.is_empty() && self.flock.is_empty()
    }
}

/// Why a lock was not set.
pub(crate) enum Refused {
    /// Another owner's lock is in the way: wait on this queue (or EAGAIN).
    Conflict(Arc<WaitQueue>),
    /// Waiting would never end (EDEADLK).
    Deadlock,
}

#[derive(Default)]
struct Table {
    files: HashMap<LockKey, FileLocks>,
    /// Threads waiting for a POSIX lock (blocked_hash): what they asked
    /// for, for deadlock detection.
    blocked: HashMap<Tid, (LockKey, PosixLock)>,
    /// Records held, and their kernel memory.
    records: u64,
    kmem: Option<KmemCharge>,
}

/// Every file's locks. Shared with the open file descriptions that hold
/// OFD or flock locks, which release them when they go (from wherever the
/// last reference drops).
#[derive(Default, Clone)]
pub(crate) struct Locks(Arc<Mutex<Table>>);

/// An open file description's part in locking: the owner id of its OFD
/// and flock locks, released when it is dropped (locks_remove_file).
pub(crate) struct DescLocks {
    table: Weak<Mutex<Table>>,
    key: LockKey,
    id: u64,
}

impl Drop for DescLocks {
    fn drop(&mut self) {
        if let Some(t) = self.table.upgrade() {
            let mut t = t.lock();
            let _ = t.release(self.key, |o| o == Owner::File(self.id), Some(self.id));
            t.settle(None);
        }
    }
}

impl Table {
    /// Takes `charge` (records charged up front) and gives back what the
    /// records no longer need.
    fn settle(&mut self, charge: Option<KmemCharge>) {
        match (&mut self.kmem, charge) {
            (Some(k), Some(c)) => k.absorb(c),
            (k @ None, c) => *k = c,
            _ => {}
        }
        if let Some(k) = &mut self.kmem {
            let want = self.records * RECORD.bytes();
            while k.bytes() > want {
                k.shrink(RECORD);
            }
        }
    }

    fn first_conflict(&self, key: &LockKey, req: &PosixLock) -> Option<PosixLock> {
        self.files.get(key)?.posix.iter().find(|l| req.blocked_by(l)).copied()
    }

    /// posix_locks_deadlock: whether `caller`, blocked by `holder`'s lock,
    /// would wait for itself. OFD locks are not checked, as on Linux.
    fn deadlock(&self, caller: Owner, mut holder: Owner) -> bool {
        if !matches!(caller, Owner::Process(_)) {
            return false;
        }
        for _ in 0..=MAX_DEADLK_ITERATIONS {
            let Some((key, req)) = self.blocked.values().find(|(_, r)| r.owner == holder) else { return false };
            let Some(l) = self.first_conflict(key, req) else { return false };
            if l.owner == caller {
                return true;
            }
            holder = l.owner;
        }
        false
    }

    fn set_posix(&mut self, key: LockKey, req: PosixLock, waiter: Option<Tid>) -> Result<(), Refused> {
        if req.ty != LockType::Unlock {
            if let Some(held) = self.first_conflict(&key, &req) {
                let q = self.files.get(&key).map(|f| f.waiters.clone()).unwrap_or_default();
                let Some(tid) = waiter else { return Err(Refused::Conflict(q)) };
                if self.deadlock(req.owner, held.owner) {
                    self.blocked.remove(&tid);
                    return Err(Refused::Deadlock);
                }
                if matches!(req.owner, Owner::Process(_)) {
                    self.blocked.insert(tid, (key, req));
                }
                return Err(Refused::Conflict(q));
            }
        }
        if let Some(tid) = waiter {
            self.blocked.remove(&tid);
        }
        if req.ty == LockType::Unlock && !self.files.contains_key(&key) {
            return Ok(());
        }
        let f = self.files.entry(key).or_default();
        let at = f.posix.iter().position(|l| l.owner == req.owner);
        let mut mine = Vec::new();
        f.posix.retain(|l| {
            let m = l.owner == req.owner;
            if m {
                mine.push(*l);
            }
            !m
        });
        let before = mine.len();
        let now = merge(mine, &req);
        let at = at.unwrap_or(f.posix.len());
        self.records = self.records + now.len() as u64 - before as u64;
        f.posix.splice(at..at, now);
        f.waiters.wake_all();
        if f.is_empty() {
            self.files.remove(&key);
        }
        Ok(())
    }

    fn flock(&mut self, key: LockKey, owner: u64, pid: Pid, ty: LockType) -> Result<(), Refused> {
        if ty == LockType::Unlock && !self.files.contains_key(&key) {
            return Ok(());
        }
        let f = self.files.entry(key).or_default();
        // A conversion gives up the old lock first, waking its waiters, and
        // does not get it back if the new one must wait (flock_lock_inode).
        if let Some(i) = f.flock.iter().position(|l| l.owner == owner) {
            if f.flock[i].ty == ty {
                return Ok(());
            }
            f.flock.remove(i);
            self.records -= 1;
            f.waiters.wake_all();
        }
        let result = if ty == LockType::Unlock {
            Ok(())
        } else if f.flock.iter().any(|l| l.ty == LockType::Write || ty == LockType::Write) {
            Err(Refused::Conflict(f.waiters.clone()))
        } else {
            f.flock.push(FlockLock { owner, pid, ty });
            self.records += 1;
            Ok(())
        };
        if f.is_empty() {
            self.files.remove(&key);
        }
        result
    }

    /// Removes the POSIX/OFD locks on `key` whose owner `mine` picks, and
    /// the flock lock of description `flock_owner`: whether any went.
    fn release(&mut self, key: LockKey, mine: impl Fn(Owner) -> bool, flock_owner: Option<u64>) -> bool {
        let Some(f) = self.files.get_mut(&key) else { return false };
        let n = f.posix.len() + f.flock.len();
        f.posix.retain(|l| !mine(l.owner));
        f.flock.retain(|l| Some(l.owner) != flock_owner);
        let gone = n - f.posix.len() - f.flock.len();
        if gone > 0 {
            self.records -= gone as u64;
            f.waiters.wake_all();
        }
        if f.is_empty() {
            self.files.remove(&key);
        }
        gone > 0
    }
}

/// An owner's locks on one file after `req`: same-type locks it touches
/// become one with it, other locks lose the bytes it covers (split in two
/// if it falls inside one); in order of their start.
fn merge(mine: Vec<PosixLock>, req: &PosixLock) -> Vec<PosixLock> {
    let mut out = Vec::with_capacity(mine.len() + 2);
    let mut grown = req.range;
    for l in mine {
        if req.ty != LockType::Unlock && l.ty == req.ty && l.range.touches(&req.range) {
            grown.start = grown.start.min(l.range.start);
            grown.end = grown.end.max(l.range.end);
        } else if !l.range.overlaps(&req.range) {
            out.push(l);
        } else {
            if l.range.start < req.range.start {
                out.push(PosixLock { range: Range { start: l.range.start, end: req.range.start - 1 }, ..l });
            }
            if l.range.end > req.range.end {
                out.push(PosixLock { range: Range { start: req.range.end + 1, end: l.range.end }, ..l });
            }
        }
    }
    if req.ty != LockType::Unlock {
        out.push(PosixLock { range: grown, ..*req });
    }
    out.sort_by_key(|l| l.range.start);
    out
}

/// Owner ids of open file descriptions.
static NEXT_DESC: AtomicU64 = AtomicU64::new(1);

impl Locks {
    /// The owner id of `f`'s OFD and flock locks, and the file they are on.
    pub(crate) fn description(&self, f: &OpenFile) -> (LockKey, u64) {
        let d = f.lock_owner.get_or_init(|| DescLocks {
            table: Arc::downgrade(&self.0),
            key: LockKey::of(f),
            id: NEXT_DESC.fetch_add(1, Ordering::Relaxed),
        });
        (d.key, d.id)
    }

    /// F_GETLK: the first lock that would block `req` (or, for F_UNLCK,
    /// the asker's own that it overlaps).
    pub(crate) fn test(&self, key: LockKey, req: &PosixLock) -> Option<PosixLock> {
        self.0.lock().files.get(&key)?.posix.iter().find(|l| req.tested_by(l)).copied()
    }

    /// F_SETLK and F_SETLKW: sets, changes or releases `req`'s range for its
    /// owner. `waiter` is the thread that will wait if it must (F_SETLKW):
    /// it is checked for deadlock and recorded as waiting until it gets
    /// the lock or [`Locks::unblock`]. `charge` pays for the records it
    /// may add.
    pub(crate) fn set_posix(
        &self,
        key: LockKey,
        req: PosixLock,
        waiter: Option<Tid>,
        charge: Option<KmemCharge>,
    ) -> Result<(), Refused> {
        let mut t = self.0.lock();
        let r = t.set_posix(key, req, waiter);
        t.settle(charge);
        r
    }

    /// A thread waiting for a POSIX lock stops waiting.
    pub(crate) fn unblock(&self, tid: Tid) {
        self.0.lock().blocked.remove(&tid);
    }

    /// flock(2): `ty` for description `owner` (of process `pid`).
    pub(crate) fn flock(
        &self,
        key: LockKey,
        owner: u64,
        pid: Pid,
        ty: LockType,
        charge: Option<KmemCharge>,
    ) -> Result<(), Refused> {
        let mut t = self.0.lock();
        let r = t.flock(key, owner, pid, ty);
        t.settle(charge);
        r
    }

    /// locks_remove_posix: process `pid` closed a descriptor of `key`.
    /// Whether any lock went.
    pub(crate) fn remove_posix(&self, key: LockKey, pid: Pid) -> bool {
        let mut t = self.0.lock();
        if t.files.is_empty() {
            return false;
        }
        let gone = t.release(key, |o| o == Owner::Process(pid), None);
        t.settle(None);
        gone
    }

    /// Process `pid` exited: all its POSIX locks go. Whether any did.
    pub(crate) fn remove_process(&self, pid: Pid) -> bool {
        let mut t = self.0.lock();
        let keys: Vec<LockKey> = t
            .files
            .iter()
            .filter(|(_, f)| f.posix.iter().any(|l| l.owner == Owner::Process(pid)))
            .map(|(k, _)| *k)
            .collect();
        let gone = !keys.is_empty();
        for k in keys {
            t.release(k, |o| o == Owner::Process(pid), None);
        }
        t.settle(None);
        gone
    }

    /// Lock records held.
    #[cfg(test)]
    pub fn records(&self) -> u64 {
        self.0.lock().records
    }

    /// /proc/locks (lock_get_status): each lock, POSIX and OFD then flock,
    /// file by file.
    pub(crate) fn proc_locks(&self) -> String {
        let t = self.0.lock();
        let mut keys: Vec<&LockKey> = t.files.keys().collect();
        keys.sort();
        let mut out = String::new();
        let mut n = 0;
        for key in keys {
            let f = &t.files[key];
            let (dev, ino) = match *key {
                LockKey::Inode { dev, ino } => (dev, ino),
                LockKey::Object(_) => (0, 0),
            };
            let (major, minor) = major_minor(dev);
            for l in &f.posix {
                n += 1;
                let (kind, pid) = match l.owner {
                    Owner::Process(_) => ("POSIX ", i64::from(l.pid)),
                    Owner::File(_) => ("OFDLCK", -1),
                };
                let _ = write!(out, "{n}: {kind} ADVISORY  {} {pid} {major:02x}:{minor:02x}:{ino} ", l.ty.name());
                let _ = match l.range.end {
                    OFFSET_MAX => writeln!(out, "{} EOF", l.range.start),
                    end => writeln!(out, "{} {end}", l.range.start),
                };
            }
            for l in &f.flock {
                n += 1;
                let _ = writeln!(
                    out,
                    "{n}: FLOCK  ADVISORY  {} {} {major:02x}:{minor:02x}:{ino} 0 EOF",
                    l.ty.name(),
                    l.pid
                );
            }
        }
        out
    }
}

impl KernelState {
    pub(crate) fn locks(&self) -> &Locks {
        &self.files.locks
    }

    /// Charges `n` lock records up front: ENOLCK past the budget, as a
    /// failed locks_alloc_lock.
    pub(crate) fn lock_charge(&mut self, n: u64) -> Result<Option<KmemCharge>, Errno> {
        if n == 0 {
            return Ok(None);
        }
        self.kmem_charge(RECORD, n).map(Some).map_err(|_| ENOLCK)
    }

    /// Process `pid` closed a descriptor of `f`: its POSIX locks on the
    /// file go, whichever descriptor set them.
    pub(crate) fn locks_file_closed(&mut self, pid: Pid, f: &OpenFile) {
        // Most closes release nothing: /proc's cache stays good then.
        if self.files.locks.remove_posix(LockKey::of(f), pid) {
            self.procfs.changed();
        }
    }

    /// Process `pid` exited: its POSIX locks go.
    pub(crate) fn locks_exit(&mut self, pid: Pid) {
        if self.files.locks.remove_process(pid) {
            self.procfs.changed();
        }
    }
}

/// The kernel's dev_t encoding, as MAJOR() and MINOR() take it.
pub(crate) fn major_minor(dev: u64) -> (u64, u64) {
    ((dev >> 8) & 0xfff | (dev >> 32) & !0xfff, dev & 0xff | (dev >> 12) & !0xff)
}

/// The part of an open file description that locking keeps (set when it
/// first locks).
pub(crate) type LockOwner = OnceLock<DescLocks>;

#[cfg(test)]
mod tests;
