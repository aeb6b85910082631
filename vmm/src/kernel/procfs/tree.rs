//! How /proc is made: each directory is one table ([`Dir`]) of its fixed
//! entries and, for the root, `task` and `fd`, of entries named by number
//! (pids, tids, descriptors). Its listing and its lookups both read that
//! table, so no entry can be listed and not found, or found and not
//! listed (gVisor's fsimpl/proc does the same).

use super::super::abi::dirent::{DT_DIR, DT_LNK, DT_REG};
use super::super::errno::*;
use super::super::files::vfs::{DEV_LINK, SYSFS};
use super::super::process::{Pid, Process};
use super::super::KernelState;
use super::maps::SeqFile;
use super::root::ROOT;
use super::ProcNode;

/// Where a walk of /proc is: the kernel, who asks, and the process whose
/// directory it is in (none above /proc/PID).
#[derive(Clone, Copy)]
pub(super) struct At<'a> {
    pub(crate) k: &'a KernelState,
    pub(crate) caller: Pid,
    pub(crate) proc: Option<&'a Process>,
    /// The thread of a /proc/PID/task/TID directory.
    pub(crate) tid: Option<Pid>,
}

impl<'a> At<'a> {
    /// The process of a /proc/PID directory: its tables are reached only
    /// through its pid, which sets it.
    pub(crate) fn p(&self) -> &'a Process {
        self.proc.expect("a /proc/PID table is entered through its pid")
    }
}

/// What an entry is, and how it is made.
pub(super) enum What {
    /// A file whose bytes are made when it is opened.
    File(fn(&At) -> Vec<u8>),
    /// A file made record by record at each read.
    Seq(SeqFile),
    Link(fn(&At) -> String),
    Dir(&'static Dir),
}

/// A fixed entry of a directory.
pub(super) struct Entry {
    name: &'static str,
    what: What,
}

pub(super) const fn file(name: &'static str, make: fn(&At) -> Vec<u8>) -> Entry {
    Entry { name, what: What::File(make) }
}

pub(super) const fn seq(name: &'static str, which: SeqFile) -> Entry {
    Entry { name, what: What::Seq(which) }
}

pub(super) const fn link(name: &'static str, target: fn(&At) -> String) -> Entry {
    Entry { name, what: What::Link(target) }
}

pub(super) const fn dir(name: &'static str, dir: &'static Dir) -> Entry {
    Entry { name, what: What::Dir(dir) }
}

/// A sysctl-style file: one number and a newline.
pub(super) fn number(n: impl std::fmt::Display) -> Vec<u8> {
    format!("{n}\n").into_bytes()
}

/// A directory's entries named by number.
pub(super) struct Numbered {
    /// What a listing says they are.
    pub(crate) d_type: u8,
    /// The numbers there are now.
    pub(crate) ids: fn(&At) -> Vec<u32>,
    /// What the entry for one of them is.
    pub(crate) open: for<'a> fn(At<'a>, u32) -> Result<Found<'a>, Errno>,
}

/// One /proc directory.
pub(super) struct Dir {
    /// Its fixed entries, in groups (a process's directory is a thread's
    /// entries and `task`).
    pub(crate) fixed: &'static [&'static [Entry]],
    pub(crate) numbered: Option<Numbered>,
}

/// What a /proc path leads to, before anything of it is made.
pub(super) enum Found<'a> {
    Dir(&'static Dir, At<'a>),
    Entry(&'static What, At<'a>),
    /// A link made on the way (a descriptor's, or /dev's into /proc).
    Link(String),
    /// A file made on the way (a descriptor's fdinfo).
    Bytes(Vec<u8>),
}

impl Dir {
    fn entries(&self) -> impl Iterator<Item = &'static Entry> {
        self.fixed.iter().flat_map(|g| g.iter())
    }

    /// The listing: numbered entries first, then the fixed ones.
    fn list(&self, at: &At) -> Vec<(String, u8)> {
        let mut v: Vec<(String, u8)> = match &self.numbered {
            Some(n) => (n.ids)(at).into_iter().map(|id| (id.to_string(), n.d_type)).collect(),
            None => Vec::new(),
        };
        v.extend(self.entries().map(|e| (e.name.to_owned(), d_type(&e.what))));
        v
    }

    /// What `name` is here.
    fn child<'a>(&'static self, at: At<'a>, name: &str) -> Result<Found<'a>, Errno> {
        if let Some(e) = self.entries().find(|e| e.name == name) {
            return Ok(match &e.what {
                What::Dir(d) => Found::Dir(d, at),
                w => Found::Entry(w, at),
            });
        }
        let n = self.numbered.as_ref().ok_or(ENOENT)?;
        let id: u32 = name.parse().map_err(|_| ENOENT)?;
        // Only as listed: no sign, no leading zeros (as name_to_int()).
        if id.to_string() != name || !(n.ids)(&at).contains(&id) {
            return Err(ENOENT);
        }
        (n.open)(at, id)
    }
}

fn d_type(w: &What) -> u8 {
    match w {
        What::File(_) | What::Seq(_) => DT_REG,
        What::Link(_) => DT_LNK,
        What::Dir(_) => DT_DIR,
    }
}

impl Found<'_> {
    /// Makes what was found.
    pub(crate) fn node(self) -> ProcNode {
        match self {
            Found::Dir(d, at) => ProcNode::Dir(d.list(&at)),
            Found::Entry(What::Dir(d), at) => ProcNode::Dir(d.list(&at)),
            Found::Entry(What::File(make), at) => ProcNode::File(make(&at)),
            Found::Entry(What::Seq(which), _) => ProcNode::Seq(*which),
            Found::Entry(What::Link(target), at) => ProcNode::Link(target(&at)),
            Found::Link(t) => ProcNode::Link(t),
            Found::Bytes(b) => ProcNode::File(b),
        }
    }

    /// Its target, if it is a link (nothing else is made).
    pub(crate) fn link(self) -> Option<String> {
        match self {
            Found::Entry(What::Link(target), at) => Some(target(&at)),
            Found::Link(t) => Some(t),
            _ => None,
        }
    }
}

/// Finds `/proc/<c...>` for `caller`. A link on the way (`self`,
/// `thread-self`) is followed if it stays in /proc.
pub(super) fn walk<'a>(k: &'a KernelState, caller: Pid, c: &[String]) -> Result<Found<'a>, Errno> {
    // /dev's links into /proc.
    if c.last().is_some_and(|l| l == DEV_LINK) {
        return Ok(Found::Link(format!("/proc/{}", c[..c.len() - 1].join("/"))));
    }
    let at = At { k, caller, proc: None, tid: None };
    // /sys, on /proc's tables.
    let (mut here, skip) = match c.first() {
        Some(first) if first == SYSFS => (Found::Dir(&super::sysfs::ROOT, at), 1),
        _ => (Found::Dir(&ROOT, at), 0),
    };
    for (i, name) in c.iter().enumerate().skip(skip) {
        here = match here {
            Found::Dir(d, at) => d.child(at, name)?,
            Found::Entry(What::Link(target), at) => {
                let t = target(&at);
                if t.starts_with('/') {
                    return Err(ENOENT);
                }
                // The link's directory, its target, then the rest.
                let mut next = c[..i - 1].to_vec();
                next.extend(t.split('/').map(str::to_owned));
                next.extend_from_slice(&c[i..]);
                return walk(k, caller, &next);
            }
            _ => return Err(ENOENT),
        };
    }
    Ok(here)
}
