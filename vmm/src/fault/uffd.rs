//! The userfaultfd calls faultline needs, defined here from the kernel's
//! uapi (linux/userfaultfd.h) so that building needs no bindgen/libclang.

use std::fs::OpenOptions;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use vmm_sys_util::ioctl::{ioctl_with_mut_ref, ioctl_with_ref, ioctl_with_val};
use vmm_sys_util::{ioctl_io_nr, ioctl_ior_nr, ioctl_iowr_nr};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use crate::inject::{self, Point};

const UFFDIO: u32 = 0xAA;
const UFFD_API: u64 = 0xAA;

#[repr(C)]
#[derive(Default)]
struct UffdioApi {
    api: u64,
    features: u64,
    ioctls: u64,
}

#[repr(C)]
#[derive(Default, Clone, Copy)]
struct UffdioRange {
    start: u64,
    len: u64,
}

#[repr(C)]
#[derive(Default)]
struct UffdioRegister {
    range: UffdioRange,
    mode: u64,
    ioctls: u64,
}

#[repr(C)]
#[derive(Default)]
struct UffdioCopy {
    dst: u64,
    src: u64,
    len: u64,
    mode: u64,
    copy: i64,
}

#[repr(C)]
#[derive(Default)]
struct UffdioZeropage {
    range: UffdioRange,
    mode: u64,
    zeropage: i64,
}

#[repr(C)]
#[derive(Default)]
struct UffdioWriteprotect {
    range: UffdioRange,
    mode: u64,
}

ioctl_iowr_nr!(UFFDIO_API, UFFDIO, 0x3F, UffdioApi);
ioctl_iowr_nr!(UFFDIO_REGISTER, UFFDIO, 0x00, UffdioRegister);
ioctl_ior_nr!(UFFDIO_UNREGISTER, UFFDIO, 0x01, UffdioRange);
ioctl_ior_nr!(UFFDIO_WAKE, UFFDIO, 0x02, UffdioRange);
ioctl_iowr_nr!(UFFDIO_COPY, UFFDIO, 0x03, UffdioCopy);
ioctl_iowr_nr!(UFFDIO_ZEROPAGE, UFFDIO, 0x04, UffdioZeropage);
ioctl_iowr_nr!(UFFDIO_WRITEPROTECT, UFFDIO, 0x06, UffdioWriteprotect);
// /dev/userfaultfd: USERFAULTFD_IOC_NEW = _IO(0xAA, 0x00).
ioctl_io_nr!(USERFAULTFD_IOC_NEW, UFFDIO, 0x00);

const UFFD_FEATURE_PAGEFAULT_FLAG_WP: u64 = 1 << 0;
const UFFD_FEATURE_THREAD_ID: u64 = 1 << 8;
const UFFDIO_REGISTER_MODE_MISSING: u64 = 1;
const UFFDIO_REGISTER_MODE_WP: u64 = 2;
const UFFDIO_ZEROPAGE_MODE_DONTWAKE: u64 = 1;
const UFFDIO_WRITEPROTECT_MODE_WP: u64 = 1;
const UFFDIO_WRITEPROTECT_MODE_DONTWAKE: u64 = 2;
const UFFD_EVENT_PAGEFAULT: u8 = 0x12;
const UFFD_PAGEFAULT_FLAG_WRITE: u64 = 1;
const UFFD_PAGEFAULT_FLAG_WP: u64 = 2;

/// One message read from the descriptor (struct uffd_msg, 32 bytes).
#[repr(C)]
#[derive(Clone, Copy, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
struct RawMsg {
    event: u8,
    reserved1: u8,
    reserved2: u16,
    reserved3: u32,
    arg: [u64; 3],
}
const MSG_LEN: usize = std::mem::size_of::<RawMsg>();
const _: () = assert!(MSG_LEN == 32);

/// A fault as the kernel reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageFault {
    /// Host virtual address that faulted.
    pub address: u64,
    pub write: bool,
    /// A write to a write-protected page (not a missing one).
    pub wp: bool,
    /// Host thread id of the faulting thread.
    pub thread: i32,
}

/// Errors creating or driving the userfaultfd.
#[derive(Debug, thiserror::Error)]
pub enum UffdError {
    #[error(
        "userfaultfd is unavailable ({0}); run as root, or give this user access to /dev/userfaultfd, \
         or set vm.unprivileged_userfaultfd=1"
    )]
    Unavailable(#[source] io::Error),
    /// The protection round trip that stands in for write protection.
    #[error("mprotect: {0}")]
    Mprotect(#[source] io::Error),
    #[error("userfaultfd {what}: {source}")]
    Op {
        what: &'static str,
        #[source]
        source: io::Error,
    },
}

fn op(what: &'static str) -> impl FnOnce(io::Error) -> UffdError {
    move |source| UffdError::Op { what, source }
}

/// A userfaultfd descriptor, non-blocking.
pub struct Uffd {
    /// None when guest RAM is not registered: the host kernel backs pages
    /// on first touch by itself (`faultline bench`'s baseline).
    fd: Option<OwnedFd>,
    /// Write-protect faults work (a read of fresh memory can map the zero
    /// page and see the first write).
    wp: bool,
    /// The registered range.
    range: UffdioRange,
}

fn open_raw() -> Result<OwnedFd, UffdError> {
    let flags = libc::O_CLOEXEC | libc::O_NONBLOCK;
    // SAFETY: plain syscall with integer flags.
    let fd = unsafe { libc::syscall(libc::SYS_userfaultfd, flags) } as RawFd;
    if fd >= 0 {
        // SAFETY: the kernel just gave us this descriptor.
        return Ok(unsafe { OwnedFd::from_raw_fd(fd) });
    }
    let syscall_err = io::Error::last_os_error();
    // Without CAP_SYS_PTRACE and with vm.unprivileged_userfaultfd=0 the
    // syscall refuses; /dev/userfaultfd may still grant access.
    let dev = OpenOptions::new().read(true).write(true).open("/dev/userfaultfd").map_err(|e| {
        UffdError::Unavailable(io::Error::new(e.kind(), format!("syscall: {syscall_err}; /dev/userfaultfd: {e}")))
    })?;
    // SAFETY: USERFAULTFD_IOC_NEW takes the flags by value.
    let fd = unsafe { ioctl_with_val(&dev, USERFAULTFD_IOC_NEW(), flags as libc::c_ulong) };
    if fd < 0 {
        return Err(UffdError::Unavailable(io::Error::last_os_error()));
    }
    // SAFETY: the ioctl returned a fresh descriptor.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

impl Uffd {
    /// Opens a userfaultfd for this process and registers
    /// `[start, start + len)`, for write-protect faults too where the
    /// kernel offers them. Not UFFD_USER_MODE_ONLY: KVM's accesses to guest
    /// memory are kernel-mode faults.
    pub fn new(start: *mut u8, len: u64) -> Result<Self, UffdError> {
        // UFFDIO_API may be called once per descriptor: try with
        // write-protect, then without.
        for features in [UFFD_FEATURE_PAGEFAULT_FLAG_WP | UFFD_FEATURE_THREAD_ID, UFFD_FEATURE_THREAD_ID] {
            let fd = open_raw()?;
            let mut api = UffdioApi { api: UFFD_API, features, ioctls: 0 };
            // SAFETY: UFFDIO_API reads and writes a UffdioApi.
            if unsafe { ioctl_with_mut_ref(&fd, UFFDIO_API(), &mut api) } < 0 {
                continue;
            }
            let wp = features & UFFD_FEATURE_PAGEFAULT_FLAG_WP != 0;
            let uffd = Uffd { fd: Some(fd), wp, range: UffdioRange { start: start as u64, len } };
            let mode = UFFDIO_REGISTER_MODE_MISSING | if wp { UFFDIO_REGISTER_MODE_WP } else { 0 };
            match uffd.register(start, len, mode) {
                Ok(()) => return Ok(uffd),
                Err(e) if !wp => return Err(e),
                Err(_) => continue,
            }
        }
        Err(UffdError::Unavailable(io::Error::from_raw_os_error(libc::EINVAL)))
    }

    /// A stand-in for guest RAM left unregistered: the host kernel fills
    /// pages itself, no faults are ever read, and resolving calls write
    /// the memory directly.
    pub fn unregistered() -> Self {
        Uffd { fd: None, wp: false, range: UffdioRange::default() }
    }

    fn fd(&self) -> Result<&OwnedFd, UffdError> {
        self.fd.as_ref().ok_or_else(|| op("use")(io::Error::from_raw_os_error(libc::EBADF)))
    }

    /// Whether write-protect faults are available.
    pub fn has_wp(&self) -> bool {
        self.wp
    }

    /// Whether this host's userfaultfd offers write-protect faults on
    /// anonymous memory (a probe on a page of its own).
    pub fn write_protect_available() -> bool {
        // SAFETY: a fresh private anonymous page, unmapped below.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                4096,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return false;
        }
        let wp = Uffd::new(p.cast(), 4096).is_ok_and(|u| u.has_wp());
        // SAFETY: the page mapped above, no longer registered (the uffd
        // is closed).
        unsafe { libc::munmap(p, 4096) };
        wp
    }

    fn register(&self, start: *mut u8, len: u64, mode: u64) -> Result<(), UffdError> {
        let mut reg = UffdioRegister { range: UffdioRange { start: start as u64, len }, mode, ioctls: 0 };
        // SAFETY: UFFDIO_REGISTER reads and writes a UffdioRegister.
        if unsafe { ioctl_with_mut_ref(self.fd()?, UFFDIO_REGISTER(), &mut reg) } < 0 {
            return Err(op("register guest RAM")(io::Error::last_os_error()));
        }
        Ok(())
    }

    /// Reads pending faults into `out`; returns how many (0 if none).
    pub fn read_faults(&self, out: &mut Vec<PageFault>) -> Result<usize, UffdError> {
        let Some(fd) = &self.fd else { return Ok(0) };
        let mut msgs = [RawMsg::default(); 16];
        // SAFETY: reading into a buffer of the right size.
        let n = unsafe { libc::read(fd.as_raw_fd(), msgs.as_mut_ptr().cast(), MSG_LEN * msgs.len()) };
        if n < 0 {
            let e = io::Error::last_os_error();
            return match e.raw_os_error() {
                Some(libc::EAGAIN) | Some(libc::EINTR) => Ok(0),
                _ => Err(op("read")(e)),
            };
        }
        let count = n as usize / MSG_LEN;
        let before = out.len();
        for m in &msgs[..count] {
            if m.event == UFFD_EVENT_PAGEFAULT {
                out.push(PageFault {
                    address: m.arg[1],
                    write: m.arg[0] & UFFD_PAGEFAULT_FLAG_WRITE != 0,
                    wp: m.arg[0] & UFFD_PAGEFAULT_FLAG_WP != 0,
                    thread: m.arg[2] as u32 as i32,
                });
            }
        }
        Ok(out.len() - before)
    }

    /// Blocks until a fault is pending or `wake_fd` becomes readable.
    /// Returns true if the descriptor has faults to read.
    pub fn wait(&self, wake_fd: RawFd) -> Result<bool, UffdError> {
        let own = self.fd.as_ref().map_or(-1, |f| f.as_raw_fd());
        let mut fds = [
            libc::pollfd { fd: own, events: libc::POLLIN, revents: 0 },
            libc::pollfd { fd: wake_fd, events: libc::POLLIN, revents: 0 },
        ];
        // SAFETY: two valid pollfds.
        let r = unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) };
        if r < 0 {
            let e = io::Error::last_os_error();
            return if e.raw_os_error() == Some(libc::EINTR) { Ok(false) } else { Err(op("poll")(e)) };
        }
        Ok(fds[0].revents & libc::POLLIN != 0)
    }

    /// Atomically copies one page from `src` to `dst` and wakes the waiter.
    pub fn copy(&self, dst: u64, src: &[u8]) -> Result<(), UffdError> {
        let Some(fd) = &self.fd else {
            // SAFETY: callers pass a host address inside guest RAM with
            // room for `src`; unregistered memory can be written directly.
            unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), dst as *mut u8, src.len()) };
            return Ok(());
        };
        self.retrying("copy", dst, src.len() as u64, || {
            let mut c = UffdioCopy { dst, src: src.as_ptr() as u64, len: src.len() as u64, mode: 0, copy: 0 };
            // SAFETY: `src` is a live buffer of `len` bytes; dst is registered.
            inject::or_errno(Point::UffdCopy, || unsafe { ioctl_with_mut_ref(fd, UFFDIO_COPY(), &mut c) })
        })
    }

    /// Maps the shared zero page at `dst`, write-protected so that the first
    /// write is seen, and wakes the waiter. Without write-protect support
    /// this is not available: callers copy a zeroed page instead.
    pub fn zeropage_wp(&self, dst: u64, len: u64) -> Result<(), UffdError> {
        debug_assert!(self.wp);
        let fd = self.fd()?;
        self.retrying("zeropage", dst, len, || {
            let mut z = UffdioZeropage {
                range: UffdioRange { start: dst, len },
                mode: UFFDIO_ZEROPAGE_MODE_DONTWAKE,
                zeropage: 0,
            };
            // SAFETY: UFFDIO_ZEROPAGE reads and writes a UffdioZeropage.
            inject::or_errno(Point::UffdZeropage, || unsafe { ioctl_with_mut_ref(fd, UFFDIO_ZEROPAGE(), &mut z) })
        })?;
        self.writeprotect(dst, len, true, true)?;
        self.wake(dst, len)
    }

    /// Sets or clears write protection on `[dst, dst + len)`; clearing it
    /// wakes a thread that faulted on it, unless `dontwake`.
    pub fn writeprotect(&self, dst: u64, len: u64, protect: bool, dontwake: bool) -> Result<(), UffdError> {
        let Some(fd) = &self.fd else { return Ok(()) };
        let mut mode = if protect { UFFDIO_WRITEPROTECT_MODE_WP } else { 0 };
        // Protecting never wakes, and the kernel refuses WP with DONTWAKE.
        if dontwake && !protect {
            mode |= UFFDIO_WRITEPROTECT_MODE_DONTWAKE;
        }
        let mut w = UffdioWriteprotect { range: UffdioRange { start: dst, len }, mode };
        // SAFETY: UFFDIO_WRITEPROTECT reads a UffdioWriteprotect.
        if unsafe { ioctl_with_mut_ref(fd, UFFDIO_WRITEPROTECT(), &mut w) } < 0 {
            let e = io::Error::last_os_error();
            let _ = self.wake(dst, len);
            return Err(op("writeprotect")(e));
        }
        Ok(())
    }

    /// Makes KVM forget its translations of `[dst, dst + len)` without
    /// touching the pages or the host's mapping: write-protecting runs the
    /// host's MMU notifier on exactly that range. `protected` says the
    /// range is write-protected now (the zero page, mapped for a read) and
    /// stays so; otherwise protection is lifted again at once, waking a
    /// vCPU that wrote meanwhile (its fault, read later, finds the page
    /// there). Without write-protect faults (or with RAM unregistered), a
    /// protection round trip does it, notifying the 2 MiB around each
    /// split of the mapping.
    pub fn invalidate(&self, dst: u64, len: u64, protected: bool) -> Result<(), UffdError> {
        let Some(fd) = self.fd.as_ref().filter(|_| self.wp) else {
            // SAFETY: callers pass a range inside guest RAM, which stays
            // read-write and is never executed by the host.
            return unsafe { crate::memory::protection_round_trip(dst, len) }.map_err(UffdError::Mprotect);
        };
        self.retrying("writeprotect", dst, len, || {
            let mut w =
                UffdioWriteprotect { range: UffdioRange { start: dst, len }, mode: UFFDIO_WRITEPROTECT_MODE_WP };
            // SAFETY: UFFDIO_WRITEPROTECT reads a UffdioWriteprotect.
            inject::or_errno(Point::HostFlush, || unsafe { ioctl_with_mut_ref(fd, UFFDIO_WRITEPROTECT(), &mut w) })
        })?;
        if protected {
            return Ok(());
        }
        self.writeprotect(dst, len, false, false)
    }

    /// Runs a resolving ioctl, retrying while the kernel asks (EAGAIN: the
    /// mm changed under it), and turns EEXIST (someone mapped it first)
    /// into success.
    fn retrying(&self, what: &'static str, dst: u64, len: u64, mut call: impl FnMut() -> i32) -> Result<(), UffdError> {
        let mut tries = 0;
        let e = loop {
            if call() >= 0 {
                return Ok(());
            }
            let e = io::Error::last_os_error();
            tries += 1;
            if e.raw_os_error() != Some(libc::EAGAIN) || tries >= 10_000 {
                break e;
            }
        };
        match e.raw_os_error() {
            // The waiter may not have been woken by our call.
            Some(libc::EEXIST) => self.wake(dst, len),
            _ => {
                // A waiter is parked on this page; never leave it hanging.
                let _ = self.wake(dst, len);
                Err(op(what)(e))
            }
        }
    }

    /// Wakes threads waiting on `[start, start + len)`.
    pub fn wake(&self, start: u64, len: u64) -> Result<(), UffdError> {
        let Some(fd) = &self.fd else { return Ok(()) };
        let range = UffdioRange { start, len };
        // SAFETY: UFFDIO_WAKE reads a UffdioRange.
        if inject::or_errno(Point::UffdWake, || unsafe { ioctl_with_ref(fd, UFFDIO_WAKE(), &range) }) < 0 {
            return Err(op("wake")(io::Error::last_os_error()));
        }
        Ok(())
    }

    /// Lets go of guest RAM for good, when faults can no longer be served
    /// (the handler thread died): unregistering wakes every thread parked
    /// on a fault, a vCPU inside KVM_RUN or the VMM's own, and later
    /// touches are ordinary page faults. Without it such a thread would
    /// wait forever (a VM frozen by its dead handler). Only for a run that
    /// is being torn down: pages are no longer filled as the kernel says.
    pub fn abandon(&self) -> Result<(), UffdError> {
        let Some(fd) = &self.fd else { return Ok(()) };
        // SAFETY: UFFDIO_UNREGISTER reads a UffdioRange.
        if unsafe { ioctl_with_ref(fd, UFFDIO_UNREGISTER(), &self.range) } < 0 {
            return Err(op("unregister guest RAM")(io::Error::last_os_error()));
        }
        Ok(())
    }
}
