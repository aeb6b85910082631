//! Extended attributes: none are kept, so a get finds no data and a list
//! is empty (for a name or descriptor that exists).

use super::super::abi::fcntl::AT_FDCWD;
use super::super::errno::*;
use super::super::task::Ctx;
use super::namei::{lookup, read_path};

pub(super) fn getxattr(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let p = read_path(ctx, a[0])?;
    lookup(ctx, AT_FDCWD, &p, true)?;
    Err(ENODATA)
}

pub(super) fn fgetxattr(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    ctx.proc().files.file(a[0] as i32)?;
    Err(ENODATA)
}

pub(super) fn listxattr(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let p = read_path(ctx, a[0])?;
    lookup(ctx, AT_FDCWD, &p, true)?;
    Ok(0)
}

pub(super) fn flistxattr(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    ctx.proc().files.file(a[0] as i32)?;
    Ok(0)
}
