//! File mappings are served from the page cache: the first touch of a
//! page reads it in (a major fault), later ones map the cached page (a
//! minor fault), a private write copies it, and the host file never
//! changes.

use std::io::Write;

use super::kinds_in;
use crate::arch::PAGE_SIZE;
use crate::kernel::abi::fcntl::O_RDONLY;
use crate::kernel::abi::mman::*;
use crate::kernel::errno::*;
use crate::kernel::testing::{err, TestKernel};
use crate::timeline::EventKind;

const P: u64 = PAGE_SIZE;

/// A host file of `pages` pages, page i filled with byte `b'a' + i`.
struct HostFile(std::path::PathBuf);

impl HostFile {
    fn new(pages: u64) -> Self {
        let path = std::env::temp_dir().join(format!(
            "faultline-pagecache-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let mut f = std::fs::File::create(&path).unwrap();
        for i in 0..pages {
            f.write_all(&[b'a' + i as u8; PAGE_SIZE as usize]).unwrap();
        }
        HostFile(path)
    }
    fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for HostFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn map_file(t: &TestKernel, fd: i64, len: u64, prot: u64, flags: u64) -> i64 {
    t.sys("mmap", &[0, len, prot, flags, fd as u64, 0])
}

#[test]
fn the_first_touch_reads_the_page_in_and_later_ones_hit_the_cache() {
    let f = HostFile::new(3);
    let mut t = TestKernel::new();
    let fd = t.open(f.path(), O_RDONLY as u64);
    assert!(fd >= 0, "{fd}");
    let a = map_file(&t, fd, 3 * P, PROT_READ, MAP_PRIVATE) as u64;
    assert_eq!(t.peek(a + P, 2), b"bb");
    assert_eq!(kinds_in(&t, a, a + 3 * P), [EventKind::FileCopy]);
    // Another mapping of the same file, in a child: its page is cached.
    let child = t.sys("fork", &[]) as u32;
    t.become_process(child);
    let b = map_file(&t, fd, 3 * P, PROT_READ, MAP_PRIVATE) as u64;
    assert_eq!(t.peek(b + P, 2), b"bb");
    assert_eq!(t.peek(b + 2 * P, 2), b"cc");
    assert_eq!(kinds_in(&t, b, b + 3 * P), [EventKind::CacheHit, EventKind::FileCopy]);
}

#[test]
fn a_private_write_copies_the_page_and_the_host_file_stays() {
    let f = HostFile::new(1);
    let t = TestKernel::new();
    let fd = t.open(f.path(), O_RDONLY as u64);
    let a = map_file(&t, fd, P, PROT_READ | PROT_WRITE, MAP_PRIVATE) as u64;
    assert_eq!(t.peek(a, 1), b"a");
    t.poke(a, b"written");
    assert_eq!(t.peek(a, 7), b"written");
    assert_eq!(kinds_in(&t, a, a + P), [EventKind::FileCopy, EventKind::Cow]);
    assert_eq!(t.sys("msync", &[a, P, MS_SYNC]), 0);
    assert_eq!(std::fs::read(&f.0).unwrap(), vec![b'a'; P as usize]);
}

#[test]
fn a_shared_writable_mapping_needs_a_descriptor_open_for_writing() {
    let f = HostFile::new(1);
    let t = TestKernel::new();
    let fd = t.open(f.path(), O_RDONLY as u64);
    assert_eq!(map_file(&t, fd, P, PROT_READ | PROT_WRITE, MAP_SHARED), err(EACCES));
    let ro = map_file(&t, fd, P, PROT_READ, MAP_SHARED) as u64;
    assert_eq!(t.sys("mprotect", &[ro, P, PROT_READ | PROT_WRITE]), err(EACCES), "no VM_MAYWRITE");
    let bad = MAP_SHARED_VALIDATE | 0x800_0000;
    assert_eq!(map_file(&t, fd, P, PROT_READ, bad), err(EOPNOTSUPP), "an unknown flag under SHARED_VALIDATE");
}

#[test]
fn shared_anonymous_memory_is_one_page_for_parent_and_child() {
    let mut t = TestKernel::new();
    let parent = t.pid;
    let a = t.sys("mmap", &[0, P, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, u64::MAX, 0]) as u64;
    t.poke(a, b"before");
    let child = t.sys("fork", &[]) as u32;
    t.become_process(child);
    t.poke(a, b"child!");
    t.become_process(parent);
    assert_eq!(t.peek(a, 6), b"child!");
    assert!(!kinds_in(&t, a, a + P).contains(&EventKind::Cow), "shared: never copied");
}

#[test]
fn a_file_mapping_moved_and_grown_by_mremap_goes_on_with_the_file() {
    let f = HostFile::new(4);
    let t = TestKernel::new();
    let fd = t.open(f.path(), O_RDONLY as u64);
    let a = map_file(&t, fd, 2 * P, PROT_READ, MAP_PRIVATE) as u64;
    // Something right after it, so that growing moves it.
    let anon = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED;
    assert_eq!(t.sys("mmap", &[a + 2 * P, P, PROT_READ, anon, u64::MAX, 0]), (a + 2 * P) as i64);
    let b = t.sys("mremap", &[a, 2 * P, 4 * P, MREMAP_MAYMOVE, 0]) as u64;
    assert_ne!(b, a);
    let firsts: Vec<u8> = (0..4).map(|i| t.peek(b + i * P, 1)[0]).collect();
    assert_eq!(firsts, b"abcd");
    // Grown in place, from the middle of the mapping.
    let c = map_file(&t, fd, 4 * P, PROT_READ, MAP_PRIVATE) as u64;
    assert_eq!(t.sys("mremap", &[c + P, P, 2 * P, 0, 0]), err(ENOMEM), "the next page is mapped");
    assert_eq!(t.sys("munmap", &[c + 2 * P, 2 * P]), 0);
    assert_eq!(t.sys("mremap", &[c + P, P, 3 * P, 0, 0]), (c + P) as i64);
    assert_eq!(t.peek(c + 3 * P, 1), b"d");
}
