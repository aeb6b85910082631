//! execve and execveat: the path (and AT_EXECFN's name) a new program
//! comes from; `exec::execve` does the rest.

use super::super::abi::fcntl::{AT_EMPTY_PATH, AT_FDCWD, AT_SYMLINK_NOFOLLOW};
use super::super::abi::limits::PATH_MAX;
use super::super::errno::*;
use super::super::task::Ctx;
use super::namei::read_path;

pub(super) fn execve(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let path = ctx.read_cstr(a[0], PATH_MAX)?;
    super::super::exec::execve(ctx, &path, a[1], a[2], None)
}

pub(super) fn execveat(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let (dirfd, flags) = (a[0] as i32, a[4]);
    if flags & !(AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) != 0 {
        return Err(EINVAL);
    }
    let p = read_path(ctx, a[1])?;
    // What AT_EXECFN shows, as alloc_bprm() names it.
    let execfn = if p.starts_with('/') || dirfd == AT_FDCWD {
        None
    } else if p.is_empty() && flags & AT_EMPTY_PATH != 0 {
        Some(format!("/dev/fd/{dirfd}"))
    } else {
        Some(format!("/dev/fd/{dirfd}/{p}"))
    };
    let path = if p.is_empty() && flags & AT_EMPTY_PATH != 0 {
        ctx.proc().files.file(dirfd)?.path.clone()
    } else if p.starts_with('/') || dirfd == AT_FDCWD {
        p
    } else {
        let f = ctx.proc().files.file(dirfd)?;
        match &f.kind {
            super::super::files::FileKind::Dir(d) => format!("{}/{p}", d.at.path),
            _ => return Err(ENOTDIR),
        }
    };
    super::super::exec::execve(ctx, path.as_bytes(), a[2], a[3], execfn)
}
