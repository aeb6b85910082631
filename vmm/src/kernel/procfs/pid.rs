//! /proc/PID and /proc/PID/task/TID: a process's files, its descriptors'
//! links (`fd`) and its threads (`task`). A thread's directory shows its
//! process's files, and has no `task` of its own.

use super::super::abi::dirent::{DT_DIR, DT_LNK, DT_REG};
use super::super::errno::*;
use super::super::files::fdinfo::fdinfo;
use super::super::files::{FileKind, OpenFile};
use super::super::mm::procfs::smaps_rollup;
use super::super::net;
use super::super::process::Process;
use super::super::KernelState;
use super::maps::SeqFile;
use super::status::{limits, stat, statm, status};
use super::tree::{dir, file, link, number, seq, At, Dir, Entry, Found, Numbered};
use crate::arch::PAGE_SIZE;

/// /proc/PID.
pub(super) static PROCESS: Dir = Dir { fixed: &[TASK_ENTRIES, &[dir("task", &TASKS)]], numbered: None };

/// /proc/PID/task/TID.
static THREAD: Dir = Dir { fixed: &[TASK_ENTRIES], numbered: None };

/// What a process's directory and each of its threads' hold.
static TASK_ENTRIES: &[Entry] = &[
    seq("maps", SeqFile::Maps),
    seq("smaps", SeqFile::Smaps),
    file("smaps_rollup", |at| smaps_rollup(at.k, at.p()).into_bytes()),
    file("status", |at| status(at.k, at.p()).into_bytes()),
    file("stat", |at| stat(at.k, at.p(), at.tid).into_bytes()),
    file("statm", |at| statm(at.k, at.p()).into_bytes()),
    file("cmdline", |at| at.p().cmdline.bytes.clone()),
    file("comm", |at| format!("{}\n", at.p().comm).into_bytes()),
    file("environ", |at| environ(at.k, at.p())),
    link("exe", |at| at.p().exe.clone()),
    link("cwd", |at| at.p().fs.cwd().path),
    link("root", |_| "/".into()),
    dir("fd", &FDS),
    dir("fdinfo", &FDINFOS),
    file("oom_score", |at| number(at.k.oom_score(at.p().pid))),
    file("oom_score_adj", |at| number(at.p().oom_score_adj)),
    // Written by its owner (syscalls::proc_io); empty without memory.
    file("coredump_filter", |at| {
        if at.p().is_zombie() {
            return Vec::new();
        }
        format!("{:08x}\n", at.p().coredump_filter).into_bytes()
    }),
    file("limits", |at| limits(at.p()).into_bytes()),
    file("mounts", super::root::mounts),
    dir("net", &NET),
    // The namespace its children enter (written in syscalls::proc_io).
    file("timens_offsets", |at| at.p().time_ns_for_children.show().into_bytes()),
    // Made per read (see mm::procfs::pagemap_entries): empty here.
    file("pagemap", |_| Vec::new()),
    // Written only (see syscalls::io).
    file("clear_refs", |_| Vec::new()),
];

/// /proc/PID/net: the sockets of the process's network namespace and its
/// one device, lo.
static NET: Dir = Dir {
    fixed: &[&[
        file("unix", |at| net::proc::unix(&at.p().net).into_bytes()),
        file("tcp", |at| net::proc::tcp(&at.p().net, false).into_bytes()),
        file("tcp6", |at| net::proc::tcp(&at.p().net, true).into_bytes()),
        file("udp", |at| net::proc::udp(&at.p().net, false).into_bytes()),
        file("udp6", |at| net::proc::udp(&at.p().net, true).into_bytes()),
        file("dev", |at| net::proc::dev(&at.p().net).into_bytes()),
    ]],
    numbered: None,
};

/// /proc/PID/task: a directory per thread.
static TASKS: Dir = Dir {
    fixed: &[],
    numbered: Some(Numbered {
        d_type: DT_DIR,
        ids: |at| at.p().threads.clone(),
        open: |at, tid| Ok(Found::Dir(&THREAD, At { tid: Some(tid), ..at })),
    }),
};

/// /proc/PID/fd: a link per open descriptor.
static FDS: Dir = Dir {
    fixed: &[],
    numbered: Some(Numbered {
        d_type: DT_LNK,
        ids: |at| at.p().files.iter().map(|(fd, _)| fd as u32).collect(),
        open: |at, fd| {
            let f = at.p().files.get(fd as i32).ok_or(ENOENT)?;
            Ok(Found::Link(fd_target(&f.file)))
        },
    }),
};

/// /proc/PID/fdinfo: a file per open descriptor.
static FDINFOS: Dir = Dir {
    fixed: &[],
    numbered: Some(Numbered {
        d_type: DT_REG,
        ids: |at| at.p().files.iter().map(|(fd, _)| fd as u32).collect(),
        open: |at, fd| {
            let f = at.p().files.get(fd as i32).ok_or(ENOENT)?;
            Ok(Found::Bytes(fdinfo(&f).into_bytes()))
        },
    }),
};

/// What /proc/PID/fd/N points at.
fn fd_target(f: &OpenFile) -> String {
    match &f.kind {
        FileKind::PipeRead(p) | FileKind::PipeWrite(p) => {
            format!("pipe:[{}]", std::sync::Arc::as_ptr(p) as usize % 100_000)
        }
        FileKind::Fifo(_) => f.path.clone(),
        FileKind::Socket(s) => format!("socket:[{}]", s.ino),
        FileKind::Input(_) | FileKind::Output(_) => {
            if f.path.is_empty() {
                "/dev/pts/0".into()
            } else {
                f.path.clone()
            }
        }
        _ => f.path.clone(),
    }
}

/// /proc/PID/environ: the environment block as it is in memory now.
fn environ(k: &KernelState, p: &Process) -> Vec<u8> {
    match k.mm.get(p.mm) {
        Some(m) => read_mem(k, p, m.env.0, m.env.1),
        None => Vec::new(),
    }
}

fn read_mem(k: &KernelState, p: &Process, a: u64, b: u64) -> Vec<u8> {
    // Reading another process's memory here would need its pages in: only
    // what is resident is shown (a snapshot); argv/envp always are.
    let mut out = Vec::new();
    let Some(m) = k.mm.get(p.mm) else { return out };
    let mut at = a;
    while at < b {
        let pte = m.pte(at);
        let n = (PAGE_SIZE - at % PAGE_SIZE).min(b - at) as usize;
        let resident =
            pte.mapped() && k.phys.frame(pte.frame()).is_some_and(|f| f.residency == crate::mm::Residency::Resident);
        if !resident {
            break;
        }
        let mut buf = vec![0u8; n];
        if !k.phys.read(pte.frame(), at % PAGE_SIZE, &mut buf) {
            break;
        }
        out.extend_from_slice(&buf);
        at += n as u64;
    }
    out
}
