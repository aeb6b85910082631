//! Linux errno values the kernel returns (`include/uapi/asm-generic/errno-base.h`,
//! `errno.h`, and the kernel-internal restart codes of `include/linux/errno.h`),
//! each with the name strace prints and, where strace's output has one here,
//! strerror's description.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Errno(pub i32);

/// Defines each errno and, from the same line, its name and description.
macro_rules! errnos {
    ($( $(#[$m:meta])* $name:ident = $v:expr $(=> $describe:expr)? ),* $(,)?) => {
        $( $(#[$m])* pub(crate) const $name: Errno = Errno($v); )*
        /// (errno, name, description) for each errno above.
        const ERRNOS: &[(Errno, &str, &str)] = &[ $( ($name, stringify!($name), errnos!(@d $($describe)?)) ),* ];
    };
    (@d) => { "" };
    (@d $d:expr) => { $d };
}

errnos! {
    EPERM = 1 => "Operation not permitted",
    ENOENT = 2 => "No such file or directory",
    ESRCH = 3 => "No such process",
    EINTR = 4 => "Interrupted system call",
    EIO = 5,
    ENXIO = 6,
    E2BIG = 7,
    ENOEXEC = 8,
    EBADF = 9 => "Bad file descriptor",
    ECHILD = 10 => "No child processes",
    EAGAIN = 11 => "Resource temporarily unavailable",
    ENOMEM = 12 => "Cannot allocate memory",
    EACCES = 13 => "Permission denied",
    EFAULT = 14 => "Bad address",
    ENOTBLK = 15,
    EBUSY = 16,
    EEXIST = 17 => "File exists",
    EXDEV = 18,
    ENODEV = 19,
    ENOTDIR = 20 => "Not a directory",
    EISDIR = 21 => "Is a directory",
    EINVAL = 22 => "Invalid argument",
    ENFILE = 23,
    EMFILE = 24,
    ENOTTY = 25 => "Inappropriate ioctl for device",
    ETXTBSY = 26,
    EFBIG = 27,
    ENOSPC = 28,
    ESPIPE = 29,
    EROFS = 30,
    EMLINK = 31,
    EPIPE = 32 => "Broken pipe",
    EDOM = 33,
    ERANGE = 34,
    EDEADLK = 35,
    ENAMETOOLONG = 36,
    ENOLCK = 37,
    ENOSYS = 38 => "Function not implemented",
    ENOTEMPTY = 39,
    ELOOP = 40,
    ENOMSG = 42,
    ENODATA = 61,
    ETIME = 62,
    EOVERFLOW = 75,
    EBADFD = 77,
    ELIBBAD = 80,
    EILSEQ = 84,
    ENOTSOCK = 88,
    EDESTADDRREQ = 89,
    EMSGSIZE = 90,
    EPROTOTYPE = 91,
    ENOPROTOOPT = 92,
    EPROTONOSUPPORT = 93,
    EOPNOTSUPP = 95,
    ESOCKTNOSUPPORT = 94,
    EAFNOSUPPORT = 97,
    EADDRINUSE = 98,
    EADDRNOTAVAIL = 99,
    ENETUNREACH = 101,
    ECONNABORTED = 103,
    ECONNRESET = 104,
    ENOBUFS = 105,
    EISCONN = 106,
    ENOTCONN = 107,
    ETOOMANYREFS = 109,
    ETIMEDOUT = 110,
    ECONNREFUSED = 111,
    EALREADY = 114,
    EINPROGRESS = 115,
    /// A blocking call interrupted by a signal with SA_RESTART: the kernel
    /// restarts it instead of returning (never seen by the program).
    ERESTARTSYS = 512 => "To be restarted if SA_RESTART is set",
    /// A blocking call interrupted by a signal: EINTR if a handler runs,
    /// restarted if none does (poll, sigsuspend, pause).
    ERESTARTNOHAND = 514 => "To be restarted if no handler",
    /// A relative sleep interrupted by a signal: EINTR if a handler runs,
    /// otherwise continued by restart_syscall(2) from the thread's restart
    /// block (what was left of it).
    ERESTART_RESTARTBLOCK = 516 => "Interrupted by signal",
}

/// Linux's largest errno: a syscall result in `-MAX_ERRNO..0` is an error.
pub(crate) const MAX_ERRNO: i64 = 4095;

impl Errno {
    /// The value a syscall returns for it.
    pub(crate) fn ret(self) -> i64 {
        -(self.0 as i64)
    }

    /// The errno a syscall result `r` reports, if it is one.
    pub(crate) fn from_ret(r: i64) -> Option<Errno> {
        (-MAX_ERRNO..0).contains(&r).then(|| Errno(-r as i32))
    }

    /// Whether it is one of the kernel's restart codes, which the program
    /// never sees (strace shows them as `= ?`).
    pub(crate) fn is_restart(self) -> bool {
        matches!(self, ERESTARTSYS | ERESTARTNOHAND | ERESTART_RESTARTBLOCK)
    }

    /// Its name, as strace prints it.
    pub(crate) fn name(self) -> &'static str {
        ERRNOS.iter().find(|(e, ..)| *e == self).map_or("E?", |(_, s, _)| s)
    }

    /// Its description, as strerror gives it.
    pub(crate) fn describe(self) -> &'static str {
        ERRNOS.iter().find(|(e, ..)| *e == self).map_or("", |(.., d)| d)
    }
}

pub(crate) type SysResult = Result<i64, Errno>;
