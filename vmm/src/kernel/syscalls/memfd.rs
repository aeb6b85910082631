//! memfd_create and file seals (F_ADD_SEALS, F_GET_SEALS): what a seal
//! forbids to writes, resizes and shared writable mappings.

use std::sync::Arc;

use super::super::abi::fcntl::*;
use super::super::errno::*;
use super::super::files::*;
use super::super::mm::kmem::LayerNeed;
use super::super::task::Ctx;
use super::namei::{cred, read_path};
use super::open::install;

pub(super) fn memfd_create(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let name = read_path(ctx, a[0]).map_err(|e| if e == ENAMETOOLONG { EINVAL } else { e })?;
    let flags = a[1];
    if name.len() > MFD_NAME_MAX_LEN || flags & !MFD_ALL_FLAGS != 0 {
        return Err(EINVAL);
    }
    if flags & MFD_HUGETLB != 0 || (flags & MFD_NOEXEC_SEAL != 0 && flags & MFD_EXEC != 0) {
        return Err(EINVAL);
    }
    let mode = if flags & MFD_NOEXEC_SEAL != 0 { 0o666 } else { 0o777 };
    ctx.k.charge_layer(LayerNeed { inodes: 1, target: None })?;
    let cred = cred(ctx);
    let i = ctx.k.files.vfs_mut().unnamed(mode, &cred)?;
    *i.seals.lock() = if flags & (MFD_ALLOW_SEALING | MFD_NOEXEC_SEAL) != 0 { 0 } else { F_SEAL_SEAL };
    if flags & MFD_NOEXEC_SEAL != 0 {
        *i.seals.lock() |= F_SEAL_EXEC;
    }
    let path = format!("/memfd:{name} (deleted)");
    let node = ctx.k.files.vfs_mut().open_mem(&path, &i).ok_or(EINVAL)?;
    let f = OpenFile::new(FileKind::File(node), O_RDWR | O_LARGEFILE, path);
    install(ctx, f, flags & MFD_CLOEXEC != 0)
}

/// fcntl F_ADD_SEALS and F_GET_SEALS: memfds only.
pub(super) fn seals(ctx: &mut Ctx, f: &Arc<OpenFile>, add: Option<u32>) -> SysResult {
    let FileKind::File(n) = &f.kind else { return Err(EINVAL) };
    let Some(i) = n.inode().filter(|_| f.path.starts_with("/memfd:")) else { return Err(EINVAL) };
    let Some(add) = add else { return Ok(*i.seals.lock() as i64) };
    if add & !F_SEAL_ALL != 0 {
        return Err(EINVAL);
    }
    if !f.writable() {
        return Err(EPERM);
    }
    if *i.seals.lock() & F_SEAL_SEAL != 0 {
        return Err(EPERM);
    }
    // F_SEAL_WRITE with a writable shared mapping of it is EBUSY.
    if add & F_SEAL_WRITE != 0 {
        let id = n.id;
        let mapped = ctx.k.mm.spaces().any(|m| {
            m.vmas.iter().any(|v| {
                v.shared
                    && v.may_write
                    && v.perms.write
                    && matches!(&v.backing, crate::mm::Backing::File { file, .. } if file.id == id)
            })
        });
        if mapped {
            return Err(EBUSY);
        }
    }
    *i.seals.lock() |= add;
    Ok(0)
}

/// Whether a writable shared mapping of `f` is refused by its seals.
pub(super) fn seals_forbid_shared_write(f: &OpenFile) -> bool {
    match &f.kind {
        FileKind::File(n) => n.inode().is_some_and(|i| *i.seals.lock() & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE) != 0),
        _ => false,
    }
}

pub(super) fn check_seals(i: &overlay::Inode, old: u64, new: u64) -> Result<(), Errno> {
    let s = *i.seals.lock();
    if (new < old && s & F_SEAL_SHRINK != 0) || (new > old && s & F_SEAL_GROW != 0) {
        return Err(EPERM);
    }
    Ok(())
}
