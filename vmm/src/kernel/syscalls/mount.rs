//! mount(2) and umount2(2): a program with CAP_SYS_ADMIN may mount a
//! tmpfs of its own over a directory (files/vfs/tmpfs.rs) and unmount it.
//! Other file system types are ENODEV, as in a kernel built without them
//! (there are no block devices here); bind mounts, moves, remounts,
//! propagation changes and flags faultline cannot honour (read-only,
//! noexec, size limits) are EINVAL, said on faultline's diagnostics.

use super::super::abi::fcntl::AT_FDCWD;
use super::super::abi::mount::*;
use super::super::cred::CAP_SYS_ADMIN;
use super::super::errno::*;
use super::super::files::vfs::{Lookup, Node};
use super::super::files::FileKind;
use super::super::task::Ctx;
use super::namei::{cred, lookup, read_path};
use crate::mm::Kmem;

/// Flags a tmpfs mount here honours: nosuid (faultline's exec never
/// changes ids), nodev (its device nodes do not open), and the atime
/// policies (atime is not kept).
const HONOURED: u64 = MS_NOSUID | MS_NODEV | MS_SILENT | MS_NOATIME | MS_NODIRATIME | MS_RELATIME | MS_STRICTATIME;

/// struct mount's size: what each mount costs in kernel memory.
const MOUNT_BYTES: u64 = 320;

pub(super) fn mount(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let (source, target, fstype, mut flags, data) = (a[0], a[1], a[2], a[3], a[4]);
    if !cred(ctx).capable(CAP_SYS_ADMIN) {
        return Err(EPERM);
    }
    if flags & MS_MGC_MSK == MS_MGC_VAL {
        flags &= !MS_MGC_MSK;
    }
    let path = read_path(ctx, target)?;
    let l = lookup(ctx, AT_FDCWD, &path, true)?;
    let said = |ctx: &mut Ctx, what: &str| {
        let msg = format!("{}: mount {what} is not supported (EINVAL)", ctx.proc().comm);
        ctx.k.diag(&msg);
        Err(EINVAL)
    };
    if flags & (MS_REMOUNT | MS_BIND | MS_MOVE | MS_SHARED | MS_PRIVATE | MS_SLAVE | MS_UNBINDABLE) != 0 {
        return said(ctx, &format!("flags {flags:#x} (remount, bind, move, propagation)"));
    }
    let fstype = String::from_utf8(ctx.read_cstr(fstype, 4096)?).map_err(|_| ENODEV)?;
    if fstype != "tmpfs" {
        return Err(ENODEV);
    }
    if !l.node.is_dir() {
        return Err(ENOTDIR);
    }
    if matches!(l.node, Node::Proc(_)) {
        return said(ctx, "over /proc or /sys");
    }
    if flags & !HONOURED != 0 {
        return said(ctx, &format!("flags {:#x} on a tmpfs", flags & !HONOURED));
    }
    let source = if source == 0 {
        "none".to_owned()
    } else {
        String::from_utf8_lossy(&ctx.read_cstr(source, 4096)?).into_owned()
    };
    let cred = cred(ctx);
    let (mut mode, mut uid, mut gid) = (0o1777, cred.fsuid, cred.fsgid);
    if data != 0 {
        let opts = String::from_utf8(ctx.read_cstr(data, 4096)?).map_err(|_| EINVAL)?;
        for opt in opts.split(',').filter(|o| !o.is_empty()) {
            let (k, v) = opt.split_once('=').unwrap_or((opt, ""));
            let num = |v: &str, radix| u32::from_str_radix(v, radix).map_err(|_| EINVAL);
            match k {
                "mode" => mode = num(v, 8)? & 0o7777,
                "uid" => uid = num(v, 10)?,
                "gid" => gid = num(v, 10)?,
                _ => return said(ctx, &format!("option {opt:?} on a tmpfs")),
            }
        }
    }
    let mut options = String::new();
    for (bit, name) in [(MS_NOSUID, "nosuid"), (MS_NODEV, "nodev")] {
        if flags & bit != 0 {
            options.push(',');
            options.push_str(name);
        }
    }
    options.push_str(if flags & MS_NOATIME != 0 { ",noatime" } else { ",relatime" });
    if mode != 0o1777 {
        options.push_str(&format!(",mode={mode:o}"));
    }
    let record = ctx.k.kmem_charge(Kmem::Kmalloc(MOUNT_BYTES), 1)?;
    let nodev = flags & MS_NODEV != 0;
    ctx.k.files.vfs_mut().mount_tmpfs(&l.path, &source, options, (mode, uid, gid), nodev, record)?;
    ctx.k.procfs.changed();
    Ok(0)
}

pub(super) fn umount2(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let (target, flags) = (a[0], a[1]);
    if flags & !(MNT_FORCE | MNT_DETACH | MNT_EXPIRE | UMOUNT_NOFOLLOW) != 0
        || (flags & MNT_EXPIRE != 0 && flags & (MNT_FORCE | MNT_DETACH) != 0)
    {
        return Err(EINVAL);
    }
    if !cred(ctx).capable(CAP_SYS_ADMIN) {
        return Err(EPERM);
    }
    let path = read_path(ctx, target)?;
    let l = lookup(ctx, AT_FDCWD, &path, flags & UMOUNT_NOFOLLOW == 0)?;
    let Some(id) = ctx.k.files.vfs().tmpfs_at(&l.path).map(|m| m.id) else {
        // The root and the binds stay: they are the sandbox's view.
        let vfs = ctx.k.files.vfs();
        return Err(if l.path == "/" || vfs.is_bind(&l.path) { EBUSY } else { EINVAL });
    };
    // Only the mount's root unmounts it; MNT_EXPIRE marks it first.
    if !matches!(&l.node, Node::Mem(i) if i.mount == id && i.stat().ino == 1) {
        return Err(EINVAL);
    }
    if flags & MNT_EXPIRE != 0 {
        return Err(EAGAIN);
    }
    if flags & MNT_DETACH == 0 && busy(ctx, &l, id) {
        return Err(EBUSY);
    }
    let ids = ctx.k.files.vfs_mut().umount_tmpfs(&l.path).unwrap_or_default();
    for f in ids {
        ctx.k.release_if_orphan(f);
    }
    ctx.k.procfs.changed();
    Ok(0)
}

/// Whether anything holds tmpfs `id` (at `root`): an open file or a
/// working directory in it, a mapping of one of its files, or a mount
/// below it.
fn busy(ctx: &Ctx, root: &Lookup, id: usize) -> bool {
    let on = |n: &Node| matches!(n, Node::Mem(i) if i.mount == id);
    let below = format!("{}/", root.path);
    if ctx.k.files.vfs().tmpfs_mounts().any(|m| m.path.starts_with(&below)) {
        return true;
    }
    ctx.k.tasks.procs().filter(|p| !p.is_zombie()).any(|p| {
        on(&p.fs.cwd().node)
            || p.files.iter().any(|(_, fd)| match &fd.file.kind {
                FileKind::File(n) => on(&n.node),
                FileKind::Dir(d) => on(&d.at.node),
                FileKind::Path(l) => on(&l.node),
                _ => false,
            })
            || ctx
                .k
                .mm
                .space(p.mm)
                .vmas
                .iter()
                .any(|v| v.file_page(v.start).is_some_and(|(f, _)| ctx.k.files.vfs().file_on_mount(f.id, id)))
    })
}

#[cfg(test)]
mod tests {
    use crate::kernel::abi::fcntl::*;
    use crate::kernel::abi::mount::*;
    use crate::kernel::errno::*;
    use crate::kernel::testing::{err, TestConfig, TestKernel};

    #[test]
    fn root_mounts_a_tmpfs_of_its_own_and_unmounts_it_when_nothing_holds_it() {
        let t = TestKernel::with(TestConfig { uid: 0, ..TestConfig::default() });
        let (buf, _) = t.data_buffer();
        let s = |at: u64, v: &str| {
            let mut b = v.as_bytes().to_vec();
            b.push(0);
            t.poke(buf + at, &b);
            buf + at
        };
        let (dir, fs, src) = (s(0, "/tmp/mnt"), s(256, "tmpfs"), s(512, "scratch"));
        assert_eq!(t.sys("mkdir", &[dir, 0o755]), 0);
        assert_eq!(t.sys("mount", &[src, dir, s(768, "ext4"), 0, 0]), err(ENODEV));
        assert_eq!(t.sys("mount", &[src, dir, fs, MS_BIND, 0]), err(EINVAL));
        assert_eq!(t.sys("mount", &[src, dir, fs, MS_NOSUID, s(1024, "size=1m")]), err(EINVAL), "no size limits");
        assert_eq!(t.sys("mount", &[src, dir, fs, MS_NOSUID | MS_NODEV, s(1024, "mode=700")]), 0);
        // (read_file reads into the buffer: the strings are written again.)
        let mounts = String::from_utf8(t.read_file("/proc/mounts").unwrap()).unwrap();
        assert!(mounts.ends_with("scratch /tmp/mnt tmpfs rw,nosuid,nodev,relatime,mode=700 0 0\n"), "{mounts}");
        let dir = s(0, "/tmp/mnt");
        // Its files are its own: EXDEV to the layer around it.
        let fd = t.open("/tmp/mnt/f", (O_CREAT | O_RDWR) as u64);
        assert!(fd >= 0);
        assert_eq!(t.sys("rename", &[s(1280, "/tmp/mnt/f"), s(1536, "/tmp/g")]), err(EXDEV));
        // Busy while a descriptor holds a file of it.
        assert_eq!(t.sys("umount2", &[dir, 0]), err(EBUSY));
        assert_eq!(t.sys("umount2", &[s(1792, "/tmp"), 0]), err(EINVAL), "not a mount point");
        assert_eq!(t.sys("close", &[fd as u64]), 0);
        assert_eq!(t.sys("umount2", &[dir, 0]), 0);
        assert_eq!(t.open("/tmp/mnt/f", O_RDONLY as u64), err(ENOENT), "the directory under it again");
        assert_eq!(t.sys("umount2", &[dir, 0]), err(EINVAL));
        assert_eq!(t.sys("umount2", &[s(2048, "/"), 0]), err(EBUSY), "the sandbox's root stays");
    }

    #[test]
    fn mounting_takes_cap_sys_admin() {
        let t = TestKernel::new();
        let (buf, _) = t.data_buffer();
        t.poke(buf, b"/tmp\0tmpfs\0");
        assert_eq!(t.sys("mount", &[buf, buf, buf + 5, 0, 0]), err(EPERM));
        assert_eq!(t.sys("umount2", &[buf, 0]), err(EPERM));
    }
}
