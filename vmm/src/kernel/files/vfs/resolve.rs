//! Path resolution inside the root, as `openat2(RESOLVE_IN_ROOT)`: `..`
//! stops at the root, absolute symlinks restart from it, each directory
//! passed needs search permission, and a name is looked up through binds,
//! the layer and the host in that order.

use std::collections::VecDeque;

use super::super::overlay::{Body, Entry};
use super::special::{dev_child, special, synthetic_dir};
use super::{Layer, Lookup, Node, Vfs};
use crate::kernel::abi::limits::{NAME_MAX, PATH_MAX};
use crate::kernel::cred::{Cred, MAY_EXEC};
use crate::kernel::errno::*;

/// The most symlinks one lookup follows.
const MAXSYMLINKS: u32 = 40;

/// How the kernel answers for the links under /proc during a lookup.
pub(crate) trait ProcLinks {
    /// The target of the /proc link `components` (after `/proc`), if it is
    /// one.
    fn readlink(&self, components: &[String]) -> Option<String>;
    /// Where a magic link (`fd/N`, `cwd`) leads: the object itself, as
    /// nd_jump_link, not its name looked up again.
    fn jump(&self, _components: &[String]) -> Option<Lookup> {
        None
    }
}

/// `dir`/`name` as a guest path.
pub(crate) fn join(dir: &str, name: &str) -> String {
    if dir == "/" {
        format!("/{name}")
    } else {
        format!("{dir}/{name}")
    }
}

/// The directory part of an absolute guest path.
fn parent_of(path: &str) -> &str {
    match path.trim_end_matches('/').rfind('/') {
        Some(0) | None => "/",
        Some(i) => &path[..i],
    }
}

fn split(p: &str) -> impl Iterator<Item = &str> {
    p.split('/').filter(|c| !c.is_empty())
}

impl Vfs {
    /// Resolves `path` from `start` (a directory: the cwd, or a `*at`
    /// call's), following a final symlink if `follow`, with `cred`'s
    /// search permission on every directory passed.
    pub(crate) fn resolve(
        &self,
        start: &Lookup,
        path: &str,
        follow: bool,
        proc: &dyn ProcLinks,
        cred: &Cred,
    ) -> Result<Lookup, Errno> {
        if path.is_empty() {
            return Err(ENOENT);
        }
        if path.len() >= PATH_MAX {
            return Err(ENAMETOOLONG);
        }
        let mut stack: Vec<Lookup> = vec![if path.starts_with('/') { self.root.clone() } else { start.clone() }];
        let mut pending: VecDeque<String> = split(path).map(str::to_owned).collect();
        // A trailing slash requires a directory.
        let must_be_dir = path.ends_with('/');
        let mut links = 0;
        while let Some(c) = pending.pop_front() {
            let dir = stack.last().expect("never empty");
            if !searchable(&dir.node) {
                return Err(ENOTDIR);
            }
            may_search(&dir.node, cred)?;
            if c == "." {
                continue;
            }
            if c == ".." {
                self.up(&mut stack, proc, cred)?;
                continue;
            }
            if c.len() > NAME_MAX {
                return Err(ENAMETOOLONG);
            }
            let path = join(&dir.path, &c);
            let node = self.child(dir, &c, &path)?;
            let target = match link_target(&node, proc)? {
                Some(t) if follow || !pending.is_empty() => t,
                _ => {
                    stack.push(Lookup { path, node });
                    continue;
                }
            };
            links += 1;
            if links > MAXSYMLINKS {
                return Err(ELOOP);
            }
            if let Some(to) = proc_jump(&node, proc) {
                stack = vec![to];
                continue;
            }
            if target.is_empty() {
                return Err(ENOENT);
            }
            if target.starts_with('/') {
                stack = vec![self.root.clone()];
            }
            for (i, p) in split(&target).enumerate() {
                pending.insert(i, p.to_owned());
            }
        }
        let found = stack.pop().expect("never empty");
        if must_be_dir && !searchable(&found.node) {
            return Err(ENOTDIR);
        }
        Ok(found)
    }

    /// `..`: one step back along the walk, or, from its start, the
    /// start's parent by its path from the root (a descriptor keeps no way
    /// up that could leave the view); never above the root.
    fn up(&self, stack: &mut Vec<Lookup>, proc: &dyn ProcLinks, cred: &Cred) -> Result<(), Errno> {
        if stack.len() > 1 {
            stack.pop();
        } else if stack[0].path != "/" {
            let up = parent_of(&stack[0].path).to_owned();
            *stack = vec![self.resolve(&self.root, &up, true, proc, cred)?];
        }
        Ok(())
    }

    /// What `name` in directory `dir` names (`path` is `dir`/`name`).
    fn child(&self, dir: &Lookup, name: &str, path: &str) -> Result<Node, Errno> {
        if let Node::Proc(parts) = &dir.node {
            let mut parts = parts.clone();
            parts.push(name.to_owned());
            return Ok(Node::Proc(parts));
        }
        // A tmpfs mounted there covers it, and a bind's mount point
        // whatever is there.
        if let Some(m) = self.tmpfs_at(path) {
            return Ok(Node::Mem(m.root.clone()));
        }
        if let Some((i, m)) = self.binds.iter().enumerate().find(|(_, m)| m.bind.guest == path) {
            let meta = m.fd.stat()?;
            let layer = if m.bind.rw { Layer::ReadWrite } else { Layer::ReadOnly };
            return Ok(Node::Host { fd: m.fd.clone(), meta, layer, mount: i + 1, parent: None });
        }
        if dir.path == "/" && dir.node.mount() == 0 {
            if let Some(n) = special(name) {
                return Ok(n);
            }
        }
        let found = match &dir.node {
            Node::Synthetic { .. } if dir.path == "/dev" => return dev_child(name),
            Node::Synthetic { .. } | Node::Device(_) | Node::Proc(_) => Err(ENOENT),
            Node::Mem(i) => match i.names().and_then(|n| n.get(name)) {
                Some(Entry::Node(i)) => return Ok(Node::Mem(i)),
                _ => Err(ENOENT),
            },
            Node::Host { fd, meta, layer, mount, .. } => {
                let merged = match layer {
                    Layer::Overlay => self.overlay.merge(meta.dev, meta.ino).and_then(|m| m.get(name)),
                    _ => None,
                };
                match merged {
                    Some(Entry::Node(i)) => return Ok(Node::Mem(i)),
                    Some(Entry::Whiteout) => Err(ENOENT),
                    None => fd.child(name).map(|(fd, m)| Node::Host {
                        fd,
                        meta: m,
                        layer: *layer,
                        mount: *mount,
                        parent: Some((meta.dev, meta.ino)),
                    }),
                }
            }
        };
        match found {
            // A directory on the way to a bind's mount point.
            Err(ENOENT) if self.binds.iter().any(|m| m.bind.guest.starts_with(&format!("{path}/"))) => {
                Ok(synthetic_dir(902, Vec::new()))
            }
            other => other,
        }
    }
}

/// Whether a walk may go on below `node`: a directory, or anything under
/// /proc (the kernel answers for its names).
fn searchable(node: &Node) -> bool {
    node.is_dir() || matches!(node, Node::Proc(_))
}

/// The target of `node` if it is a symlink (a host one, the layer's, or a
/// /proc link).
fn link_target(node: &Node, proc: &dyn ProcLinks) -> Result<Option<String>, Errno> {
    Ok(match node {
        Node::Host { fd, meta, .. } if meta.is_symlink() => Some(fd.readlink()?),
        Node::Mem(i) => match &i.body {
            Body::Symlink(t) => Some(t.clone()),
            _ => None,
        },
        Node::Proc(parts) => proc.readlink(parts),
        _ => None,
    })
}

/// Where a /proc magic link leads, if `node` is one.
fn proc_jump(node: &Node, proc: &dyn ProcLinks) -> Option<Lookup> {
    match node {
        Node::Proc(parts) => proc.jump(parts),
        _ => None,
    }
}

/// may_lookup(): search permission on a directory of the view.
fn may_search(dir: &Node, cred: &Cred) -> Result<(), Errno> {
    match dir {
        Node::Host { .. } | Node::Mem(_) => {
            let m = dir.meta();
            cred.permission(m.mode, m.uid, m.gid, MAY_EXEC)
        }
        _ => Ok(()),
    }
}
