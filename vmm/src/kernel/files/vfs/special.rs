//! The names faultline puts in the root in place of the host's (/proc,
//! /dev, /sys, /run) and what its /dev holds.

use super::{Device, Meta, Node};
use crate::kernel::abi::dirent::{DT_CHR, DT_LNK};
use crate::kernel::abi::stat::S_IFDIR;
use crate::kernel::errno::*;

pub(super) fn synthetic_dir(ino: u64, entries: Vec<(String, u8)>) -> Node {
    let meta = Meta { dev: 5, ino, mode: S_IFDIR | 0o755, nlink: 2, blksize: 4096, ..Default::default() };
    Node::Synthetic { meta, entries }
}

/// The root's names faultline puts in place of the host's.
pub(super) fn special(name: &str) -> Option<Node> {
    Some(match name {
        "proc" => Node::Proc(Vec::new()),
        "dev" => synthetic_dir(
            900,
            ["null", "zero", "random", "urandom"]
                .iter()
                .map(|n| (n.to_string(), DT_CHR))
                .chain(["stdin", "stdout", "stderr", "fd"].iter().map(|n| (n.to_string(), DT_LNK)))
                .collect(),
        ),
        // The host's /sys and /run say too much about the host: /sys is
        // faultline's own (kernel/procfs/sysfs.rs), /run empty.
        "sys" => Node::Proc(vec![SYSFS.to_owned()]),
        "run" => synthetic_dir(901, Vec::new()),
        _ => return None,
    })
}

/// The first component of /sys's nodes, which /proc's tables serve: one
/// no path can spell, holding a NUL.
pub(crate) const SYSFS: &str = "\0sys";

/// The last component of /dev's links into /proc (`/dev/stdin` is
/// /proc's `self/fd/0` + this): one no path can spell, holding a '/'.
pub(crate) const DEV_LINK: &str = "@/dev";

/// A name in faultline's /dev.
pub(super) fn dev_child(name: &str) -> Result<Node, Errno> {
    let link = |fd: Option<&str>| {
        let mut c = vec!["self".to_string(), "fd".to_string()];
        c.extend(fd.map(str::to_owned));
        c.push(DEV_LINK.into());
        Node::Proc(c)
    };
    Ok(match name {
        "null" => Node::Device(Device::Null),
        "zero" => Node::Device(Device::Zero),
        "random" | "urandom" => Node::Device(Device::Random),
        // Links into /proc, as udev makes them.
        "stdin" => link(Some("0")),
        "stdout" => link(Some("1")),
        "stderr" => link(Some("2")),
        "fd" => link(None),
        _ => return Err(ENOENT),
    })
}
