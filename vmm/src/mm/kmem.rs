//! Kernel memory: what the kernel allocates for the guest's objects (pipe
//! buffers, open files, descriptor tables, signal queues, kernel stacks and
//! task structs, kept /proc buffers, and the writable layer's inodes,
//! directory entries and symlink targets). It holds pages of RAM from the
//! [`Buddy`](super::Buddy) exactly as page tables do, so the guest's pages,
//! its page tables and the kernel's objects together never exceed `--mem`:
//! MemFree drops, and past the budget the allocation fails (Linux charges
//! these to the memory cgroup as kernel memory).
//!
//! The [`KmemLedger`] counts bytes per [`KmemClass`]; the RAM held is each
//! class's bytes rounded up to whole pages (objects packed with no slack;
//! Linux's slabs waste a little more). A charge is a [`KmemCharge`] that
//! gives its bytes back when dropped, from anywhere (an open file closed
//! by the last of many descriptors, a pipe freed with its last end): the
//! counts are atomics, and [`super::Phys::sync_kmem`] hands pages no longer
//! needed back to the buddy at its next sync.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::arch::PAGE_SIZE;

/// Where kernel memory shows in /proc/meminfo.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KmemClass {
    /// Slab the kernel could shrink (dentries, inodes): SReclaimable.
    SlabReclaimable = 0,
    /// Slab it cannot (files, pipe and signal structures, kmalloc):
    /// SUnreclaim.
    SlabUnreclaimable = 1,
    /// Threads' kernel stacks: KernelStack.
    KernelStack = 2,
    /// Pages allocated whole outside slab (a pipe's buffer pages): in no
    /// line of their own, only MemFree's drop, as on Linux.
    Pages = 3,
}

pub const NR_KMEM_CLASSES: usize = 4;

/// x86-64's THREAD_SIZE: a kernel stack is 16 KiB (4 pages).
pub const THREAD_SIZE: u64 = 16 << 10;
/// struct file (the filp cache's object).
pub const FILE_BYTES: u64 = 256;
/// struct pipe_inode_info (kmalloc-192).
pub const PIPE_INFO_BYTES: u64 = 192;
/// struct pipe_buffer: a pipe's ring holds one per slot (kcalloc).
pub const PIPE_BUFFER_BYTES: u64 = 40;
/// An inode of the inode_cache (pipefs's, the writable layer's).
pub const INODE_BYTES: u64 = 608;
/// A dentry.
pub const DENTRY_BYTES: u64 = 192;
/// struct sigqueue: one queued signal.
pub const SIGQUEUE_BYTES: u64 = 80;
/// struct task_struct on x86-64 (about 10 KiB with its FPU state).
pub const TASK_STRUCT_BYTES: u64 = 10240;

/// What a charge is for: its size and where it shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kmem {
    /// An open file description (struct file).
    File,
    /// A pipe's pipe_inode_info.
    PipeInfo,
    /// An inode (reclaimable slab).
    Inode,
    /// A directory entry (reclaimable slab).
    Dentry,
    /// One queued signal.
    SigQueue,
    /// A task_struct.
    Task,
    /// A thread's kernel stack.
    KernelStack,
    /// `n` bytes of kmalloc (a pipe's ring, a descriptor table, a symlink
    /// target, a kept /proc buffer): rounded up to kmalloc's size classes,
    /// and to a power of two of pages above 8 KiB (kmalloc_large).
    Kmalloc(u64),
    /// A page of a pipe's buffer.
    PipePage,
    /// A page held whole for another object (the target of a long symlink
    /// of the writable layer, as shmem keeps it in a page).
    Page,
}

/// kmalloc's caches up to KMALLOC_MAX_CACHE_SIZE (8 KiB).
const KMALLOC_SIZES: [u64; 13] = [8, 16, 32, 64, 96, 128, 192, 256, 512, 1024, 2048, 4096, 8192];

/// The bytes kmalloc(`n`) takes.
pub fn kmalloc_size(n: u64) -> u64 {
    if n == 0 {
        return 0;
    }
    match KMALLOC_SIZES.iter().find(|&&s| s >= n) {
        Some(&s) => s,
        None => n.div_ceil(PAGE_SIZE).next_power_of_two() * PAGE_SIZE,
    }
}

impl Kmem {
    /// Bytes one takes.
    pub fn bytes(self) -> u64 {
        match self {
            Kmem::File => FILE_BYTES,
            Kmem::PipeInfo => PIPE_INFO_BYTES,
            Kmem::Inode => INODE_BYTES,
            Kmem::Dentry => DENTRY_BYTES,
            Kmem::SigQueue => SIGQUEUE_BYTES,
            Kmem::Task => TASK_STRUCT_BYTES,
            Kmem::KernelStack => THREAD_SIZE,
            Kmem::Kmalloc(n) => kmalloc_size(n),
            Kmem::PipePage | Kmem::Page => PAGE_SIZE,
        }
    }

    pub fn class(self) -> KmemClass {
        match self {
            Kmem::Inode | Kmem::Dentry => KmemClass::SlabReclaimable,
            Kmem::KernelStack => KmemClass::KernelStack,
            Kmem::PipePage | Kmem::Page => KmemClass::Pages,
            Kmem::File | Kmem::PipeInfo | Kmem::SigQueue | Kmem::Task | Kmem::Kmalloc(_) => {
                KmemClass::SlabUnreclaimable
            }
        }
    }
}

/// Bytes of kernel memory in use, per class.
#[derive(Debug, Default)]
pub struct KmemLedger {
    bytes: [AtomicU64; NR_KMEM_CLASSES],
}

impl KmemLedger {
    pub fn bytes(&self, c: KmemClass) -> u64 {
        self.bytes[c as usize].load(Ordering::Relaxed)
    }

    /// Pages of RAM class `c` holds.
    pub fn pages(&self, c: KmemClass) -> u64 {
        self.bytes(c).div_ceil(PAGE_SIZE)
    }

    /// Pages of RAM every class holds.
    pub fn total_pages(&self) -> u64 {
        [KmemClass::SlabReclaimable, KmemClass::SlabUnreclaimable, KmemClass::KernelStack, KmemClass::Pages]
            .iter()
            .map(|&c| self.pages(c))
            .sum()
    }

    /// Pages every class would hold with `add` more bytes of class `c`.
    pub fn total_pages_with(&self, c: KmemClass, add: u64) -> u64 {
        self.total_pages() - self.pages(c) + (self.bytes(c) + add).div_ceil(PAGE_SIZE)
    }

    /// Counts `n` more bytes of `c`; only [`super::Phys::kmem_take`] may,
    /// once it holds the pages.
    pub(super) fn add(&self, c: KmemClass, n: u64) {
        self.bytes[c as usize].fetch_add(n, Ordering::Relaxed);
    }

    fn sub(&self, c: KmemClass, n: u64) {
        self.bytes[c as usize].fetch_sub(n, Ordering::Relaxed);
    }
}

/// Kernel memory held for something; given back when dropped. One class
/// per charge: an object with parts of several classes holds a charge for
/// each.
#[derive(Debug)]
pub struct KmemCharge {
    ledger: Arc<KmemLedger>,
    class: KmemClass,
    bytes: u64,
}

impl KmemCharge {
    /// A charge of nothing yet, to grow later.
    pub fn empty(ledger: &Arc<KmemLedger>, class: KmemClass) -> Self {
        KmemCharge { ledger: ledger.clone(), class, bytes: 0 }
    }

    pub(super) fn new(ledger: &Arc<KmemLedger>, class: KmemClass, bytes: u64) -> Self {
        KmemCharge { ledger: ledger.clone(), class, bytes }
    }

    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Takes over `other`'s bytes (same class): one guard for both.
    pub fn absorb(&mut self, mut other: KmemCharge) {
        debug_assert_eq!(self.class, other.class);
        self.bytes += std::mem::take(&mut other.bytes);
    }

    /// Gives back `obj`'s bytes (at most what is held).
    pub fn shrink(&mut self, obj: Kmem) {
        debug_assert_eq!(obj.class(), self.class);
        let n = obj.bytes().min(self.bytes);
        self.bytes -= n;
        self.ledger.sub(self.class, n);
    }
}

impl Drop for KmemCharge {
    fn drop(&mut self) {
        if self.bytes > 0 {
            self.ledger.sub(self.class, self.bytes);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kmalloc_rounds_to_its_size_classes() {
        assert_eq!(kmalloc_size(0), 0);
        assert_eq!(kmalloc_size(1), 8);
        assert_eq!(kmalloc_size(80), 96);
        assert_eq!(kmalloc_size(640), 1024);
        assert_eq!(kmalloc_size(8192), 8192);
        // kmalloc_large: a power of two of pages.
        assert_eq!(kmalloc_size(10240), 16384);
        assert_eq!(kmalloc_size(40 << 10), 64 << 10);
    }

    #[test]
    fn charges_count_until_dropped() {
        let l = Arc::new(KmemLedger::default());
        // As Phys::kmem_take: counted, then handed out as a charge.
        let take = |n| {
            l.add(KmemClass::SlabUnreclaimable, n);
            KmemCharge::new(&l, KmemClass::SlabUnreclaimable, n)
        };
        let mut c = take(300);
        assert_eq!(l.bytes(KmemClass::SlabUnreclaimable), 300);
        assert_eq!(l.total_pages(), 1);
        assert_eq!(l.total_pages_with(KmemClass::SlabUnreclaimable, 4000), 2);
        c.absorb(take(100));
        assert_eq!(c.bytes(), 400);
        c.shrink(Kmem::Kmalloc(64));
        assert_eq!(l.bytes(KmemClass::SlabUnreclaimable), 336);
        drop(c);
        assert_eq!(l.total_pages(), 0);
    }
}
