//! The one syscall table: each system call's numbers (x86-64's own table
//! and asm-generic's, which arm64 uses), name, argument kinds (for
//! strace), class, handler and ring policy, written once; the predicates
//! that let the ring's server run a call only when it cannot block.

use super::super::abi::fcntl::{F_OFD_SETLKW, F_SETLKW};
use super::super::abi::futex::{FUTEX_PRIVATE_FLAG, FUTEX_WAKE, FUTEX_WAKE_BITSET};
use super::super::files::{FileKind, Input};
use super::*;

use Arg::*;

const M: Class = Class::MEMORY;
const F: Class = Class::FILE.union(Class::DESC);
const FP: Class = Class::FILE;
const D: Class = Class::DESC;
const P: Class = Class::PROCESS;
const S: Class = Class::SIGNAL;
const C: Class = Class::CLOCK;
const N: Class = Class::NETWORK;
const I: Class = Class::IPC;
const O: Class = Class::empty();

/// No such call in asm-generic's table: it has only the `*at` (or `2`,
/// `pwait`, clone) form, or is x86's own.
const NO: u16 = u16::MAX;

const fn sc(
    x86_64: u16,
    generic: u16,
    name: &'static str,
    args: &'static [Arg],
    class: Class,
    handler: Option<Handler>,
) -> Syscall {
    Syscall { nrs: Nrs { x86_64, generic }, name, args, ret: Ret::Int, class, handler, ring: Ring::Exit, quiet: false }
}

/// A call that changes nothing a /proc file shows.
const fn quiet(s: Syscall) -> Syscall {
    Syscall { quiet: true, ..s }
}

/// A call the ring's server runs.
const fn ring(s: Syscall) -> Syscall {
    Syscall { ring: Ring::Serve, ..s }
}

/// A call the ring's server runs when `when` holds.
const fn ring_if(s: Syscall, when: fn(&KernelState, Pid, &[u64; 6]) -> bool) -> Syscall {
    Syscall { ring: Ring::ServeIf(when), ..s }
}

const fn hex(s: Syscall) -> Syscall {
    Syscall { ret: Ret::Hex, ..s }
}

/// Every system call faultline knows by name. Calls numbered 424 and up
/// have one number in every table.
pub(crate) static TABLE: &[Syscall] = &[
    quiet(ring_if(sc(0, 63, "read", &[Fd, OutBuf(2), Long], D, Some(io::read)), fd_never_blocks)),
    quiet(ring_if(sc(1, 64, "write", &[Fd, InBuf(2), Long], D, Some(io::write)), fd_never_blocks)),
    ring(sc(2, NO, "open", &[Path, OpenFlags, Mode], FP, Some(open::open))),
    quiet(ring(sc(3, 57, "close", &[Fd], D, Some(open::close)))),
    ring(sc(4, NO, "stat", &[Path, Ptr], FP, Some(stat::stat))),
    quiet(ring(sc(5, 80, "fstat", &[Fd, Ptr], D, Some(stat::fstat)))),
    ring(sc(6, NO, "lstat", &[Path, Ptr], FP, Some(stat::lstat))),
    sc(7, NO, "poll", &[Ptr, Int, Int], D, Some(poll::poll)),
    quiet(ring(sc(8, 62, "lseek", &[Fd, Long, Whence], D, Some(io::lseek)))),
    // Calls that may take pages away from the guest (unmapping, write-
    // protecting, discarding) go by exit: each host invalidation they make
    // (MADV_DONTNEED, a write-protect round trip) interrupts every vCPU that is
    // in guest mode to flush its TLB, and the calling one would be spinning
    // there in the ring's stub: a 1 MiB munmap took 30-40 ms through the
    // ring, 1-5 ms by an exit.
    ring_if(hex(sc(9, 222, "mmap", &[Ptr, Long, Prot, MapFlags, Fd, Hex], M, Some(mm::mmap))), mmap_replaces_nothing),
    sc(10, 226, "mprotect", &[Ptr, Long, Prot], M, Some(mm::mprotect)),
    sc(11, 215, "munmap", &[Ptr, Long], M, Some(mm::munmap)),
    ring_if(hex(sc(12, 214, "brk", &[Ptr], M, Some(mm::brk))), brk_does_not_shrink),
    ring(sc(13, 134, "rt_sigaction", &[Signal, Ptr, Ptr, Long], S, Some(signal::rt_sigaction))),
    ring(sc(14, 135, "rt_sigprocmask", &[SigHow, Ptr, Ptr, Long], S, Some(signal::rt_sigprocmask))),
    sc(15, 139, "rt_sigreturn", &[], S, Some(signal::rt_sigreturn)),
    ring(sc(16, 29, "ioctl", &[Fd, Hex, Hex], D, Some(io::ioctl))),
    quiet(ring_if(sc(17, 67, "pread64", &[Fd, OutBuf(2), Long, Long], D, Some(io::pread64)), fd_never_blocks)),
    quiet(ring_if(sc(18, 68, "pwrite64", &[Fd, InBuf(2), Long, Long], D, Some(io::pwrite64)), fd_never_blocks)),
    quiet(ring_if(sc(19, 65, "readv", &[Fd, Ptr, Int], D, Some(io::readv)), fd_never_blocks)),
    quiet(ring_if(sc(20, 66, "writev", &[Fd, Ptr, Int], D, Some(io::writev)), fd_never_blocks)),
    ring(sc(21, NO, "access", &[Path, Int], FP, Some(stat::access))),
    sc(22, NO, "pipe", &[Ptr], D, Some(fcntl::pipe)),
    sc(23, NO, "select", &[Int, Ptr, Ptr, Ptr, Ptr], D, Some(poll::select)),
    ring(sc(24, 124, "sched_yield", &[], O, Some(sched::sched_yield))),
    hex(sc(25, 216, "mremap", &[Ptr, Long, Long, Hex, Ptr], M, Some(mm::mremap))),
    ring(sc(26, 227, "msync", &[Ptr, Long, Hex], M, Some(mm::msync))),
    ring(sc(27, 232, "mincore", &[Ptr, Long, Ptr], M, Some(mm::mincore))),
    sc(28, 233, "madvise", &[Ptr, Long, Madvise], M, Some(mm::madvise)),
    sc(29, 194, "shmget", &[Int, Long, Hex], I, Some(shm::shmget)),
    sc(30, 196, "shmat", &[Int, Ptr, Hex], I.union(M), Some(shm::shmat)),
    sc(31, 195, "shmctl", &[Int, Int, Ptr], I, Some(shm::shmctl)),
    ring(sc(32, 23, "dup", &[Fd], D, Some(fcntl::dup))),
    ring(sc(33, NO, "dup2", &[Fd, Fd], D, Some(fcntl::dup2))),
    sc(34, NO, "pause", &[], S, Some(signal::pause)),
    sc(35, 101, "nanosleep", &[Ptr, Ptr], C, Some(time::nanosleep)),
    sc(36, 102, "getitimer", &[Int, Ptr], O, Some(timers::getitimer)),
    sc(37, NO, "alarm", &[Int], O, Some(time::alarm)),
    sc(38, 103, "setitimer", &[Int, Ptr, Ptr], O, Some(timers::setitimer)),
    quiet(ring(sc(39, 172, "getpid", &[], P, Some(ids::getpid)))),
    sc(40, 71, "sendfile", &[Fd, Fd, Ptr, Long], D, Some(io::sendfile)),
    sc(41, 198, "socket", &[Family, SockType, Int], N, Some(socket::socket)),
    sc(42, 203, "connect", &[Fd, Ptr, Int], N, Some(socket::connect)),
    sc(43, 202, "accept", &[Fd, Ptr, Ptr], N, Some(socket::accept)),
    sc(44, 206, "sendto", &[Fd, InBuf(2), Long, MsgFlags, Ptr, Int], N, Some(sockmsg::sendto)),
    sc(45, 207, "recvfrom", &[Fd, OutBuf(2), Long, MsgFlags, Ptr, Ptr], N, Some(sockmsg::recvfrom)),
    sc(46, 211, "sendmsg", &[Fd, Ptr, MsgFlags], N, Some(sockmsg::sendmsg)),
    sc(47, 212, "recvmsg", &[Fd, Ptr, MsgFlags], N, Some(sockmsg::recvmsg)),
    sc(48, 210, "shutdown", &[Fd, ShutHow], N, Some(socket::shutdown)),
    sc(49, 200, "bind", &[Fd, Ptr, Int], N, Some(socket::bind)),
    sc(50, 201, "listen", &[Fd, Int], N, Some(socket::listen)),
    sc(51, 204, "getsockname", &[Fd, Ptr, Ptr], N, Some(socket::getsockname)),
    sc(52, 205, "getpeername", &[Fd, Ptr, Ptr], N, Some(socket::getpeername)),
    sc(53, 199, "socketpair", &[Family, SockType, Int, Ptr], N, Some(socket::socketpair)),
    sc(54, 208, "setsockopt", &[Fd, SockLevel, SockOpt, Ptr, Int], N, Some(sockopt::setsockopt)),
    sc(55, 209, "getsockopt", &[Fd, SockLevel, SockOpt, Ptr, Ptr], N, Some(sockopt::getsockopt)),
    sc(56, 220, "clone", &[CloneFlags, Ptr, Ptr, Ptr, Hex], P, Some(clone::clone)),
    sc(57, NO, "fork", &[], P, Some(clone::fork)),
    sc(58, NO, "vfork", &[], P, Some(clone::vfork)),
    sc(59, 221, "execve", &[Path, Ptr, Ptr], P.union(FP), Some(exec::execve)),
    sc(60, 93, "exit", &[Int], P, Some(exit::exit)),
    sc(61, 260, "wait4", &[Int, Ptr, WaitOpts, Ptr], P, Some(wait::wait4)),
    sc(62, 129, "kill", &[Int, Signal], S.union(P), Some(kill::kill)),
    ring(sc(63, 160, "uname", &[Ptr], O, Some(system::uname))),
    sc(64, 190, "semget", &[Int, Int, Hex], I, None),
    sc(65, 193, "semop", &[Int, Ptr, Int], I, None),
    sc(66, 191, "semctl", &[Int, Int, Int, Hex], I, None),
    sc(67, 197, "shmdt", &[Ptr], I.union(M), Some(shm::shmdt)),
    sc(68, 186, "msgget", &[Int, Hex], I, None),
    sc(69, 189, "msgsnd", &[Int, Ptr, Long, Hex], I, None),
    sc(70, 188, "msgrcv", &[Int, Ptr, Long, Long, Hex], I, None),
    sc(71, 187, "msgctl", &[Int, Int, Ptr], I, None),
    ring_if(sc(72, 25, "fcntl", &[Fd, Fcntl, Hex], D, Some(fcntl::fcntl)), fcntl_never_blocks),
    sc(73, 32, "flock", &[Fd, Int], D, Some(fcntl::flock)),
    sc(74, 82, "fsync", &[Fd], D, Some(file_io::fsync)),
    sc(75, 83, "fdatasync", &[Fd], D, Some(file_io::fsync)),
    sc(76, 45, "truncate", &[Path, Long], FP, Some(file_io::truncate)),
    sc(77, 46, "ftruncate", &[Fd, Long], D, Some(file_io::ftruncate)),
    sc(78, NO, "getdents", &[Fd, Ptr, Int], D, None),
    ring(sc(79, 17, "getcwd", &[OutBuf(1), Long], FP, Some(dir::getcwd))),
    sc(80, 49, "chdir", &[Path], FP, Some(dir::chdir)),
    sc(81, 50, "fchdir", &[Fd], D, Some(dir::fchdir)),
    sc(82, NO, "rename", &[Path, Path], FP, Some(namei::rename)),
    sc(83, NO, "mkdir", &[Path, Mode], FP, Some(namei::mkdir)),
    sc(84, NO, "rmdir", &[Path], FP, Some(namei::rmdir)),
    sc(85, NO, "creat", &[Path, Mode], FP, Some(open::creat)),
    sc(86, NO, "link", &[Path, Path], FP, Some(namei::link)),
    sc(87, NO, "unlink", &[Path], FP, Some(namei::unlink)),
    sc(88, NO, "symlink", &[Path, Path], FP, Some(namei::symlink)),
    ring(sc(89, NO, "readlink", &[Path, OutBuf(2), Long], FP, Some(stat::readlink))),
    sc(90, NO, "chmod", &[Path, Mode], FP, Some(attr::chmod)),
    sc(91, 52, "fchmod", &[Fd, Mode], D, Some(attr::fchmod)),
    sc(92, NO, "chown", &[Path, Int, Int], FP, Some(attr::chown)),
    sc(93, 55, "fchown", &[Fd, Int, Int], D, Some(attr::fchown)),
    sc(94, NO, "lchown", &[Path, Int, Int], FP, Some(attr::lchown)),
    ring(sc(95, 166, "umask", &[Mode], O, Some(attr::umask))),
    ring(sc(96, 169, "gettimeofday", &[Ptr, Ptr], C, Some(time::gettimeofday))),
    ring(sc(97, 163, "getrlimit", &[Resource, Ptr], O, Some(limits::getrlimit))),
    ring(sc(98, 165, "getrusage", &[Int, Ptr], O, Some(rusage::getrusage))),
    ring(sc(99, 179, "sysinfo", &[Ptr], O, Some(system::sysinfo))),
    ring(sc(100, 153, "times", &[Ptr], O, Some(rusage::times))),
    sc(101, 117, "ptrace", &[Int, Int, Ptr, Ptr], O, None),
    quiet(ring(sc(102, 174, "getuid", &[], O, Some(cred::getuid)))),
    sc(103, 116, "syslog", &[Int, Ptr, Int], O, None),
    quiet(ring(sc(104, 176, "getgid", &[], O, Some(cred::getgid)))),
    sc(105, 146, "setuid", &[Int], O, Some(cred::setuid)),
    sc(106, 144, "setgid", &[Int], O, Some(cred::setgid)),
    quiet(ring(sc(107, 175, "geteuid", &[], O, Some(cred::geteuid)))),
    quiet(ring(sc(108, 177, "getegid", &[], O, Some(cred::getegid)))),
    sc(109, 154, "setpgid", &[Int, Int], O, Some(ids::setpgid)),
    quiet(ring(sc(110, 173, "getppid", &[], O, Some(ids::getppid)))),
    ring(sc(111, NO, "getpgrp", &[], O, Some(ids::getpgrp))),
    sc(112, 157, "setsid", &[], O, Some(ids::setsid)),
    sc(113, 145, "setreuid", &[Int, Int], O, Some(cred::setreuid)),
    sc(114, 143, "setregid", &[Int, Int], O, Some(cred::setregid)),
    ring(sc(115, 158, "getgroups", &[Int, Ptr], O, Some(cred::getgroups))),
    sc(116, 159, "setgroups", &[Int, Ptr], O, Some(cred::setgroups)),
    sc(117, 147, "setresuid", &[Int, Int, Int], O, Some(cred::setresuid)),
    ring(sc(118, 148, "getresuid", &[Ptr, Ptr, Ptr], O, Some(cred::getresuid))),
    sc(119, 149, "setresgid", &[Int, Int, Int], O, Some(cred::setresgid)),
    ring(sc(120, 150, "getresgid", &[Ptr, Ptr, Ptr], O, Some(cred::getresgid))),
    ring(sc(121, 155, "getpgid", &[Int], O, Some(ids::getpgid))),
    sc(122, 151, "setfsuid", &[Int], O, Some(cred::setfsuid)),
    sc(123, 152, "setfsgid", &[Int], O, Some(cred::setfsgid)),
    ring(sc(124, 156, "getsid", &[Int], O, Some(ids::getsid))),
    sc(125, 90, "capget", &[Ptr, Ptr], O, Some(cred::capget)),
    sc(126, 91, "capset", &[Ptr, Ptr], O, Some(cred::capset)),
    sc(127, 136, "rt_sigpending", &[Ptr, Long], S, Some(signal::rt_sigpending)),
    sc(128, 137, "rt_sigtimedwait", &[Ptr, Ptr, Ptr, Long], S, Some(signal::rt_sigtimedwait)),
    sc(129, 138, "rt_sigqueueinfo", &[Int, Signal, Ptr], S, Some(signal::rt_sigqueueinfo)),
    sc(130, 133, "rt_sigsuspend", &[Ptr, Long], S, Some(signal::rt_sigsuspend)),
    sc(131, 132, "sigaltstack", &[Ptr, Ptr], S, Some(signal::sigaltstack)),
    sc(132, NO, "utime", &[Path, Ptr], FP, Some(attr::utime)),
    sc(133, NO, "mknod", &[Path, Mode, Hex], FP, Some(mknod::mknod)),
    sc(134, NO, "uselib", &[Path], FP, None),
    sc(135, 92, "personality", &[Hex], O, Some(prctl::personality)),
    sc(136, NO, "ustat", &[Hex, Ptr], O, None),
    ring(sc(137, 43, "statfs", &[Path, Ptr], FP, Some(stat::statfs))),
    ring(sc(138, 44, "fstatfs", &[Fd, Ptr], D, Some(stat::fstatfs))),
    sc(139, NO, "sysfs", &[Int, Hex, Hex], O, None),
    ring(sc(140, 141, "getpriority", &[Int, Int], O, Some(sched::getpriority))),
    sc(141, 140, "setpriority", &[Int, Int, Int], O, Some(sched::setpriority)),
    sc(142, 118, "sched_setparam", &[Int, Ptr], O, None),
    sc(143, 121, "sched_getparam", &[Int, Ptr], O, Some(sched::sched_getparam)),
    sc(144, 119, "sched_setscheduler", &[Int, Int, Ptr], O, None),
    sc(145, 120, "sched_getscheduler", &[Int], O, Some(sched::sched_getscheduler)),
    sc(146, 125, "sched_get_priority_max", &[Int], O, Some(sched::sched_get_priority_max)),
    sc(147, 126, "sched_get_priority_min", &[Int], O, Some(sched::sched_get_priority_min)),
    sc(148, 127, "sched_rr_get_interval", &[Int, Ptr], O, None),
    ring(sc(149, 228, "mlock", &[Ptr, Long], M, Some(crate::kernel::mm::mlock::mlock))),
    ring(sc(150, 229, "munlock", &[Ptr, Long], M, Some(crate::kernel::mm::mlock::munlock))),
    ring(sc(151, 230, "mlockall", &[Hex], M, Some(crate::kernel::mm::mlock::mlockall))),
    ring(sc(152, 231, "munlockall", &[], M, Some(crate::kernel::mm::mlock::munlockall))),
    sc(153, 58, "vhangup", &[], O, None),
    sc(154, NO, "modify_ldt", &[Int, Ptr, Long], O, None),
    sc(155, 41, "pivot_root", &[Path, Path], FP, None),
    sc(156, NO, "_sysctl", &[Ptr], O, None),
    sc(157, 167, "prctl", &[Int, Hex, Hex, Hex, Hex], O, Some(prctl::prctl)),
    sc(158, NO, "arch_prctl", &[ArchPrctl, Hex], P, Some(prctl::arch_prctl)),
    sc(159, 171, "adjtimex", &[Ptr], C, None),
    sc(160, 164, "setrlimit", &[Resource, Ptr], O, Some(limits::setrlimit)),
    sc(161, 51, "chroot", &[Path], FP, None),
    sc(162, 81, "sync", &[], O, Some(file_io::sync)),
    sc(163, 89, "acct", &[Path], FP, None),
    sc(164, 170, "settimeofday", &[Ptr, Ptr], C, None),
    sc(165, 40, "mount", &[Path, Path, Path, Hex, Ptr], FP, Some(mount::mount)),
    sc(166, 39, "umount2", &[Path, Hex], FP, Some(mount::umount2)),
    sc(167, 224, "swapon", &[Path, Hex], FP, None),
    sc(168, 225, "swapoff", &[Path], FP, None),
    sc(169, 142, "reboot", &[Hex, Hex, Hex, Ptr], O, None),
    sc(170, 161, "sethostname", &[Ptr, Int], O, None),
    sc(171, 162, "setdomainname", &[Ptr, Int], O, None),
    sc(172, NO, "iopl", &[Int], O, None),
    sc(173, NO, "ioperm", &[Hex, Hex, Int], O, None),
    sc(174, NO, "create_module", &[], O, None),
    sc(175, 105, "init_module", &[Ptr, Long, Ptr], O, None),
    sc(176, 106, "delete_module", &[Ptr, Hex], O, None),
    sc(177, NO, "get_kernel_syms", &[], O, None),
    sc(178, NO, "query_module", &[], O, None),
    sc(179, 60, "quotactl", &[Int, Path, Int, Ptr], FP, None),
    sc(180, 42, "nfsservctl", &[], O, None),
    sc(181, NO, "getpmsg", &[], O, None),
    sc(182, NO, "putpmsg", &[], O, None),
    sc(183, NO, "afs_syscall", &[], O, None),
    sc(184, NO, "tuxcall", &[], O, None),
    sc(185, NO, "security", &[], O, None),
    quiet(ring(sc(186, 178, "gettid", &[], O, Some(ids::gettid)))),
    sc(187, 213, "readahead", &[Fd, Long, Long], D, Some(file_io::readahead)),
    sc(188, 5, "setxattr", &[Path, Path, Ptr, Long, Hex], FP, None),
    sc(189, 6, "lsetxattr", &[Path, Path, Ptr, Long, Hex], FP, None),
    sc(190, 7, "fsetxattr", &[Fd, Path, Ptr, Long, Hex], D, None),
    // Looked up as stat looks (`ls -l` asks two per file): on the ring.
    ring(sc(191, 8, "getxattr", &[Path, Path, Ptr, Long], FP, Some(xattr::getxattr))),
    ring(sc(192, 9, "lgetxattr", &[Path, Path, Ptr, Long], FP, Some(xattr::lgetxattr))),
    ring(sc(193, 10, "fgetxattr", &[Fd, Path, Ptr, Long], D, Some(xattr::fgetxattr))),
    ring(sc(194, 11, "listxattr", &[Path, Ptr, Long], FP, Some(xattr::listxattr))),
    ring(sc(195, 12, "llistxattr", &[Path, Ptr, Long], FP, Some(xattr::llistxattr))),
    ring(sc(196, 13, "flistxattr", &[Fd, Ptr, Long], D, Some(xattr::flistxattr))),
    sc(197, 14, "removexattr", &[Path, Path], FP, None),
    sc(198, 15, "lremovexattr", &[Path, Path], FP, None),
    sc(199, 16, "fremovexattr", &[Fd, Path], D, None),
    sc(200, 130, "tkill", &[Int, Signal], S, Some(kill::tkill)),
    quiet(ring(sc(201, NO, "time", &[Ptr], C, Some(time::time)))),
    ring_if(sc(202, 98, "futex", &[Ptr, FutexOp, Int, Ptr, Ptr, Hex], O, Some(futex::futex)), futex_wakes),
    sc(203, 122, "sched_setaffinity", &[Int, Long, Ptr], O, Some(sched::sched_setaffinity)),
    ring(sc(204, 123, "sched_getaffinity", &[Int, Long, Ptr], O, Some(sched::sched_getaffinity))),
    sc(205, NO, "set_thread_area", &[Ptr], O, None),
    sc(206, 0, "io_setup", &[Int, Ptr], O, None),
    sc(207, 1, "io_destroy", &[Hex], O, None),
    sc(208, 4, "io_getevents", &[Hex, Long, Long, Ptr, Ptr], O, None),
    sc(209, 2, "io_submit", &[Hex, Long, Ptr], O, None),
    sc(210, 3, "io_cancel", &[Hex, Ptr, Ptr], O, None),
    sc(211, NO, "get_thread_area", &[Ptr], O, None),
    sc(212, 18, "lookup_dcookie", &[Hex, Ptr, Long], O, None),
    sc(213, NO, "epoll_create", &[Int], D, Some(epoll::epoll_create)),
    sc(214, NO, "epoll_ctl_old", &[], D, None),
    sc(215, NO, "epoll_wait_old", &[], D, None),
    sc(216, 234, "remap_file_pages", &[Ptr, Long, Hex, Long, Hex], M, None),
    ring(sc(217, 61, "getdents64", &[Fd, Ptr, Int], D, Some(dir::getdents64))),
    ring(sc(218, 96, "set_tid_address", &[Ptr], O, Some(prctl::set_tid_address))),
    sc(219, 128, "restart_syscall", &[], O, Some(time::restart_syscall)),
    sc(220, 192, "semtimedop", &[Int, Ptr, Int, Ptr], I, None),
    sc(221, 223, "fadvise64", &[Fd, Long, Long, Int], D, Some(file_io::fadvise64)),
    sc(222, 107, "timer_create", &[Clock, Ptr, Ptr], O, Some(timers::timer_create)),
    sc(223, 110, "timer_settime", &[Int, Hex, Ptr, Ptr], O, Some(timers::timer_settime)),
    sc(224, 108, "timer_gettime", &[Int, Ptr], O, Some(timers::timer_gettime)),
    sc(225, 109, "timer_getoverrun", &[Int], O, Some(timers::timer_getoverrun)),
    sc(226, 111, "timer_delete", &[Int], O, Some(timers::timer_delete)),
    sc(227, 112, "clock_settime", &[Clock, Ptr], C, None),
    quiet(ring(sc(228, 113, "clock_gettime", &[Clock, Ptr], C, Some(time::clock_gettime)))),
    ring(sc(229, 114, "clock_getres", &[Clock, Ptr], C, Some(time::clock_getres))),
    sc(230, 115, "clock_nanosleep", &[Clock, Hex, Ptr, Ptr], C, Some(time::clock_nanosleep)),
    sc(231, 94, "exit_group", &[Int], P, Some(exit::exit_group)),
    sc(232, NO, "epoll_wait", &[Fd, Ptr, Int, Int], D, Some(epoll::epoll_wait)),
    sc(233, 21, "epoll_ctl", &[Fd, EpollOp, Fd, Ptr], D, Some(epoll::epoll_ctl)),
    sc(234, 131, "tgkill", &[Int, Int, Signal], S, Some(kill::tgkill)),
    sc(235, NO, "utimes", &[Path, Ptr], FP, Some(attr::utimes)),
    sc(236, NO, "vserver", &[], O, None),
    sc(237, 235, "mbind", &[Ptr, Long, Int, Ptr, Long, Hex], M, None),
    sc(238, 237, "set_mempolicy", &[Int, Ptr, Long], M, None),
    sc(239, 236, "get_mempolicy", &[Ptr, Ptr, Long, Ptr, Hex], M, None),
    sc(240, 180, "mq_open", &[Path, Hex, Mode, Ptr], D, None),
    sc(241, 181, "mq_unlink", &[Path], O, None),
    sc(242, 182, "mq_timedsend", &[Fd, Ptr, Long, Int, Ptr], D, None),
    sc(243, 183, "mq_timedreceive", &[Fd, Ptr, Long, Ptr, Ptr], D, None),
    sc(244, 184, "mq_notify", &[Fd, Ptr], D, None),
    sc(245, 185, "mq_getsetattr", &[Fd, Ptr, Ptr], D, None),
    sc(246, 104, "kexec_load", &[Hex, Long, Ptr, Hex], O, None),
    sc(247, 95, "waitid", &[Int, Int, Ptr, WaitOpts, Ptr], P, Some(wait::waitid)),
    sc(248, 217, "add_key", &[], O, None),
    sc(249, 218, "request_key", &[], O, None),
    sc(250, 219, "keyctl", &[], O, None),
    sc(251, 30, "ioprio_set", &[Int, Int, Int], O, None),
    sc(252, 31, "ioprio_get", &[Int, Int], O, None),
    sc(253, NO, "inotify_init", &[], D, None),
    sc(254, 27, "inotify_add_watch", &[Fd, Path, Hex], D, None),
    sc(255, 28, "inotify_rm_watch", &[Fd, Int], D, None),
    sc(256, 238, "migrate_pages", &[Int, Long, Ptr, Ptr], M, None),
    ring(sc(257, 56, "openat", &[Fd, Path, OpenFlags, Mode], F, Some(open::openat))),
    sc(258, 34, "mkdirat", &[Fd, Path, Mode], F, Some(namei::mkdirat)),
    sc(259, 33, "mknodat", &[Fd, Path, Mode, Hex], F, Some(mknod::mknodat)),
    sc(260, 54, "fchownat", &[Fd, Path, Int, Int, Hex], F, Some(attr::fchownat)),
    sc(261, NO, "futimesat", &[Fd, Path, Ptr], F, None),
    ring(sc(262, 79, "newfstatat", &[Fd, Path, Ptr, Hex], F, Some(stat::newfstatat))),
    sc(263, 35, "unlinkat", &[Fd, Path, Hex], F, Some(namei::unlinkat)),
    sc(264, 38, "renameat", &[Fd, Path, Fd, Path], F, Some(namei::renameat)),
    sc(265, 37, "linkat", &[Fd, Path, Fd, Path, Hex], F, Some(namei::linkat)),
    sc(266, 36, "symlinkat", &[Path, Fd, Path], F, Some(namei::symlinkat)),
    ring(sc(267, 78, "readlinkat", &[Fd, Path, OutBuf(3), Long], F, Some(stat::readlinkat))),
    sc(268, 53, "fchmodat", &[Fd, Path, Mode], F, Some(attr::fchmodat)),
    ring(sc(269, 48, "faccessat", &[Fd, Path, Int], F, Some(stat::faccessat))),
    sc(270, 72, "pselect6", &[Int, Ptr, Ptr, Ptr, Ptr, Ptr], D, Some(poll::pselect6)),
    sc(271, 73, "ppoll", &[Ptr, Int, Ptr, Ptr, Long], D, Some(poll::ppoll)),
    sc(272, 97, "unshare", &[CloneFlags], P, Some(clone::unshare)),
    ring(sc(273, 99, "set_robust_list", &[Ptr, Long], O, Some(prctl::set_robust_list))),
    ring(sc(274, 100, "get_robust_list", &[Int, Ptr, Ptr], O, Some(prctl::get_robust_list))),
    sc(275, 76, "splice", &[Fd, Ptr, Fd, Ptr, Long, Hex], D, None),
    sc(276, 77, "tee", &[Fd, Fd, Long, Hex], D, None),
    sc(277, 84, "sync_file_range", &[Fd, Long, Long, Hex], D, Some(file_io::sync_file_range)),
    sc(278, 75, "vmsplice", &[Fd, Ptr, Long, Hex], D, None),
    sc(279, 239, "move_pages", &[Int, Long, Ptr, Ptr, Ptr, Hex], M, None),
    sc(280, 88, "utimensat", &[Fd, Path, Ptr, Hex], F, Some(attr::utimensat)),
    sc(281, 22, "epoll_pwait", &[Fd, Ptr, Int, Int, Ptr, Long], D, Some(epoll::epoll_pwait)),
    sc(282, NO, "signalfd", &[Fd, Ptr, Long], D.union(S), Some(eventfd::signalfd)),
    sc(283, 85, "timerfd_create", &[Clock, Hex], D, Some(eventfd::timerfd_create)),
    sc(284, NO, "eventfd", &[Int], D, Some(eventfd::eventfd)),
    sc(285, 47, "fallocate", &[Fd, Int, Long, Long], D, Some(file_io::fallocate)),
    sc(286, 86, "timerfd_settime", &[Fd, Hex, Ptr, Ptr], D, Some(eventfd::timerfd_settime)),
    sc(287, 87, "timerfd_gettime", &[Fd, Ptr], D, Some(eventfd::timerfd_gettime)),
    sc(288, 242, "accept4", &[Fd, Ptr, Ptr, SockType], N, Some(socket::accept4)),
    sc(289, 74, "signalfd4", &[Fd, Ptr, Long, Hex], D.union(S), Some(eventfd::signalfd4)),
    sc(290, 19, "eventfd2", &[Int, Hex], D, Some(eventfd::eventfd2)),
    sc(291, 20, "epoll_create1", &[Hex], D, Some(epoll::epoll_create1)),
    ring(sc(292, 24, "dup3", &[Fd, Fd, Hex], D, Some(fcntl::dup3))),
    sc(293, 59, "pipe2", &[Ptr, Hex], D, Some(fcntl::pipe2)),
    sc(294, 26, "inotify_init1", &[Hex], D, None),
    sc(295, 69, "preadv", &[Fd, Ptr, Int, Long], D, Some(io::preadv)),
    sc(296, 70, "pwritev", &[Fd, Ptr, Int, Long], D, Some(io::pwritev)),
    sc(297, 240, "rt_tgsigqueueinfo", &[Int, Int, Signal, Ptr], S, Some(signal::rt_tgsigqueueinfo)),
    sc(298, 241, "perf_event_open", &[Ptr, Int, Int, Fd, Hex], D, None),
    sc(299, 243, "recvmmsg", &[Fd, Ptr, Int, MsgFlags, Ptr], N, Some(sockmsg::recvmmsg)),
    sc(300, 262, "fanotify_init", &[Hex, Hex], D, None),
    sc(301, 263, "fanotify_mark", &[Fd, Hex, Hex, Fd, Path], D, None),
    ring(sc(302, 261, "prlimit64", &[Int, Resource, Ptr, Ptr], O, Some(limits::prlimit64))),
    sc(303, 264, "name_to_handle_at", &[Fd, Path, Ptr, Ptr, Hex], F, None),
    sc(304, 265, "open_by_handle_at", &[Fd, Ptr, Hex], D, None),
    sc(305, 266, "clock_adjtime", &[Clock, Ptr], C, None),
    sc(306, 267, "syncfs", &[Fd], D, Some(file_io::fsync)),
    sc(307, 269, "sendmmsg", &[Fd, Ptr, Int, MsgFlags], N, Some(sockmsg::sendmmsg)),
    sc(308, 268, "setns", &[Fd, Hex], D, None),
    sc(309, 168, "getcpu", &[Ptr, Ptr, Ptr], O, Some(system::getcpu)),
    sc(310, 270, "process_vm_readv", &[Int, Ptr, Long, Ptr, Long, Hex], O, None),
    sc(311, 271, "process_vm_writev", &[Int, Ptr, Long, Ptr, Long, Hex], O, None),
    sc(312, 272, "kcmp", &[Int, Int, Int, Hex, Hex], O, None),
    sc(313, 273, "finit_module", &[Fd, Path, Hex], D, None),
    sc(314, 274, "sched_setattr", &[Int, Ptr, Hex], O, None),
    sc(315, 275, "sched_getattr", &[Int, Ptr, Int, Hex], O, None),
    sc(316, 276, "renameat2", &[Fd, Path, Fd, Path, Hex], F, Some(namei::renameat2)),
    sc(317, 277, "seccomp", &[Int, Hex, Ptr], O, None),
    sc(318, 278, "getrandom", &[OutBuf(1), Long, Hex], O, Some(system::getrandom)),
    sc(319, 279, "memfd_create", &[Path, Hex], D, Some(memfd::memfd_create)),
    sc(320, 294, "kexec_file_load", &[Fd, Fd, Long, Path, Hex], D, None),
    sc(321, 280, "bpf", &[Int, Ptr, Int], D, None),
    sc(322, 281, "execveat", &[Fd, Path, Ptr, Ptr, Hex], P.union(F), Some(exec::execveat)),
    sc(323, 282, "userfaultfd", &[Hex], D, None),
    sc(324, 283, "membarrier", &[Int, Hex, Int], O, Some(system::membarrier)),
    ring(sc(325, 284, "mlock2", &[Ptr, Long, Hex], M, Some(crate::kernel::mm::mlock::mlock2))),
    sc(326, 285, "copy_file_range", &[Fd, Ptr, Fd, Ptr, Long, Hex], D, Some(io::copy_file_range)),
    sc(327, 286, "preadv2", &[Fd, Ptr, Int, Long, Hex], D, Some(io::preadv2)),
    sc(328, 287, "pwritev2", &[Fd, Ptr, Int, Long, Hex], D, Some(io::pwritev2)),
    sc(329, 288, "pkey_mprotect", &[Ptr, Long, Prot, Int], M, Some(mm::pkey_mprotect)),
    sc(330, 289, "pkey_alloc", &[Hex, Hex], M, Some(mm::pkey_alloc)),
    sc(331, 290, "pkey_free", &[Int], M, Some(mm::pkey_free)),
    ring(sc(332, 291, "statx", &[Fd, Path, Hex, Hex, Ptr], F, Some(stat::statx))),
    sc(333, 292, "io_pgetevents", &[Hex, Long, Long, Ptr, Ptr, Ptr], O, None),
    sc(334, 293, "rseq", &[Ptr, Int, Hex, Hex], O, Some(prctl::rseq)),
    sc(424, 424, "pidfd_send_signal", &[Fd, Signal, Ptr, Hex], S, None),
    sc(425, 425, "io_uring_setup", &[Int, Ptr], D, None),
    sc(426, 426, "io_uring_enter", &[Fd, Int, Int, Hex, Ptr, Long], D, None),
    sc(427, 427, "io_uring_register", &[Fd, Int, Ptr, Int], D, None),
    sc(434, 434, "pidfd_open", &[Int, Hex], D, None),
    sc(435, 435, "clone3", &[Ptr, Long], P, Some(clone::clone3)),
    sc(436, 436, "close_range", &[Fd, Fd, Hex], D, Some(open::close_range)),
    sc(437, 437, "openat2", &[Fd, Path, Ptr, Long], F, Some(open::openat2)),
    ring(sc(439, 439, "faccessat2", &[Fd, Path, Int, Hex], F, Some(stat::faccessat2))),
    sc(441, 441, "epoll_pwait2", &[Fd, Ptr, Int, Ptr, Ptr, Long], D, Some(epoll::epoll_pwait2)),
    sc(448, 448, "process_mrelease", &[Fd, Hex], O, None),
    sc(449, 449, "futex_waitv", &[Ptr, Int, Hex, Ptr, Clock], P, Some(futex::futex_waitv)),
    sc(453, 453, "map_shadow_stack", &[Ptr, Long, Hex], M, None),
];

/// Reads and writes that cannot sleep: files, /proc, /dev and the
/// sandbox's output; not pipes, nor a stdin that is the host's.
fn fd_never_blocks(k: &KernelState, pid: Pid, a: &[u64; 6]) -> bool {
    let Some(p) = k.tasks.proc(pid) else { return false };
    let Ok(fd) = i32::try_from(a[0] as i64) else { return false };
    p.files.get(fd).is_some_and(|f| match &f.file.kind {
        FileKind::Input(i) => !matches!(i, Input::Inherit),
        FileKind::PipeRead(_)
        | FileKind::PipeWrite(_)
        | FileKind::Fifo(_)
        | FileKind::Socket(_)
        | FileKind::Anon(_) => false,
        _ => true,
    })
}

/// mmap without MAP_FIXED: it lands in a gap (or fails) and unmaps
/// nothing (see the table's note on calls that take pages away).
fn mmap_replaces_nothing(_: &KernelState, _: Pid, a: &[u64; 6]) -> bool {
    a[3] & super::super::abi::mman::MAP_FIXED == 0
}

/// brk that asks where the break is or moves it up: nothing is unmapped.
fn brk_does_not_shrink(k: &KernelState, pid: Pid, a: &[u64; 6]) -> bool {
    let Some(p) = k.tasks.proc(pid) else { return false };
    a[0] == 0 || a[0] >= k.mm.space(p.mm).brk
}

/// fcntl but for the lock waits (F_SETLKW, F_OFD_SETLKW).
fn fcntl_never_blocks(_: &KernelState, _: Pid, a: &[u64; 6]) -> bool {
    !matches!(a[1], F_SETLKW | F_OFD_SETLKW)
}

/// FUTEX_WAKE and FUTEX_WAKE_BITSET: the waking half of a lock.
fn futex_wakes(_: &KernelState, _: Pid, a: &[u64; 6]) -> bool {
    matches!(a[1] & (FUTEX_PRIVATE_FLAG - 1), FUTEX_WAKE | FUTEX_WAKE_BITSET)
}

/// An unknown syscall: what the entry for its number would be.
pub(super) static UNKNOWN: Syscall = sc(NO, NO, "syscall", &[Hex, Hex, Hex, Hex, Hex, Hex], O, None);

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// asm-generic's numbers as the cross headers define them (ci/setup
    /// installs linux-libc-dev-arm64-cross).
    fn generic_header() -> HashMap<String, u16> {
        let path = "/usr/aarch64-linux-gnu/include/asm-generic/unistd.h";
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e} (run ci/setup)"));
        let mut nrs = HashMap::new();
        for line in text.lines() {
            let mut w = line.split_whitespace();
            let (Some("#define"), Some(name), Some(nr)) = (w.next(), w.next(), w.next()) else { continue };
            let name = name.strip_prefix("__NR3264_").or_else(|| name.strip_prefix("__NR_"));
            if let (Some(name), Ok(nr)) = (name, nr.parse()) {
                nrs.insert(name.to_string(), nr);
            }
        }
        nrs
    }

    #[test]
    fn generic_numbers_are_the_headers() {
        let hdr = generic_header();
        assert_eq!(hdr.get("openat"), Some(&56), "the header parses");
        for s in TABLE {
            // x86-64 says newfstatat where asm-generic says fstatat.
            let name = if s.name == "newfstatat" { "fstatat" } else { s.name };
            match (s.nrs.of(SyscallAbi::Generic), hdr.get(name)) {
                (Some(n), Some(&h)) => assert_eq!(n, u64::from(h), "{}", s.name),
                // Newer than the headers: one number in every table.
                (Some(n), None) => assert!(n >= 424 && Some(n) == s.nrs.of(SyscallAbi::X86_64), "{}", s.name),
                (None, Some(h)) => panic!("{} is {h} in asm-generic", s.name),
                (None, None) => {}
            }
        }
    }

    #[test]
    fn numbers_are_unique_in_each_table() {
        for abi in [SyscallAbi::X86_64, SyscallAbi::Generic] {
            let mut seen = HashMap::new();
            for s in TABLE {
                if let Some(n) = s.nrs.of(abi) {
                    assert!(n < 512, "{} {n}", s.name);
                    if let Some(other) = seen.insert(n, s.name) {
                        panic!("{abi:?}: {other} and {} are both {n}", s.name);
                    }
                }
            }
        }
    }
}
