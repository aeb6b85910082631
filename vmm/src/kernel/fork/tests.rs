//! What clone shares between processes (CLONE_FILES, CLONE_FS,
//! CLONE_SIGHAND), and unshare and exit taking a process out of it.

use crate::kernel::abi::fcntl::{F_GETFD, F_SETFD, O_CREAT, O_RDWR};
use crate::kernel::abi::sched::*;
use crate::kernel::errno::*;
use crate::kernel::signal::{SIGCHLD, SIGUSR1};
use crate::kernel::testing::{err, TestKernel};

/// A child of the current process made with `flags` (and SIGCHLD): its pid.
fn clone(t: &TestKernel, flags: u64) -> u32 {
    let pid = t.sys("clone", &[flags | SIGCHLD as u64, 0, 0, 0, 0]);
    assert!(pid > 0, "clone {flags:#x}: {pid}");
    pid as u32
}

fn open(t: &TestKernel, path: &str) -> u64 {
    let fd = t.open(path, (O_RDWR | O_CREAT) as u64);
    assert!(fd >= 0, "{path}: {fd}");
    fd as u64
}

/// Whether descriptor `fd` is open in the current process.
fn is_open(t: &TestKernel, fd: u64) -> bool {
    t.sys("fcntl", &[fd, F_GETFD]) >= 0
}

#[test]
fn clone_files_shares_opens_closes_and_close_on_exec() {
    let mut t = TestKernel::new();
    let parent = t.pid;
    let kept = open(&t, "/tmp/clone-files-kept");
    let child = clone(&t, CLONE_VM | CLONE_FILES);
    t.become_process(child);
    let opened = open(&t, "/tmp/clone-files-opened");
    assert_eq!(t.sys("close", &[kept]), 0);
    t.become_process(parent);
    assert!(is_open(&t, opened), "the child's open is the parent's");
    assert!(!is_open(&t, kept), "the child's close is the parent's");
    assert_eq!(t.sys("fcntl", &[opened, F_SETFD, 1]), 0);
    t.become_process(child);
    assert_eq!(t.sys("fcntl", &[opened, F_GETFD]), 1, "the parent's FD_CLOEXEC is the child's");
    // /proc/PID/fd of each lists the one table.
    let fds = |t: &TestKernel, pid: u32| {
        let d = t.open(&format!("/proc/{pid}/fd"), 0);
        assert!(d >= 0, "{d}");
        let (buf, len) = t.data_buffer();
        let n = t.sys("getdents64", &[d as u64, buf, len]);
        t.sys("close", &[d as u64]);
        n
    };
    assert_eq!(fds(&t, parent), fds(&t, child));
}

#[test]
fn a_plain_fork_still_copies_the_table() {
    let mut t = TestKernel::new();
    let parent = t.pid;
    let child = clone(&t, 0);
    t.become_process(child);
    let opened = open(&t, "/tmp/fork-opened");
    t.become_process(parent);
    assert!(!is_open(&t, opened));
}

#[test]
fn unshare_files_gives_a_sharer_its_own_copy() {
    let mut t = TestKernel::new();
    let parent = t.pid;
    let both = open(&t, "/tmp/unshare-both");
    let child = clone(&t, CLONE_VM | CLONE_FILES);
    t.become_process(child);
    assert_eq!(t.sys("unshare", &[CLONE_FILES]), 0);
    let own = open(&t, "/tmp/unshare-own");
    t.become_process(parent);
    assert!(!is_open(&t, own), "opened after unshare: the child's alone");
    assert_eq!(t.sys("close", &[both]), 0);
    t.become_process(child);
    assert!(is_open(&t, both), "the copy keeps what the parent then closed");
}

#[test]
fn a_sharer_exiting_leaves_the_others_files_open() {
    let mut t = TestKernel::new();
    let parent = t.pid;
    let (buf, _) = t.data_buffer();
    let child = clone(&t, CLONE_VM | CLONE_FILES);
    t.become_process(child);
    assert_eq!(t.sys("pipe2", &[buf, 0]), 0);
    let fds = t.peek(buf, 8);
    let (r, w) = (u32::from_le_bytes(fds[..4].try_into().unwrap()), u32::from_le_bytes(fds[4..].try_into().unwrap()));
    let file = open(&t, "/tmp/exit-sharer");
    t.sys("exit_group", &[0]);
    t.become_process(parent);
    assert!(is_open(&t, file));
    // The pipe is whole: what is written is read, no EOF, no EPIPE.
    t.poke(buf, b"hi");
    assert_eq!(t.sys("write", &[w.into(), buf, 2]), 2);
    assert_eq!(t.sys("read", &[r.into(), buf + 8, 8]), 2);
    assert_eq!(t.peek(buf + 8, 2), b"hi");
}

#[test]
fn clone_fs_shares_the_working_directory_and_umask() {
    let mut t = TestKernel::new();
    let parent = t.pid;
    let cwd = |t: &TestKernel| {
        let (buf, len) = t.data_buffer();
        let n = t.sys("getcwd", &[buf, len]);
        assert!(n > 0, "{n}");
        String::from_utf8(t.peek(buf, n as usize - 1)).unwrap()
    };
    let old = cwd(&t);
    let child = clone(&t, CLONE_FS);
    t.become_process(child);
    let tmp = t.put_str("/tmp");
    assert_eq!(t.sys("chdir", &[tmp]), 0);
    t.sys("umask", &[0o077]);
    t.become_process(parent);
    assert_eq!(cwd(&t), "/tmp");
    assert_eq!(t.sys("umask", &[0o022]), 0o077);
    // unshare(CLONE_FS): the child's chdir is its own from then on.
    t.become_process(child);
    assert_eq!(t.sys("unshare", &[CLONE_FS]), 0);
    let back = t.put_str(&old);
    assert_eq!(t.sys("chdir", &[back]), 0);
    t.become_process(parent);
    assert_eq!(cwd(&t), "/tmp");
}

#[test]
fn clone_sighand_shares_handlers_and_unshare_refuses_it() {
    let mut t = TestKernel::new();
    let parent = t.pid;
    let (buf, _) = t.data_buffer();
    assert_eq!(t.sys("clone", &[CLONE_SIGHAND | SIGCHLD as u64, 0, 0, 0, 0]), err(EINVAL), "without CLONE_VM");
    let child = clone(&t, CLONE_VM | CLONE_SIGHAND);
    t.become_process(child);
    // struct sigaction: handler, flags, restorer, mask.
    let act: Vec<u8> = [0x1234u64, 0, 0, 0].iter().flat_map(|w| w.to_le_bytes()).collect();
    t.poke(buf, &act);
    assert_eq!(t.sys("rt_sigaction", &[SIGUSR1 as u64, buf, 0, 8]), 0);
    assert_eq!(t.sys("unshare", &[CLONE_SIGHAND]), err(EINVAL), "others hold the handlers");
    t.become_process(parent);
    assert_eq!(t.sys("rt_sigaction", &[SIGUSR1 as u64, 0, buf + 64, 8]), 0);
    assert_eq!(t.peek(buf + 64, 8), 0x1234u64.to_le_bytes(), "the child's handler is the parent's");
    // A fork copies them: its handlers are its own, and unshare is fine.
    let other = clone(&t, 0);
    t.become_process(other);
    assert_eq!(t.sys("unshare", &[CLONE_SIGHAND]), 0);
}
