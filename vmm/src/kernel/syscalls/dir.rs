//! Directories as places: the working directory (getcwd, chdir, fchdir)
//! and reading a directory's entries (getdents64).

use zerocopy::IntoBytes;

use super::super::abi::dirent::{Dirent64, DT_DIR};
use super::super::abi::fcntl::{AT_FDCWD, DN_ACCESS};
use super::super::cred::MAY_EXEC;
use super::super::errno::*;
use super::super::files::vfs::{Lookup, Node};
use super::super::files::*;
use super::super::procfs::{self, ProcNode};
use super::super::task::Ctx;
use super::namei::{dnotify_object, lookup, read_path};
use super::stat::meta_of;

pub(super) fn getcwd(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let mut cwd = ctx.proc().fs.cwd().path.into_bytes();
    cwd.push(0);
    if (a[1] as usize) < cwd.len() {
        return Err(ERANGE);
    }
    ctx.write_user(a[0], &cwd)?;
    Ok(cwd.len() as i64)
}

fn set_cwd(ctx: &mut Ctx, l: Lookup) -> SysResult {
    let m = meta_of(ctx, &l)?;
    if !m.is_dir() {
        return Err(ENOTDIR);
    }
    ctx.proc().cred.permission(m.mode, m.uid, m.gid, MAY_EXEC)?;
    ctx.proc().fs.lock().cwd = l;
    Ok(0)
}

pub(super) fn chdir(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let p = read_path(ctx, a[0])?;
    let l = lookup(ctx, AT_FDCWD, &p, true)?;
    set_cwd(ctx, l)
}

pub(super) fn fchdir(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let f = ctx.proc().files.file(a[0] as i32)?;
    let FileKind::Dir(d) = &f.kind else { return Err(ENOTDIR) };
    set_cwd(ctx, d.at.clone())
}

/// The entries of an open directory: (name, d_type, inode).
fn dir_entries(ctx: &Ctx, d: &DirHandle) -> Vec<(String, u8, u64)> {
    let mut v = vec![(".".to_string(), DT_DIR, d.meta.ino), ("..".to_string(), DT_DIR, 2)];
    match &d.at.node {
        Node::Host { .. } | Node::Mem(_) => {
            let mut listed = ctx.k.files.vfs().list(&d.at);
            // The host's /dev, /proc, /sys and /run stay out of sight at
            // the root: faultline's own stand in for them.
            if d.at.path == "/" {
                listed.retain(|(n, _, _)| !matches!(n.as_str(), "dev" | "proc" | "sys" | "run"));
                v.extend(
                    ["dev", "proc", "sys", "run"]
                        .iter()
                        .enumerate()
                        .map(|(i, n)| (n.to_string(), DT_DIR, 900 + i as u64)),
                );
            }
            v.extend(listed);
        }
        Node::Synthetic { entries, .. } => {
            v.extend(entries.iter().enumerate().map(|(i, (n, t))| (n.clone(), *t, 500 + i as u64)))
        }
        Node::Proc(c) => {
            if let Ok(ProcNode::Dir(l)) = procfs::lookup(&ctx.k, ctx.pid, c) {
                v.extend(l.into_iter().enumerate().map(|(i, (n, t))| (n, t, 0x2000 + i as u64)));
            }
        }
        Node::Device(_) => {}
    }
    v
}

pub(super) fn getdents64(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let (fd, buf, count) = (a[0] as i32, a[1], a[2]);
    let f = ctx.proc().files.file(fd)?;
    let FileKind::Dir(d) = &f.kind else { return Err(ENOTDIR) };
    let mut pos = *f.pos.lock() as usize;
    // Listed afresh when a read starts at the beginning (after rewinddir).
    let entries = {
        let cached = d.listing.lock().clone();
        match cached {
            Some(e) if pos != 0 => e,
            _ => {
                let e = std::sync::Arc::new(dir_entries(ctx, d));
                *d.listing.lock() = Some(e.clone());
                e
            }
        }
    };
    let mut out = Vec::new();
    while pos < entries.len() {
        let (name, t, ino) = &entries[pos];
        let head = size_of::<Dirent64>();
        let reclen = (head + name.len() + 1).div_ceil(8) * 8;
        if out.len() + reclen > count as usize {
            break;
        }
        let d = Dirent64 { d_ino: *ino, d_off: (pos + 1) as i64, d_reclen: reclen as u16, d_type: *t };
        out.extend_from_slice(d.as_bytes());
        out.extend_from_slice(name.as_bytes());
        out.resize(out.len() + (reclen - head - name.len()), 0);
        pos += 1;
    }
    if out.is_empty() && pos < entries.len() {
        return Err(EINVAL);
    }
    ctx.write_user(buf, &out)?;
    *f.pos.lock() = pos as u64;
    // iterate_dir's fsnotify_access.
    dnotify_object(ctx, &d.at, DN_ACCESS);
    Ok(out.len() as i64)
}
