//! /proc/PID/fdinfo/N, as fs/proc/fd.c's seq_show: the descriptor's
//! position, flags, mount and inode, then what its kind of file adds
//! (show_fdinfo: eventfd's count, timerfd's clock and ticks, signalfd's
//! mask, epoll's items).

use super::vfs::Node;
use super::{Fd, FileKind};
use crate::kernel::abi::fcntl::{O_CLOEXEC, O_LARGEFILE};

/// Mount ids: faultline's mounts in /proc/mounts' order (the root, /proc,
/// /dev, then each bind), then the ones no listing shows.
const MNT_ROOT: u64 = 1;
const MNT_PROC: u64 = 2;
const MNT_DEV: u64 = 3;
const MNT_BINDS: u64 = 4;
const MNT_PIPEFS: u64 = 1001;
const MNT_SOCKFS: u64 = 1002;
const MNT_ANON_INODEFS: u64 = 1003;

/// The mount a node of the view is on.
fn node_mnt(n: &Node) -> u64 {
    match n {
        Node::Host { mount: 0, .. } | Node::Mem(_) | Node::Synthetic { .. } => MNT_ROOT,
        Node::Host { mount, .. } => MNT_BINDS + *mount as u64 - 1,
        Node::Device(_) => MNT_DEV,
        Node::Proc(_) => MNT_PROC,
    }
}

/// The mount and inode number of `fd`'s file.
fn mnt_ino(fd: &Fd) -> (u64, u64) {
    let f = &fd.file;
    match &f.kind {
        FileKind::File(n) => (node_mnt(&n.node), n.node.meta().ino),
        FileKind::Dir(d) => (node_mnt(&d.at.node), d.meta.ino),
        FileKind::Path(l) => (node_mnt(&l.node), l.node.meta().ino),
        FileKind::Fifo(fi) => (node_mnt(&fi.node.node), fi.node.node.meta().ino),
        FileKind::PipeRead(_) | FileKind::PipeWrite(_) => (MNT_PIPEFS, super::anon::ino_of(f)),
        FileKind::Socket(s) => (MNT_SOCKFS, s.ino),
        FileKind::Anon(_) => (MNT_ANON_INODEFS, super::anon::ino_of(f)),
        FileKind::Proc { .. } => (MNT_PROC, 0),
        FileKind::Null => (MNT_DEV, Node::Device(super::vfs::Device::Null).meta().ino),
        FileKind::Zero => (MNT_DEV, Node::Device(super::vfs::Device::Zero).meta().ino),
        FileKind::Random => (MNT_DEV, Node::Device(super::vfs::Device::Random).meta().ino),
        FileKind::Input(_) | FileKind::Output(_) => (MNT_DEV, 0),
    }
}

/// The text of /proc/PID/fdinfo/N for descriptor `fd`.
pub(crate) fn fdinfo(fd: &Fd) -> String {
    let f = &fd.file;
    let mut flags = f.flags();
    if fd.cloexec {
        flags |= O_CLOEXEC;
    }
    // open() forces O_LARGEFILE on 64-bit; pipes, sockets and anonymous
    // inodes are made without it.
    if !matches!(f.kind, FileKind::PipeRead(_) | FileKind::PipeWrite(_) | FileKind::Socket(_) | FileKind::Anon(_)) {
        flags |= O_LARGEFILE;
    }
    let (mnt, ino) = mnt_ino(fd);
    let mut s = format!("pos:\t{}\nflags:\t0{:o}\nmnt_id:\t{}\nino:\t{}\n", *f.pos.lock(), flags, mnt, ino);
    if let FileKind::Anon(a) = &f.kind {
        s.push_str(&a.fdinfo());
    }
    s
}

#[cfg(test)]
mod tests {
    use crate::kernel::testing::TestKernel;

    fn fdinfo(t: &TestKernel, fd: i64) -> String {
        String::from_utf8(t.read_file(&format!("/proc/self/fdinfo/{fd}")).unwrap()).unwrap()
    }

    #[test]
    fn fdinfo_shows_the_descriptor_and_its_files_lines() {
        let t = TestKernel::new();
        let efd = t.sys("eventfd2", &[5, 0o2000000]);
        let s = fdinfo(&t, efd);
        assert!(s.starts_with("pos:\t0\nflags:\t02000002\nmnt_id:\t"), "{s}");
        assert!(s.contains("\neventfd-count:                5\n"), "{s}");
        let ep = t.sys("epoll_create1", &[0]);
        assert!(fdinfo(&t, ep).starts_with("pos:\t0\nflags:\t02\n"));
        // Made afresh: a write shows at once.
        let buf = t.mmap_anon(4096, 3);
        t.poke(buf, &3u64.to_le_bytes());
        assert_eq!(t.sys("write", &[efd as u64, buf, 8]), 8);
        assert!(fdinfo(&t, efd).contains("eventfd-count:                8\n"));
        // Only open descriptors have one.
        assert!(t.read_file("/proc/self/fdinfo/999").is_err());
    }
}
