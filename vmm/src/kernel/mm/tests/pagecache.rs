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
use crate::kernel::testing::{err, TestConfig, TestKernel};
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

/// Reads all of `fd` through the scratch buffer, handing each chunk to
/// `each`; the bytes read in all.
fn read_all(t: &TestKernel, fd: i64, mut each: impl FnMut(u64, i64)) -> u64 {
    let (buf, len) = t.data_buffer();
    let mut total = 0;
    loop {
        let n = t.sys("read", &[fd as u64, buf, len]);
        assert!(n >= 0, "read at {total}: {n}");
        if n == 0 {
            return total;
        }
        each(buf, n);
        total += n as u64;
    }
}

#[test]
fn a_file_larger_than_ram_and_the_frame_window_streams_through_the_cache() {
    // A sparse host file past the 1 GiB frame window, read under 16 MiB:
    // each clean page read leaves the cache when reclaim takes it, so the
    // window never fills (it did, and read(2) failed, at 1 GiB).
    let f = HostFile::new(0);
    let size = (1u64 << 30) + (16 << 20);
    std::fs::File::options().write(true).open(&f.0).unwrap().set_len(size).unwrap();
    let t = TestKernel::with(TestConfig { mem: 16 << 20, ..TestConfig::default() });
    let fd = t.open(f.path(), O_RDONLY as u64);
    assert!(fd >= 0, "{fd}");
    assert_eq!(read_all(&t, fd, |_, _| {}), size);
    assert!(t.meminfo_kb("Cached") <= 16 << 10);
}

#[test]
fn a_pipe_write_gets_its_pages_while_clean_cache_fills_ram() {
    // Kernel memory (the pipe's buffer) is taken above the low watermark
    // of a zone that may give it; reclaim must free pages where they can
    // be taken, not merely in sum (pages free in the DMA zone, kept by its
    // lowmem_reserve, made pipe writes fail with ENOMEM).
    let f = HostFile::new(0);
    std::fs::File::options().write(true).open(&f.0).unwrap().set_len(256 << 20).unwrap();
    let t = TestKernel::with(TestConfig { mem: 64 << 20, ..TestConfig::default() });
    let fd = t.open(f.path(), O_RDONLY as u64);
    let fds = t.mmap_anon(P, PROT_READ | PROT_WRITE);
    assert_eq!(t.sys("pipe2", &[fds, 0]), 0);
    let ends = t.peek(fds, 8);
    let (r, w) = (u32::from_le_bytes(ends[..4].try_into().unwrap()), u32::from_le_bytes(ends[4..].try_into().unwrap()));
    let moved = read_all(&t, fd, |buf, n| {
        assert_eq!(t.sys("write", &[w as u64, buf, n as u64]), n, "into the pipe");
        assert_eq!(t.sys("read", &[r as u64, buf, n as u64]), n, "out of the pipe");
    });
    assert_eq!(moved, 256 << 20);
}

#[test]
fn a_host_file_unlinked_while_open_leaves_the_cache_at_its_last_close() {
    let f = HostFile::new(8);
    let t = TestKernel::new();
    let fd = t.open(f.path(), O_RDONLY as u64);
    let before = t.meminfo_kb("Cached");
    assert_eq!(read_all(&t, fd, |_, _| {}), 8 * P);
    assert_eq!(t.meminfo_kb("Cached"), before + 32, "read in");
    std::fs::remove_file(&f.0).unwrap();
    assert_eq!(t.meminfo_kb("Cached"), before + 32, "still open");
    assert_eq!(t.sys("close", &[fd as u64]), 0);
    assert_eq!(t.meminfo_kb("Cached"), before, "the last close lets the pages go");
}

#[test]
fn an_unlinked_file_still_open_at_exit_leaves_the_cache_then() {
    let f = HostFile::new(8);
    let mut t = TestKernel::new();
    let before = t.meminfo_kb("Cached");
    let parent = t.pid;
    let child = t.sys("fork", &[]) as u32;
    t.become_process(child);
    let fd = t.open(f.path(), O_RDONLY as u64);
    assert_eq!(read_all(&t, fd, |_, _| {}), 8 * P);
    std::fs::remove_file(&f.0).unwrap();
    // The child exits holding it: exit closes it, the last holder.
    t.sys("exit_group", &[0]);
    t.become_process(parent);
    assert_eq!(t.meminfo_kb("Cached"), before, "exit's close lets the pages go");
}
