//! Event files: epoll (`include/uapi/linux/eventpoll.h`), eventfd
//! (`linux/eventfd.h`), timerfd (`linux/timerfd.h`), signalfd
//! (`linux/signalfd.h`), and the POSIX timers' struct sigevent and
//! struct itimerspec (`asm-generic/siginfo.h`, `linux/time_types.h`).

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use super::fcntl::{O_CLOEXEC, O_NONBLOCK};
use super::linux_consts;
use super::time::Timespec;

linux_consts! {
    /// epoll_ctl's operations.
    pub(crate) EPOLL_OPS: u64 {
        EPOLL_CTL_ADD = 1,
        EPOLL_CTL_DEL = 2,
        EPOLL_CTL_MOD = 3,
    }

    /// The events and the input flags of struct epoll_event (the low
    /// ones are poll's, bit for bit).
    _: u32 {
        EPOLLIN = 0x1,
        EPOLLPRI = 0x2,
        EPOLLOUT = 0x4,
        EPOLLERR = 0x8,
        EPOLLHUP = 0x10,
        EPOLLRDNORM = 0x40,
        EPOLLWRNORM = 0x100,
        EPOLLEXCLUSIVE = 1 << 28,
        EPOLLWAKEUP = 1 << 29,
        EPOLLONESHOT = 1 << 30,
        EPOLLET = 1 << 31,
    }
}

/// epoll_create1's flag.
pub(crate) const EPOLL_CLOEXEC: u32 = O_CLOEXEC;
/// The flags an item keeps after EPOLLONESHOT fired (EP_PRIVATE_BITS).
pub(crate) const EP_PRIVATE_BITS: u32 = EPOLLWAKEUP | EPOLLONESHOT | EPOLLET | EPOLLEXCLUSIVE;
/// What EPOLLEXCLUSIVE may come with (EPOLLEXCLUSIVE_OK_BITS).
pub(crate) const EPOLLEXCLUSIVE_OK_BITS: u32 =
    EPOLLIN | EPOLLOUT | EPOLLERR | EPOLLHUP | EPOLLWAKEUP | EPOLLET | EPOLLEXCLUSIVE;
/// How deep epoll files may nest (EP_MAX_NESTS).
pub(crate) const EP_MAX_NESTS: usize = 4;
/// What a file without its own poll reports (DEFAULT_POLLMASK).
pub(crate) const DEFAULT_POLLMASK: u32 = EPOLLIN | EPOLLOUT | EPOLLRDNORM | EPOLLWRNORM;

/// struct epoll_event: packed on x86-64 (12 bytes), as the 32-bit ABI had
/// it (`EPOLL_PACKED` in `include/uapi/linux/eventpoll.h`).
#[cfg(target_arch = "x86_64")]
#[repr(C, packed)]
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub(crate) struct EpollEvent {
    pub(crate) events: u32,
    pub(crate) data: u64,
}
#[cfg(target_arch = "x86_64")]
const _: () = assert!(size_of::<EpollEvent>() == 12);
#[cfg(target_arch = "x86_64")]
impl EpollEvent {
    /// The event `events` for an item whose data is `data`.
    pub(crate) const fn new(events: u32, data: u64) -> Self {
        EpollEvent { events, data }
    }
}

/// struct epoll_event: naturally aligned on arm64 (16 bytes, 4 of them
/// padding before `data`; `include/uapi/linux/eventpoll.h`).
#[cfg(target_arch = "aarch64")]
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub(crate) struct EpollEvent {
    pub(crate) events: u32,
    pub(crate) pad: u32,
    pub(crate) data: u64,
}
#[cfg(target_arch = "aarch64")]
const _: () = assert!(size_of::<EpollEvent>() == 16);
#[cfg(target_arch = "aarch64")]
impl EpollEvent {
    /// The event `events` for an item whose data is `data`.
    pub(crate) const fn new(events: u32, data: u64) -> Self {
        EpollEvent { events, pad: 0, data }
    }
}

/// The most events one epoll_wait may ask for (EP_MAX_EVENTS).
pub(crate) const EP_MAX_EVENTS: u64 = i32::MAX as u64 / size_of::<EpollEvent>() as u64;

/// eventfd2's flags.
pub(crate) const EFD_SEMAPHORE: u32 = 1;
pub(crate) const EFD_CLOEXEC: u32 = O_CLOEXEC;
pub(crate) const EFD_NONBLOCK: u32 = O_NONBLOCK;
/// An eventfd's counter is at most this (ULLONG_MAX is never reached).
pub(crate) const EVENTFD_MAX: u64 = u64::MAX - 1;

/// timerfd_create's flags, and timerfd_settime's.
pub(crate) const TFD_CLOEXEC: u32 = O_CLOEXEC;
pub(crate) const TFD_NONBLOCK: u32 = O_NONBLOCK;
pub(crate) const TFD_TIMER_ABSTIME: u32 = 1;
pub(crate) const TFD_TIMER_CANCEL_ON_SET: u32 = 2;

/// signalfd4's flags.
pub(crate) const SFD_CLOEXEC: u32 = O_CLOEXEC;
pub(crate) const SFD_NONBLOCK: u32 = O_NONBLOCK;

/// struct itimerspec: the interval first, then the value.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub(crate) struct Itimerspec {
    pub(crate) it_interval: Timespec,
    pub(crate) it_value: Timespec,
}
const _: () = assert!(size_of::<Itimerspec>() == 32);

/// struct signalfd_siginfo: what a read of a signalfd gives per signal.
#[repr(C)]
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub(crate) struct SignalfdSiginfo {
    pub(crate) ssi_signo: u32,
    pub(crate) ssi_errno: i32,
    pub(crate) ssi_code: i32,
    pub(crate) ssi_pid: u32,
    pub(crate) ssi_uid: u32,
    pub(crate) ssi_fd: i32,
    pub(crate) ssi_tid: u32,
    pub(crate) ssi_band: u32,
    pub(crate) ssi_overrun: u32,
    pub(crate) ssi_trapno: u32,
    pub(crate) ssi_status: i32,
    pub(crate) ssi_int: i32,
    pub(crate) ssi_ptr: u64,
    pub(crate) ssi_utime: u64,
    pub(crate) ssi_stime: u64,
    pub(crate) ssi_addr: u64,
    pub(crate) ssi_addr_lsb: u16,
    pub(crate) pad2: u16,
    pub(crate) ssi_syscall: i32,
    pub(crate) ssi_call_addr: u64,
    pub(crate) ssi_arch: u32,
    pub(crate) pad: [u8; 28],
}
const _: () = assert!(size_of::<SignalfdSiginfo>() == 128);

linux_consts! {
    /// struct sigevent's notification methods.
    _: i32 {
        SIGEV_SIGNAL = 0,
        SIGEV_NONE = 1,
        SIGEV_THREAD = 2,
        SIGEV_THREAD_ID = 4,
    }
}

/// struct sigevent (64 bytes): the value, the signal, how to notify, and
/// for SIGEV_THREAD_ID the thread.
#[repr(C)]
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub(crate) struct Sigevent {
    pub(crate) sigev_value: u64,
    pub(crate) sigev_signo: i32,
    pub(crate) sigev_notify: i32,
    pub(crate) sigev_notify_thread_id: i32,
    pub(crate) pad: [u8; 44],
}
const _: () = assert!(size_of::<Sigevent>() == 64);
