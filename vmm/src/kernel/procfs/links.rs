//! The links under /proc as path lookups meet them: their targets, and
//! where the magic ones (`cwd`, `root`, `fd/N`) lead.

use super::super::files::vfs::{Lookup, ProcLinks};
use super::super::files::FileKind;
use super::super::process::Pid;
use super::super::KernelState;
use super::tree::walk;

/// Resolves /proc links for path lookups, for a caller.
pub(crate) struct Links<'a> {
    pub(crate) k: &'a KernelState,
    pub(crate) pid: Pid,
}

impl ProcLinks for Links<'_> {
    fn readlink(&self, c: &[String]) -> Option<String> {
        walk(self.k, self.pid, c).ok()?.link()
    }

    fn jump(&self, c: &[String]) -> Option<Lookup> {
        let pid: Pid = match c.first()?.as_str() {
            "self" => self.pid,
            n => n.parse().ok()?,
        };
        // task/TID/… is the process's own.
        let rest = match &c[1..] {
            [t, _, rest @ ..] if t == "task" => rest,
            rest => rest,
        };
        let p = self.k.tasks.proc(pid)?;
        match rest {
            [cwd] if cwd == "cwd" => Some(p.fs.cwd()),
            [root] if root == "root" => Some(self.k.files.vfs().root().clone()),
            [fd, n] if fd == "fd" => match &p.files.get(n.parse().ok()?)?.file.kind {
                FileKind::File(f) => Some(Lookup { path: f.path.clone(), node: f.node.clone() }),
                FileKind::Dir(d) => Some(d.at.clone()),
                FileKind::Path(l) => Some(l.clone()),
                _ => None,
            },
            _ => None,
        }
    }
}
