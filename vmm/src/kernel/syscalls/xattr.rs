//! Extended attributes: none are kept, so a get finds no data and a list
//! is empty (for a name or descriptor that exists). The `l` calls look at a
//! symbolic link itself, the others at what it points to.

use super::super::abi::fcntl::AT_FDCWD;
use super::super::errno::*;
use super::super::task::Ctx;
use super::namei::{lookup, read_path};

pub(super) fn getxattr(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    get(ctx, a, true)
}

pub(super) fn lgetxattr(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    get(ctx, a, false)
}

fn get(ctx: &mut Ctx, a: [u64; 6], follow: bool) -> SysResult {
    let p = read_path(ctx, a[0])?;
    lookup(ctx, AT_FDCWD, &p, follow)?;
    Err(ENODATA)
}

pub(super) fn fgetxattr(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    ctx.proc().files.file(a[0] as i32)?;
    Err(ENODATA)
}

pub(super) fn listxattr(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    list(ctx, a, true)
}

pub(super) fn llistxattr(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    list(ctx, a, false)
}

fn list(ctx: &mut Ctx, a: [u64; 6], follow: bool) -> SysResult {
    let p = read_path(ctx, a[0])?;
    lookup(ctx, AT_FDCWD, &p, follow)?;
    Ok(0)
}

pub(super) fn flistxattr(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    ctx.proc().files.file(a[0] as i32)?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use crate::kernel::errno::{ENODATA, ENOENT};
    use crate::kernel::testing::{err, TestKernel};

    #[test]
    fn the_l_calls_look_at_a_dangling_link_itself() {
        let t = TestKernel::new();
        // put_str keeps one string at a time: these go in the data buffer.
        let (at, _) = t.data_buffer();
        let (target, link, name, buf) = (at, at + 256, at + 512, at + 1024);
        t.poke(target, b"/tmp/no-such-xattr-target\0");
        t.poke(link, b"/tmp/xattr-link\0");
        t.poke(name, b"user.x\0");
        assert_eq!(t.sys("symlink", &[target, link]), 0);
        assert_eq!(t.sys("getxattr", &[link, name, buf, 64]), err(ENOENT));
        assert_eq!(t.sys("lgetxattr", &[link, name, buf, 64]), err(ENODATA));
        assert_eq!(t.sys("listxattr", &[link, buf, 64]), err(ENOENT));
        assert_eq!(t.sys("llistxattr", &[link, buf, 64]), 0);
    }
}
