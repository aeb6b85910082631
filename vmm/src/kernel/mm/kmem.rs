//! Charging kernel memory (see [`crate::mm::kmem`]): the kernel's objects
//! made for the guest hold pages of its RAM, and past the budget the
//! allocation fails with Linux's errno instead of growing the host.
//!
//! The defaults of limits that are counts rather than memory are here
//! too: fs.file-max (ENFILE, counted in `files`), fs.nr_open and
//! kernel.threads-max.

use std::sync::atomic::Ordering;
use std::time::Instant;

use super::super::errno::{Errno, ENOMEM};
use super::super::KernelState;
use crate::fault::reclaim;
use crate::mm::{Kmem, KmemCharge};

/// NR_FILE: the least fs.file-max.
pub(crate) const NR_FILE: u64 = 8192;
/// fs.nr_open's default (sysctl_nr_open): the most RLIMIT_NOFILE may be.
pub(crate) const NR_OPEN: u64 = 1 << 20;

/// fs.file-max for RAM of `pages`, as files_maxfiles_init() sets it at
/// boot (when nothing is in use yet): a tenth of RAM in KiB, at least
/// NR_FILE.
pub(crate) fn file_max(pages: u64) -> u64 {
    (pages * (crate::arch::PAGE_SIZE / 1024) / 10).max(NR_FILE)
}

/// kernel.threads-max for RAM of `pages`, as set_max_threads() finds it:
/// RAM over eight kernel stacks, within MIN_THREADS (20) and MAX_THREADS
/// (FUTEX_TID_MASK).
pub(crate) fn max_threads(pages: u64) -> u64 {
    (pages * crate::arch::PAGE_SIZE / (crate::mm::kmem::THREAD_SIZE * 8)).clamp(20, 0x3fff_ffff)
}

impl KernelState {
    /// **The charging API.** Charges `n` of `obj` to kernel memory and
    /// returns the charge, which gives the memory back when dropped: keep
    /// it inside the object it pays for (an inode's charge in the inode, a
    /// symlink target's beside the target), so that whatever frees the
    /// object, wherever, uncharges it. Call it before making the host-side
    /// object, and fail the guest's call with the error:
    ///
    /// ```ignore
    /// let charge = k.kmem_charge(Kmem::Kmalloc(target.len() as u64), 1)?; // ENOMEM past the budget
    /// let link = Symlink { target, _charge: charge };
    /// ```
    ///
    /// Reclaim runs first when RAM is below its low watermark, as for a
    /// user page; the charge then takes pages down to the low watermark
    /// (the gap to min stays for user pages). Past that it fails with
    /// ENOMEM (map it to the errno Linux's caller would return: ENOSPC,
    /// ENFILE, EAGAIN, …). It never calls the OOM killer, whose badness
    /// does not count kernel memory: Linux's memory cgroup would kill the
    /// program at its limit, faultline gives it the errno.
    ///
    /// To grow an existing charge use [`KernelState::kmem_grow`]; to give
    /// part of one back, [`KmemCharge::shrink`] (no kernel needed).
    pub(crate) fn kmem_charge(&mut self, obj: Kmem, n: u64) -> Result<KmemCharge, Errno> {
        self.kmem_room(obj, n);
        self.phys.kmem_take(obj, n).ok_or(ENOMEM)
    }

    /// Adds one `obj` to `charge` (ENOMEM past the budget).
    pub(crate) fn kmem_grow(&mut self, charge: &mut KmemCharge, obj: Kmem) -> Result<(), Errno> {
        self.kmem_room(obj, 1);
        if self.phys.kmem_grow(charge, obj) {
            Ok(())
        } else {
            Err(ENOMEM)
        }
    }

    /// Reclaims if RAM is short of the pages `n` of `obj` need, noting the
    /// evictions on the timeline.
    fn kmem_room(&mut self, obj: Kmem, n: u64) {
        self.phys.sync_kmem();
        let pages = self.phys.kmem.total_pages_with(obj.class(), obj.bytes().saturating_mul(n));
        let Some(need) = pages.checked_sub(self.phys.kmem_pages()).filter(|&p| p > 0) else { return };
        let mut evicted = Vec::new();
        reclaim::make_room_for(&mut self.phys, &*self.backing, need, &mut evicted);
        if !evicted.is_empty() {
            self.note_evictions(&evicted, Instant::now());
        }
    }

    /// The kernel memory of a new thread: its task_struct and its kernel
    /// stack (dup_task_struct(); ENOMEM when RAM is out).
    pub(crate) fn charge_task(&mut self) -> Result<[KmemCharge; 2], Errno> {
        let task = self.kmem_charge(Kmem::Task, 1)?;
        let stack = self.kmem_charge(Kmem::KernelStack, 1)?;
        Ok([task, stack])
    }
}

/// What an operation on the writable layer is about to make.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct LayerNeed<'a> {
    /// New inodes (each with its directory entry).
    pub(crate) inodes: u64,
    /// A symlink's target.
    pub(crate) target: Option<&'a str>,
}

impl KernelState {
    /// Charges the writable layer's inodes and directory entries (slab the
    /// kernel could reclaim), its short symlink targets (kmalloc) and the
    /// pages of its long ones, as they are now plus `more`: ENOMEM if RAM
    /// cannot hold them. Objects the layer let go since are given back.
    pub(crate) fn charge_layer(&mut self, more: LayerNeed) -> Result<(), Errno> {
        use super::super::files::overlay::{target_bytes, SHORT_SYMLINK_LEN};
        let u = self.files.vfs_mut().overlay.usage();
        let inodes = u.inodes.load(Ordering::Relaxed) + more.inodes;
        let (short, long) = match more.target {
            Some(t) if t.len() >= SHORT_SYMLINK_LEN => (0, 1),
            Some(t) => (target_bytes(t), 0),
            None => (0, 0),
        };
        // kmalloc's bytes, in units of its smallest object.
        let bytes = (u.bytes.load(Ordering::Relaxed) + short) / 8;
        let pages = u.symlink_pages.load(Ordering::Relaxed) + long;
        let want = [(Kmem::Inode, inodes), (Kmem::Dentry, inodes), (Kmem::Kmalloc(8), bytes), (Kmem::Page, pages)];
        let mut held = std::mem::take(&mut self.files.vfs_mut().layer_kmem);
        let mut result = Ok(());
        for (obj, n) in want {
            let at = match held.iter().position(|(o, _)| *o == obj) {
                Some(i) => i,
                None => {
                    held.push((obj, KmemCharge::empty(&self.phys.kmem, obj.class())));
                    held.len() - 1
                }
            };
            let charge = &mut held[at].1;
            let now = charge.bytes() / obj.bytes();
            if n > now {
                match self.kmem_charge(obj, n - now) {
                    Ok(c) => charge.absorb(c),
                    Err(e) => result = Err(e),
                }
            }
            for _ in n..now {
                charge.shrink(obj);
            }
        }
        self.files.vfs_mut().layer_kmem = held;
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sysctl_defaults_follow_ram() {
        // 64 MiB: a tenth of 65536 KiB is below NR_FILE.
        assert_eq!(file_max(16384), 8192);
        // 24 GiB.
        assert_eq!(file_max(6 << 20), 2_516_582);
        // 64 MiB: 512 threads (RLIMIT_SIGPENDING 256).
        assert_eq!(max_threads(16384), 512);
        assert_eq!(max_threads(16), 20);
    }
}
