//! The terminal and file ioctls faultline answers
//! (`include/uapi/asm-generic/ioctls.h`), with what they read and write:
//! the kernel's struct termios (`asm-generic/termbits.h`) and struct
//! winsize (`asm-generic/termios.h`).

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use super::linux_consts;

linux_consts! {
    /// The requests.
    _: u64 {
        TCGETS = 0x5401,
        TCSETS = 0x5402,
        TIOCGPGRP = 0x540f,
        TIOCSPGRP = 0x5410,
        TIOCGWINSZ = 0x5413,
        FIONREAD = 0x541b,
        FIONBIO = 0x5421,
        FIONCLEX = 0x5450,
        FIOCLEX = 0x5451,
        FIOASYNC = 0x5452,
        SIOCGIFNAME = 0x8910,
        SIOCGIFFLAGS = 0x8913,
        SIOCSIFFLAGS = 0x8914,
        SIOCGIFMTU = 0x8921,
        SIOCGIFINDEX = 0x8933,
    }
}

/// The kernel's struct termios (not libc's, which is longer).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub(crate) struct Termios {
    pub(crate) c_iflag: u32,
    pub(crate) c_oflag: u32,
    pub(crate) c_cflag: u32,
    pub(crate) c_lflag: u32,
    pub(crate) c_line: u8,
    pub(crate) c_cc: [u8; 19],
}
const _: () = assert!(size_of::<Termios>() == 36);

/// struct winsize.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub(crate) struct Winsize {
    pub(crate) ws_row: u16,
    pub(crate) ws_col: u16,
    pub(crate) ws_xpixel: u16,
    pub(crate) ws_ypixel: u16,
}
const _: () = assert!(size_of::<Winsize>() == 8);

/// struct ifreq: an interface's name, then the request's value (an
/// index, flags or MTU at its start).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub(crate) struct Ifreq {
    pub ifr_name: [u8; 16],
    pub ifr_data: [u8; 24],
}
const _: () = assert!(size_of::<Ifreq>() == 40);
