//! System V shared memory's rules on a kernel without a VM: a segment's
//! life (deferred destruction, its pages as Shmem), permissions against
//! the caller's identity, and Linux's errno for hostile arguments.

use crate::arch::layout::USER_TOP;
use crate::arch::PAGE_SIZE;
use crate::kernel::abi::ipc::*;
use crate::kernel::errno::*;
use crate::kernel::testing::{err, TestConfig, TestKernel};

const P: u64 = PAGE_SIZE;

fn text(t: &TestKernel, path: &str) -> String {
    String::from_utf8(t.read_file(path).unwrap()).unwrap()
}

#[test]
fn a_removed_segment_lives_until_its_last_detach() {
    let t = TestKernel::new();
    let shmem = t.meminfo_kb("Shmem");
    let id = t.sys("shmget", &[IPC_PRIVATE as u64, 4 * P, (IPC_CREAT | 0o600) as u64]);
    assert!(id >= 0);
    let a = t.sys("shmat", &[id as u64, 0, 0]) as u64;
    let b = t.sys("shmat", &[id as u64, 0, SHM_RDONLY as u64]) as u64;
    t.poke(a + P, b"shared");
    assert_eq!(t.peek(b + P, 6), b"shared", "both attaches see the same page");
    assert_eq!(t.meminfo_kb("Shmem"), shmem + 4);
    let maps = text(&t, "/proc/self/maps");
    let line = format!("{a:x}-{:x} rw-s 00000000 00:01 {id} ", a + 4 * P);
    assert!(maps.lines().any(|l| l.starts_with(&line) && l.ends_with(" /SYSV00000000 (deleted)")), "{maps}");
    assert!(text(&t, "/proc/sysvipc/shm").lines().nth(1).is_some_and(|l| l.contains(&format!(" {id}  "))));
    assert_eq!(t.sys("shmctl", &[id as u64, IPC_RMID as u64, 0]), 0);
    assert_eq!(t.peek(a + P, 6), b"shared", "still attached");
    assert_eq!(t.sys("shmdt", &[a]), 0);
    assert_eq!(t.sys("shmdt", &[a]), err(EINVAL), "detached already");
    assert_eq!(t.meminfo_kb("Shmem"), shmem + 4, "one attach left");
    assert_eq!(t.sys("munmap", &[b, 4 * P]), 0, "munmap detaches too");
    assert_eq!(t.meminfo_kb("Shmem"), shmem, "destroyed with its last attach");
    assert_eq!(t.sys("shmctl", &[id as u64, IPC_STAT as u64, 0]), err(EINVAL));
    assert_eq!(text(&t, "/proc/sysvipc/shm").lines().count(), 1);
}

#[test]
fn permissions_follow_the_mode_and_the_callers_identity() {
    let t = TestKernel::with(TestConfig { uid: 0, ..Default::default() });
    let key = 0x1234;
    let id = t.sys("shmget", &[key, P, (IPC_CREAT | 0o600) as u64]);
    assert!(id >= 0);
    assert_eq!(t.sys("setresuid", &[1000, 1000, 1000]), 0);
    assert_eq!(t.sys("shmget", &[key, P, 0o400]), err(EACCES));
    assert_eq!(t.sys("shmget", &[key, P, 0]), id, "no permission asked, none needed");
    assert_eq!(t.sys("shmat", &[id as u64, 0, SHM_RDONLY as u64]), err(EACCES));
    let buf = t.mmap_anon(P, 3);
    assert_eq!(t.sys("shmctl", &[id as u64, IPC_STAT as u64, buf]), err(EACCES));
    assert_eq!(t.sys("shmctl", &[0, SHM_STAT_ANY as u64, buf]), id, "SHM_STAT_ANY needs no read permission");
    assert_eq!(t.sys("shmctl", &[id as u64, IPC_RMID as u64, 0]), err(EPERM), "not the owner's");
    assert_eq!(t.sys("shmctl", &[id as u64, SHM_LOCK as u64, 0]), err(EPERM));
}

#[test]
fn hostile_arguments_get_linuxs_errors() {
    let t = TestKernel::new();
    let rw = (IPC_CREAT | 0o600) as u64;
    assert_eq!(t.sys("shmget", &[0, u64::MAX, rw]), err(EINVAL));
    assert_eq!(t.sys("shmget", &[0, 0, rw]), err(EINVAL));
    assert_eq!(t.sys("shmget", &[0, 1 << 40, rw]), err(ENOMEM), "more than memory and swap");
    assert!(t.sys("shmget", &[0, 1 << 40, rw | SHM_NORESERVE as u64]) >= 0, "not reserved, not charged");
    let id = t.sys("shmget", &[0, P, rw]) as u64;
    assert_eq!(t.sys("shmctl", &[id, IPC_STAT as u64, 0xdead_0000]), err(EFAULT));
    assert_eq!(t.sys("shmctl", &[id, IPC_SET as u64, 0xdead_0000]), err(EFAULT));
    assert_eq!(t.sys("shmctl", &[id + (1 << 15), IPC_STAT as u64, 0]), err(EINVAL), "an older sequence number");
    assert_eq!(t.sys("shmctl", &[id, 0x100 | IPC_STAT as u64, 0]), err(EINVAL), "IPC_64 is no command");
    assert_eq!(t.sys("shmat", &[id, USER_TOP, 0]), err(ENOMEM), "past the top");
    assert_eq!(t.sys("shmat", &[id, P, SHM_REMAP as u64]), err(EPERM), "below mmap_min_addr");
    assert_eq!(t.sys("shmat", &[id, 123, (SHM_RND | SHM_REMAP) as u64]), err(EINVAL), "rounds to 0");
    assert_eq!(t.sys("shmdt", &[!(P - 1)]), err(EINVAL));
    // SHMMNI segments at most.
    let mut made = 2;
    while t.sys("shmget", &[0, P, rw | SHM_NORESERVE as u64]) >= 0 {
        made += 1;
        assert!(made <= SHMMNI, "no limit");
    }
    assert_eq!(made, SHMMNI);
    assert_eq!(t.sys("shmget", &[0, P, rw]), err(ENOSPC));
}
