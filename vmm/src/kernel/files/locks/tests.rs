//! The lock table's rules, without a kernel.

use super::*;

fn lk(owner: Owner, ty: LockType, start: i64, end: i64) -> PosixLock {
    let pid = match owner {
        Owner::Process(p) => p,
        Owner::File(_) => 1,
    };
    PosixLock { owner, pid, ty, range: Range { start, end } }
}

const K: LockKey = LockKey::Inode { dev: 1, ino: 2 };
const P1: Owner = Owner::Process(10);
const P2: Owner = Owner::Process(20);
const P3: Owner = Owner::Process(30);
use LockType::*;

fn set(l: &Locks, req: PosixLock) -> bool {
    l.set_posix(K, req, None, None).is_ok()
}

fn held(l: &Locks) -> Vec<(Owner, LockType, i64, i64)> {
    l.0.lock()
        .files
        .get(&K)
        .map_or(Vec::new(), |f| f.posix.iter().map(|l| (l.owner, l.ty, l.range.start, l.range.end)).collect())
}

#[test]
fn same_type_ranges_merge_and_other_types_split() {
    let l = Locks::default();
    assert!(set(&l, lk(P1, Read, 0, 9)));
    assert!(set(&l, lk(P1, Read, 10, 19)));
    assert_eq!(held(&l), [(P1, Read, 0, 19)]);
    // A write lock inside splits the read lock in three.
    assert!(set(&l, lk(P1, Write, 5, 7)));
    assert_eq!(held(&l), [(P1, Read, 0, 4), (P1, Write, 5, 7), (P1, Read, 8, 19)]);
    assert_eq!(l.records(), 3);
    // Downgrading it joins the three again.
    assert!(set(&l, lk(P1, Read, 5, 7)));
    assert_eq!(held(&l), [(P1, Read, 0, 19)]);
    // Unlocking the middle leaves two.
    assert!(set(&l, lk(P1, Unlock, 3, 4)));
    assert_eq!(held(&l), [(P1, Read, 0, 2), (P1, Read, 5, 19)]);
    assert!(set(&l, lk(P1, Unlock, 0, OFFSET_MAX)));
    assert_eq!(held(&l), []);
    assert_eq!(l.records(), 0);
    assert!(l.0.lock().files.is_empty());
}

#[test]
fn readers_share_and_writers_conflict() {
    let l = Locks::default();
    assert!(set(&l, lk(P1, Read, 0, 99)));
    assert!(set(&l, lk(P2, Read, 50, 149)));
    assert!(!set(&l, lk(P2, Write, 90, 95)));
    assert!(set(&l, lk(P2, Write, 100, 120)));
    // F_GETLK finds the first lock in the way, in list order.
    let t = l.test(K, &lk(P3, Write, 0, OFFSET_MAX)).expect("conflict");
    assert_eq!((t.owner, t.range.start, t.range.end), (P1, 0, 99));
    assert_eq!(l.test(K, &lk(P3, Read, 0, 99)), None);
    // A process's own locks never block it.
    assert_eq!(l.test(K, &lk(P1, Write, 0, 49)), None);
    // An OFD F_UNLCK test finds only the asker's own.
    let f = Owner::File(7);
    assert!(set(&l, lk(f, Read, 500, 599)));
    assert_eq!(l.test(K, &lk(f, Unlock, 0, 499)), None);
    assert_eq!(l.test(K, &lk(f, Unlock, 0, 500)).map(|t| t.owner), Some(f));
}

#[test]
fn closing_and_exit_release_a_process_s_locks_only() {
    let l = Locks::default();
    assert!(set(&l, lk(P1, Write, 0, 9)));
    assert!(set(&l, lk(P2, Write, 10, 19)));
    l.remove_posix(K, 10);
    assert_eq!(held(&l), [(P2, Write, 10, 19)]);
    l.remove_process(20);
    assert_eq!(held(&l), []);
}

#[test]
fn deadlock_is_found_through_a_chain_of_waiters() {
    let l = Locks::default();
    assert!(set(&l, lk(P1, Write, 0, 0)));
    assert!(set(&l, lk(P2, Write, 1, 1)));
    assert!(set(&l, lk(P3, Write, 2, 2)));
    // P1 waits for P2, P2 for P3: P3 asking for P1's byte would close the
    // circle.
    assert!(matches!(l.set_posix(K, lk(P1, Write, 1, 1), Some(1), None), Err(Refused::Conflict(_))));
    assert!(matches!(l.set_posix(K, lk(P2, Write, 2, 2), Some(2), None), Err(Refused::Conflict(_))));
    assert!(matches!(l.set_posix(K, lk(P3, Write, 0, 0), Some(3), None), Err(Refused::Deadlock)));
    // Without waiting, only EAGAIN; and OFD owners are never checked.
    assert!(matches!(l.set_posix(K, lk(P3, Write, 0, 0), None, None), Err(Refused::Conflict(_))));
    // Once P2 stops waiting, P3 may wait.
    l.unblock(2);
    assert!(matches!(l.set_posix(K, lk(P3, Write, 0, 0), Some(3), None), Err(Refused::Conflict(_))));
}

#[test]
fn flock_converts_by_giving_up_the_old_lock() {
    let l = Locks::default();
    assert!(l.flock(K, 1, 10, Read, None).is_ok());
    assert!(l.flock(K, 2, 20, Read, None).is_ok());
    // Upgrading while the other reader holds fails and loses the read lock.
    assert!(l.flock(K, 1, 10, Write, None).is_err());
    assert_eq!(l.records(), 1);
    assert!(l.flock(K, 2, 20, Write, None).is_ok());
    assert!(l.flock(K, 1, 10, Read, None).is_err());
    // flock and POSIX locks do not see each other.
    assert!(set(&l, lk(P1, Write, 0, OFFSET_MAX)));
    assert!(l.flock(K, 2, 20, Unlock, None).is_ok());
    assert!(l.flock(K, 1, 10, Write, None).is_ok());
    assert!(l.proc_locks().contains("FLOCK  ADVISORY  WRITE 10 00:01:2 0 EOF"), "{}", l.proc_locks());
    assert!(l.proc_locks().contains("1: POSIX  ADVISORY  WRITE 10 00:01:2 0 EOF"), "{}", l.proc_locks());
}

mod kernel {
    use zerocopy::IntoBytes;

    use crate::kernel::abi::fcntl::*;
    use crate::kernel::abi::mman::{PROT_READ, PROT_WRITE};
    use crate::kernel::errno::*;
    use crate::kernel::testing::{err, TestKernel};

    fn flock(t: &TestKernel, at: u64, ty: i16, start: i64, len: i64) {
        let fl = Flock { l_type: ty, l_whence: SEEK_SET as i16, l_start: start, l_len: len, ..Default::default() };
        t.poke(at, fl.as_bytes());
    }

    /// Each record is kernel memory: a thousand locks show in SUnreclaim,
    /// and closing the file gives it back.
    #[test]
    fn lock_records_are_charged_and_given_back() {
        let t = TestKernel::new();
        let fd = t.open("/tmp/locked", (O_RDWR | O_CREAT) as u64);
        assert!(fd >= 0);
        let buf = t.mmap_anon(4096, PROT_READ | PROT_WRITE);
        let before = t.meminfo_kb("SUnreclaim");
        for i in 0..1000 {
            flock(&t, buf, F_WRLCK, 2 * i, 1);
            assert_eq!(t.sys("fcntl", &[fd as u64, F_SETLK, buf]), 0);
        }
        assert_eq!(t.kernel.lock().locks().records(), 1000);
        let held = t.meminfo_kb("SUnreclaim") - before;
        assert!((240..=260).contains(&held), "{held} kB for 1000 locks");
        assert!(t.read_file("/proc/locks").is_ok_and(|l| l.starts_with(b"1: POSIX  ADVISORY  WRITE 1 ")));
        assert_eq!(t.sys("close", &[fd as u64]), 0);
        assert_eq!(t.kernel.lock().locks().records(), 0);
        assert!(t.meminfo_kb("SUnreclaim") <= before + 4);
    }

    /// Hostile arguments get Linux's errors.
    #[test]
    fn bad_requests_fail_as_on_linux() {
        let t = TestKernel::new();
        let fd = t.open("/tmp/locked", (O_RDWR | O_CREAT) as u64) as u64;
        let buf = t.mmap_anon(4096, PROT_READ | PROT_WRITE);
        assert_eq!(t.sys("fcntl", &[fd, F_SETLK, 0]), err(EFAULT));
        assert_eq!(t.sys("fcntl", &[fd, F_GETLK, u64::MAX - 7]), err(EFAULT));
        flock(&t, buf, F_WRLCK, i64::MIN, -1);
        assert_eq!(t.sys("fcntl", &[fd, F_SETLKW, buf]), err(EINVAL));
        flock(&t, buf, F_WRLCK, i64::MAX, i64::MAX);
        assert_eq!(t.sys("fcntl", &[fd, F_SETLK, buf]), err(EOVERFLOW));
        flock(&t, buf, 3, 0, 0);
        assert_eq!(t.sys("fcntl", &[fd, F_OFD_SETLK, buf]), err(EINVAL));
        assert_eq!(t.sys("flock", &[fd, LOCK_SH | LOCK_EX]), err(EINVAL));
        assert_eq!(t.sys("flock", &[fd, LOCK_MAND | LOCK_EX]), 0);
        assert_eq!(t.sys("flock", &[fd, (1 << 32) | LOCK_EX]), 0);
        assert_eq!(t.sys("flock", &[fd, LOCK_UN]), 0);
        assert_eq!(t.kernel.lock().locks().records(), 0);
    }
}
