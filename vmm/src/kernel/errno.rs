//! Linux errno values the kernel returns.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Errno(pub i32);

pub const EPERM: Errno = Errno(1);
pub const ENOENT: Errno = Errno(2);
pub const ESRCH: Errno = Errno(3);
pub const EINTR: Errno = Errno(4);
pub const EBADF: Errno = Errno(9);
pub const EAGAIN: Errno = Errno(11);
pub const ENOMEM: Errno = Errno(12);
pub const EACCES: Errno = Errno(13);
pub const EFAULT: Errno = Errno(14);
pub const EBUSY: Errno = Errno(16);
pub const EEXIST: Errno = Errno(17);
pub const ENODEV: Errno = Errno(19);
pub const ENOTDIR: Errno = Errno(20);
pub const EISDIR: Errno = Errno(21);
pub const EINVAL: Errno = Errno(22);
pub const EMFILE: Errno = Errno(24);
pub const ENOTTY: Errno = Errno(25);
pub const ESPIPE: Errno = Errno(29);
pub const EPIPE: Errno = Errno(32);
pub const EROFS: Errno = Errno(30);
pub const ERANGE: Errno = Errno(34);
pub const ENAMETOOLONG: Errno = Errno(36);
pub const ENOSYS: Errno = Errno(38);
pub const ECHILD: Errno = Errno(10);
pub const ENOEXEC: Errno = Errno(8);
pub const E2BIG: Errno = Errno(7);
pub const EIO: Errno = Errno(5);
pub const ENXIO: Errno = Errno(6);
pub const ENOTBLK: Errno = Errno(15);
pub const EXDEV: Errno = Errno(18);
pub const ENFILE: Errno = Errno(23);
pub const ETXTBSY: Errno = Errno(26);
pub const EFBIG: Errno = Errno(27);
pub const ENOSPC: Errno = Errno(28);
pub const EMLINK: Errno = Errno(31);
pub const EDOM: Errno = Errno(33);
pub const EDEADLK: Errno = Errno(35);
pub const ENOLCK: Errno = Errno(37);
pub const ENOTEMPTY: Errno = Errno(39);
pub const ELOOP: Errno = Errno(40);
pub const ENOMSG: Errno = Errno(42);
pub const ENODATA: Errno = Errno(61);
pub const ETIME: Errno = Errno(62);
pub const EOVERFLOW: Errno = Errno(75);
pub const ELIBBAD: Errno = Errno(80);
pub const EBADFD: Errno = Errno(77);
pub const EILSEQ: Errno = Errno(84);
pub const ENOTSOCK: Errno = Errno(88);
pub const EDESTADDRREQ: Errno = Errno(89);
pub const EMSGSIZE: Errno = Errno(90);
pub const EPROTOTYPE: Errno = Errno(91);
pub const ENOPROTOOPT: Errno = Errno(92);
pub const EPROTONOSUPPORT: Errno = Errno(93);
pub const EOPNOTSUPP: Errno = Errno(95);
pub const EAFNOSUPPORT: Errno = Errno(97);
pub const ETIMEDOUT: Errno = Errno(110);
pub const ENOTSUP: Errno = EOPNOTSUPP;
/// A blocking call interrupted by a signal with SA_RESTART: the kernel
/// restarts it instead of returning (never seen by the program).
pub const ERESTARTSYS: Errno = Errno(512);
/// A blocking call interrupted by a signal: EINTR if a handler runs,
/// restarted if none does (poll, sigsuspend, pause).
pub const ERESTARTNOHAND: Errno = Errno(514);
/// A relative sleep interrupted by a signal: EINTR if a handler runs,
/// otherwise continued by restart_syscall(2) from the thread's restart
/// block (what was left of it).
pub const ERESTART_RESTARTBLOCK: Errno = Errno(516);

impl Errno {
    /// The value a syscall returns for it.
    pub fn ret(self) -> i64 {
        -(self.0 as i64)
    }

    /// Its name, as strace prints it.
    pub fn name(self) -> &'static str {
        const NAMES: &[(i32, &str)] = &[
            (1, "EPERM"),
            (2, "ENOENT"),
            (3, "ESRCH"),
            (4, "EINTR"),
            (5, "EIO"),
            (6, "ENXIO"),
            (7, "E2BIG"),
            (8, "ENOEXEC"),
            (9, "EBADF"),
            (10, "ECHILD"),
            (11, "EAGAIN"),
            (12, "ENOMEM"),
            (13, "EACCES"),
            (14, "EFAULT"),
            (15, "ENOTBLK"),
            (16, "EBUSY"),
            (17, "EEXIST"),
            (18, "EXDEV"),
            (19, "ENODEV"),
            (20, "ENOTDIR"),
            (21, "EISDIR"),
            (22, "EINVAL"),
            (23, "ENFILE"),
            (24, "EMFILE"),
            (25, "ENOTTY"),
            (26, "ETXTBSY"),
            (27, "EFBIG"),
            (28, "ENOSPC"),
            (29, "ESPIPE"),
            (30, "EROFS"),
            (31, "EMLINK"),
            (32, "EPIPE"),
            (33, "EDOM"),
            (34, "ERANGE"),
            (35, "EDEADLK"),
            (36, "ENAMETOOLONG"),
            (37, "ENOLCK"),
            (38, "ENOSYS"),
            (39, "ENOTEMPTY"),
            (40, "ELOOP"),
            (42, "ENOMSG"),
            (61, "ENODATA"),
            (62, "ETIME"),
            (75, "EOVERFLOW"),
            (80, "ELIBBAD"),
            (77, "EBADFD"),
            (84, "EILSEQ"),
            (88, "ENOTSOCK"),
            (95, "EOPNOTSUPP"),
            (97, "EAFNOSUPPORT"),
            (110, "ETIMEDOUT"),
            (512, "ERESTARTSYS"),
            (514, "ERESTARTNOHAND"),
            (516, "ERESTART_RESTARTBLOCK"),
        ];
        NAMES.iter().find(|(n, _)| *n == self.0).map_or("E?", |(_, s)| s)
    }

    /// Its description, as strerror gives it.
    pub fn describe(self) -> &'static str {
        match self.0 {
            1 => "Operation not permitted",
            512 => "To be restarted if SA_RESTART is set",
            514 => "To be restarted if no handler",
            516 => "Interrupted by signal",
            2 => "No such file or directory",
            3 => "No such process",
            4 => "Interrupted system call",
            9 => "Bad file descriptor",
            10 => "No child processes",
            11 => "Resource temporarily unavailable",
            12 => "Cannot allocate memory",
            13 => "Permission denied",
            14 => "Bad address",
            17 => "File exists",
            20 => "Not a directory",
            21 => "Is a directory",
            22 => "Invalid argument",
            25 => "Inappropriate ioctl for device",
            32 => "Broken pipe",
            38 => "Function not implemented",
            _ => "",
        }
    }
}

pub type SysResult = Result<i64, Errno>;
