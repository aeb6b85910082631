//! /proc, generated from the kernel's own model in the kernel's formats:
//! one formatter per view, shared by the program's reads, `--status` and
//! the summary at exit. Each directory is one table (see `tree`), from
//! which both its listing and its lookups are made.

mod config;
mod links;
mod maps;

mod pid;
mod root;
mod status;
mod sys;
mod sysfs;
#[cfg(test)]
mod tests;
mod tree;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::abi::stat::{S_IFDIR, S_IFLNK, S_IFREG};
use super::errno::Errno;
use super::process::Pid;
use super::KernelState;

pub use super::mm::accounting::{MemInfo, MemStatus, MemoryReport};
pub(crate) use links::Links;
pub(crate) use maps::{map_line, seq_record, SeqFile};
pub(super) use status::state_of;

/// What a /proc path is.
pub(crate) enum ProcNode {
    File(Vec<u8>),
    /// A file made record by record at each read (see [`SeqFile`]).
    Seq(SeqFile),
    Dir(Vec<(String, u8)>),
    Link(String),
}

/// What `/proc/<c...>` is for `caller`.
pub(crate) fn lookup(k: &KernelState, caller: Pid, c: &[String]) -> Result<ProcNode, Errno> {
    Ok(tree::walk(k, caller, c)?.node())
}

/// The mode stat(2) reports for a /proc node.
pub(crate) fn mode_of(n: &ProcNode) -> u32 {
    match n {
        ProcNode::File(_) | ProcNode::Seq(_) => S_IFREG | 0o444,
        ProcNode::Dir(_) => S_IFDIR | 0o555,
        ProcNode::Link(_) => S_IFLNK | 0o777,
    }
}

/// Bytes of one /proc file an open descriptor may keep between reads.
pub(crate) const PROC_KEEP_PER_FD: usize = 16 << 10;
/// Bytes of /proc files the shared cache may hold.
const PROC_CACHE_BYTES: usize = 16 << 20;
/// Bytes of /proc files all descriptors together may keep (a fixed cost,
/// as the cache: charging them to RAM would make every /proc read move
/// MemFree, which programs that watch it read through /proc).
const PROC_KEEP_BYTES: u64 = 16 << 20;

/// /proc files made at some state of the kernel, shared by every reader;
/// the state's number; and what descriptors keep of them.
#[derive(Default)]
pub(crate) struct Cache {
    files: HashMap<String, (u64, Arc<[u8]>)>,
    /// Bumped by every change a /proc file could show.
    epoch: u64,
    /// Bytes of /proc contents descriptors keep now.
    kept: Arc<AtomicU64>,
}

impl Cache {
    /// Something a /proc file could show has changed: what is cached is
    /// stale.
    pub(crate) fn changed(&mut self) {
        self.epoch += 1;
    }
}

/// A descriptor's place in the /proc contents descriptors keep
/// ([`PROC_KEEP_BYTES`]); given back when dropped.
#[derive(Debug)]
pub(crate) struct ProcKept {
    bytes: u64,
    total: Arc<AtomicU64>,
}

impl Drop for ProcKept {
    fn drop(&mut self) {
        self.total.fetch_sub(self.bytes, Ordering::Relaxed);
    }
}

impl KernelState {
    /// A /proc file's contents now, for `pid` (the FileKind::Proc's).
    /// Reads of the same file at the same state share one copy, however
    /// many descriptors ask.
    pub(crate) fn proc_contents(&mut self, path: &str, pid: Pid) -> Option<Arc<[u8]>> {
        // /proc/sys/net is the opener's namespace's: small, made afresh.
        if path.starts_with("sys/net/") {
            let comps: Vec<String> = path.split('/').map(str::to_owned).collect();
            return match lookup(self, pid, &comps) {
                Ok(ProcNode::File(b)) => Some(b.into()),
                _ => None,
            };
        }
        let cache = &self.procfs;
        if let Some((epoch, c)) = cache.files.get(path) {
            if *epoch == cache.epoch {
                return Some(c.clone());
            }
        }
        let comps: Vec<String> = path.split('/').filter(|c| !c.is_empty()).map(str::to_owned).collect();
        match lookup(self, 0, &comps) {
            // fdinfo changes with no change of state noted (a timer's
            // ticks, a counter): made afresh at each read.
            Ok(ProcNode::File(b)) if path.contains("/fdinfo/") => Some(b.into()),
            Ok(ProcNode::File(b)) => {
                let a: Arc<[u8]> = b.into();
                let cache = &mut self.procfs;
                let held: usize = cache.files.values().map(|(_, c)| c.len()).sum();
                if cache.files.len() >= 64 || held + a.len() > PROC_CACHE_BYTES {
                    cache.files.clear();
                }
                cache.files.insert(path.to_owned(), (cache.epoch, a.clone()));
                Some(a)
            }
            _ => None,
        }
    }

    /// Room for a descriptor to keep `len` bytes of a /proc file, if all
    /// descriptors together stay within PROC_KEEP_BYTES.
    pub(crate) fn proc_keep(&mut self, len: usize) -> Option<ProcKept> {
        let len = len as u64;
        let kept = &self.procfs.kept;
        if kept.load(Ordering::Relaxed) + len > PROC_KEEP_BYTES {
            return None;
        }
        kept.fetch_add(len, Ordering::Relaxed);
        Some(ProcKept { bytes: len, total: kept.clone() })
    }
}
