//! /proc, generated from the kernel's own model in the kernel's formats:
//! one formatter per view, shared by the program's reads, `--status` and
//! the summary at exit. Each directory is one table (see `tree`), from
//! which both its listing and its lookups are made.

mod links;
mod maps;

mod pid;
mod root;
mod status;
mod sys;
#[cfg(test)]
mod tests;
mod tree;

use super::abi::stat::{S_IFDIR, S_IFLNK, S_IFREG};
use super::errno::Errno;
use super::process::Pid;
use super::KernelState;

pub use super::mm::accounting::{MemInfo, MemStatus, MemoryReport};
pub use links::Links;
pub use maps::{map_line, seq_record, SeqFile};
pub(super) use status::state_of;

/// What a /proc path is.
pub enum ProcNode {
    File(Vec<u8>),
    /// A file made record by record at each read (see [`SeqFile`]).
    Seq(SeqFile),
    Dir(Vec<(String, u8)>),
    Link(String),
}

/// What `/proc/<c...>` is for `caller`.
pub fn lookup(k: &KernelState, caller: Pid, c: &[String]) -> Result<ProcNode, Errno> {
    Ok(tree::walk(k, caller, c)?.node())
}

/// The mode stat(2) reports for a /proc node.
pub fn mode_of(n: &ProcNode) -> u32 {
    match n {
        ProcNode::File(_) | ProcNode::Seq(_) => S_IFREG | 0o444,
        ProcNode::Dir(_) => S_IFDIR | 0o555,
        ProcNode::Link(_) => S_IFLNK | 0o777,
    }
}
