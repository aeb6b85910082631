//! `--strace`: each syscall with decoded arguments and its result, in
//! strace's style. Decoding never changes what it observes: guest strings
//! and buffers are shown only if their pages are already resident.

use std::fmt::Write as _;
use std::io::Write;
use std::sync::{Arc, Mutex};

use super::errno::Errno;
use super::mm::*;
use super::Task;
use crate::arch::PAGE_SIZE;

/// Where strace lines go.
#[derive(Clone, Debug)]
pub enum Strace {
    Stderr,
    File(Arc<Mutex<std::fs::File>>),
    Capture(Arc<Mutex<Vec<u8>>>),
}

impl Strace {
    pub fn emit(&self, line: &str) {
        match self {
            Strace::Stderr => {
                let _ = writeln!(std::io::stderr().lock(), "{line}");
            }
            Strace::File(f) => {
                let _ = writeln!(f.lock().unwrap_or_else(|p| p.into_inner()), "{line}");
            }
            Strace::Capture(v) => {
                let mut v = v.lock().unwrap_or_else(|p| p.into_inner());
                v.extend_from_slice(line.as_bytes());
                v.push(b'\n');
            }
        }
    }
}

#[derive(Clone, Copy)]
enum Arg {
    Dec,
    Hex,
    Ptr,
    Fd,
    Path,
    Buf,
    Prot,
    MapFlags,
    Madvise,
    ArchPrctl,
    Resource,
    Clock,
    Signal,
}

use Arg::*;

fn signature(nr: u64) -> &'static [Arg] {
    match nr {
        0 => &[Fd, Ptr, Dec],
        1 => &[Fd, Buf, Dec],
        2 => &[Path, Hex, Hex],
        3 => &[Fd],
        4 | 6 => &[Path, Ptr],
        5 => &[Fd, Ptr],
        8 => &[Fd, Dec, Dec],
        9 => &[Ptr, Dec, Prot, MapFlags, Fd, Hex],
        10 => &[Ptr, Dec, Prot],
        11 => &[Ptr, Dec],
        12 => &[Ptr],
        13 => &[Signal, Ptr, Ptr, Dec],
        14 => &[Dec, Ptr, Ptr, Dec],
        16 => &[Fd, Hex, Ptr],
        19 | 20 => &[Fd, Ptr, Dec],
        25 => &[Ptr, Dec, Dec, Hex, Ptr],
        26 => &[Ptr, Dec, Hex],
        27 => &[Ptr, Dec, Ptr],
        28 => &[Ptr, Dec, Madvise],
        35 => &[Ptr, Ptr],
        60 | 231 => &[Dec],
        63 => &[Ptr],
        89 => &[Path, Ptr, Dec],
        97 | 160 => &[Resource, Ptr],
        131 => &[Ptr, Ptr],
        149 | 150 => &[Ptr, Dec],
        151 => &[Hex],
        157 => &[Dec, Ptr],
        158 => &[ArchPrctl, Ptr],
        201 => &[Ptr],
        218 => &[Ptr],
        204 => &[Dec, Dec, Ptr],
        228 | 229 => &[Clock, Ptr],
        230 => &[Clock, Hex, Ptr, Ptr],
        257 => &[Fd, Path, Hex, Hex],
        262 => &[Fd, Path, Ptr, Hex],
        267 => &[Fd, Path, Ptr, Dec],
        273 => &[Ptr, Dec],
        302 => &[Dec, Resource, Ptr, Ptr],
        318 => &[Ptr, Dec, Hex],
        325 => &[Ptr, Dec, Hex],
        334 => &[Ptr, Dec, Hex, Hex],
        _ => &[Hex, Hex, Hex, Hex, Hex, Hex],
    }
}

fn flags(v: u64, names: &[(u64, &str)], zero: &str) -> String {
    if v == 0 {
        return zero.into();
    }
    let mut parts = Vec::new();
    let mut rest = v;
    for &(bit, name) in names {
        if bit != 0 && rest & bit == bit {
            parts.push(name.to_string());
            rest &= !bit;
        }
    }
    if rest != 0 {
        parts.push(format!("{rest:#x}"));
    }
    parts.join("|")
}

/// Bytes at `gva` if every page is mapped and already resident.
fn peek(task: &Task, gva: u64, len: usize) -> Option<Vec<u8>> {
    let end = gva.checked_add(len as u64)?;
    let mut at = gva & !(PAGE_SIZE - 1);
    while at < end {
        let p = task.space.user_page(at)?;
        if !task.space.backing().is_resident(p.gpa) {
            return None;
        }
        at += PAGE_SIZE;
    }
    let mut buf = vec![0u8; len];
    task.copy_from_user(gva, &mut buf).ok()?;
    Some(buf)
}

fn quote(bytes: &[u8], more: bool) -> String {
    let mut s = String::from("\"");
    for &b in bytes {
        match b {
            b'\n' => s.push_str("\\n"),
            b'\t' => s.push_str("\\t"),
            b'"' => s.push_str("\\\""),
            b'\\' => s.push_str("\\\\"),
            0x20..=0x7e => s.push(b as char),
            _ => {
                let _ = write!(s, "\\{b:o}");
            }
        }
    }
    s.push('"');
    if more {
        s.push_str("...");
    }
    s
}

fn arg(task: &Task, kind: Arg, v: u64, next: u64) -> String {
    match kind {
        Dec => (v as i64).to_string(),
        Hex => format!("{v:#x}"),
        Ptr if v == 0 => "NULL".into(),
        Ptr => format!("{v:#x}"),
        Fd if v as i32 == -100 => "AT_FDCWD".into(),
        Fd => (v as i32).to_string(),
        Path => {
            let mut bytes = Vec::new();
            for i in 0..256u64 {
                match peek(task, v.wrapping_add(i), 1) {
                    Some(b) if b[0] != 0 => bytes.push(b[0]),
                    Some(_) => return quote(&bytes, false),
                    None => break,
                }
            }
            if v == 0 {
                "NULL".into()
            } else {
                format!("{v:#x}")
            }
        }
        Buf => {
            let n = (next as usize).min(32);
            match peek(task, v, n) {
                Some(b) => quote(&b, next as usize > n),
                None => format!("{v:#x}"),
            }
        }
        Prot => flags(
            v,
            &[
                (PROT_READ, "PROT_READ"),
                (PROT_WRITE, "PROT_WRITE"),
                (PROT_EXEC, "PROT_EXEC"),
                (PROT_GROWSDOWN, "PROT_GROWSDOWN"),
            ],
            "PROT_NONE",
        ),
        MapFlags => {
            let t = match v & MAP_TYPE {
                MAP_SHARED => "MAP_SHARED",
                MAP_PRIVATE => "MAP_PRIVATE",
                MAP_SHARED_VALIDATE => "MAP_SHARED_VALIDATE",
                _ => "",
            };
            let rest = flags(
                v & !MAP_TYPE,
                &[
                    (MAP_FIXED, "MAP_FIXED"),
                    (MAP_ANONYMOUS, "MAP_ANONYMOUS"),
                    (MAP_GROWSDOWN, "MAP_GROWSDOWN"),
                    (MAP_LOCKED, "MAP_LOCKED"),
                    (MAP_NORESERVE, "MAP_NORESERVE"),
                    (MAP_POPULATE, "MAP_POPULATE"),
                    (MAP_STACK, "MAP_STACK"),
                    (MAP_FIXED_NOREPLACE, "MAP_FIXED_NOREPLACE"),
                ],
                "",
            );
            match (t.is_empty(), rest.is_empty()) {
                (false, false) => format!("{t}|{rest}"),
                (false, true) => t.into(),
                (true, _) => format!("{v:#x}"),
            }
        }
        Madvise => match v {
            MADV_NORMAL => "MADV_NORMAL".into(),
            MADV_WILLNEED => "MADV_WILLNEED".into(),
            MADV_DONTNEED => "MADV_DONTNEED".into(),
            MADV_FREE => "MADV_FREE".into(),
            MADV_HUGEPAGE => "MADV_HUGEPAGE".into(),
            MADV_NOHUGEPAGE => "MADV_NOHUGEPAGE".into(),
            other => other.to_string(),
        },
        ArchPrctl => match v {
            0x1001 => "ARCH_SET_GS".into(),
            0x1002 => "ARCH_SET_FS".into(),
            0x1003 => "ARCH_GET_FS".into(),
            0x1004 => "ARCH_GET_GS".into(),
            other => format!("{other:#x}"),
        },
        Resource => {
            const R: [&str; 16] = [
                "RLIMIT_CPU",
                "RLIMIT_FSIZE",
                "RLIMIT_DATA",
                "RLIMIT_STACK",
                "RLIMIT_CORE",
                "RLIMIT_RSS",
                "RLIMIT_NPROC",
                "RLIMIT_NOFILE",
                "RLIMIT_MEMLOCK",
                "RLIMIT_AS",
                "RLIMIT_LOCKS",
                "RLIMIT_SIGPENDING",
                "RLIMIT_MSGQUEUE",
                "RLIMIT_NICE",
                "RLIMIT_RTPRIO",
                "RLIMIT_RTTIME",
            ];
            R.get(v as usize).map(|s| s.to_string()).unwrap_or_else(|| v.to_string())
        }
        Clock => match v {
            0 => "CLOCK_REALTIME".into(),
            1 => "CLOCK_MONOTONIC".into(),
            2 => "CLOCK_PROCESS_CPUTIME_ID".into(),
            7 => "CLOCK_BOOTTIME".into(),
            other => other.to_string(),
        },
        Signal => format!("SIG{v}"),
    }
}

fn errno_name(e: i32) -> (&'static str, &'static str) {
    match e {
        1 => ("EPERM", "Operation not permitted"),
        2 => ("ENOENT", "No such file or directory"),
        3 => ("ESRCH", "No such process"),
        4 => ("EINTR", "Interrupted system call"),
        9 => ("EBADF", "Bad file descriptor"),
        11 => ("EAGAIN", "Resource temporarily unavailable"),
        12 => ("ENOMEM", "Cannot allocate memory"),
        13 => ("EACCES", "Permission denied"),
        14 => ("EFAULT", "Bad address"),
        16 => ("EBUSY", "Device or resource busy"),
        17 => ("EEXIST", "File exists"),
        19 => ("ENODEV", "No such device"),
        20 => ("ENOTDIR", "Not a directory"),
        22 => ("EINVAL", "Invalid argument"),
        24 => ("EMFILE", "Too many open files"),
        25 => ("ENOTTY", "Inappropriate ioctl for device"),
        29 => ("ESPIPE", "Illegal seek"),
        36 => ("ENAMETOOLONG", "File name too long"),
        38 => ("ENOSYS", "Function not implemented"),
        95 => ("EOPNOTSUPP", "Operation not supported"),
        _ => ("E?", "Unknown error"),
    }
}

/// Formats one finished syscall.
pub fn line(task: &Task, nr: u64, name: &str, args: [u64; 6], ret: Result<i64, Errno>) -> String {
    let sig = signature(nr);
    let shown: Vec<String> =
        sig.iter().enumerate().map(|(i, &k)| arg(task, k, args[i], args.get(i + 1).copied().unwrap_or(0))).collect();
    let hex_ret = matches!(nr, 9 | 12 | 25);
    let r = match ret {
        Ok(v) if hex_ret => format!("{v:#x}"),
        Ok(v) => v.to_string(),
        Err(e) => {
            let (n, text) = errno_name(e.0);
            format!("-1 {n} ({text})")
        }
    };
    format!("{name}({}) = {r}", shown.join(", "))
}
