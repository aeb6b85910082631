//! The host side of the file system view. Every host file the guest
//! reaches is reached through a descriptor: the view's root and each bind
//! are opened once, and every name below them is opened from its parent's
//! descriptor, one component at a time, with `O_PATH | O_NOFOLLOW`, as
//! gVisor's gofer and `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)` do.
//! The host never resolves a path the guest wrote: symlinks are read here
//! and followed in the guest's namespace (`vfs`), so a name swapped for a
//! symlink between a lookup and its use changes nothing outside the view.
//! Calls on an open object act on its descriptor (`fchownat(fd, "",
//! AT_EMPTY_PATH)`, and `/proc/self/fd/N`, which names exactly the inode
//! the descriptor holds, where a call takes no empty path), never on a
//! name.

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;
use std::sync::Arc;

use zerocopy::{FromZeros, IntoBytes};

use super::vfs::Meta;
use crate::kernel::abi::limits::PATH_MAX;
use crate::kernel::abi::stat::Statfs;
use crate::kernel::errno::*;

/// An object of the host's file system held open with `O_PATH`: a
/// directory to look names up in, or the file, symlink or device itself.
#[derive(Debug)]
pub(crate) struct HostFd(OwnedFd);

/// One entry of a host directory: (name, d_type, inode).
type HostEntry = (String, u8, u64);

fn last_errno() -> Errno {
    Errno(std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO))
}

/// A name for the host: one component, no NUL, no '/'.
fn cname(name: &str) -> Result<CString, Errno> {
    // `.` and `..` are the guest's namespace's to resolve, never the host's.
    if name.is_empty() || name == "." || name == ".." || name.contains('/') {
        return Err(EINVAL);
    }
    CString::new(name).map_err(|_| EINVAL)
}

fn check(r: libc::c_int) -> Result<(), Errno> {
    if r < 0 {
        Err(last_errno())
    } else {
        Ok(())
    }
}

impl Meta {
    /// What the host's stat says.
    pub(crate) fn of_stat(st: &libc::stat) -> Self {
        Meta {
            dev: st.st_dev,
            ino: st.st_ino,
            mode: st.st_mode,
            nlink: st.st_nlink as _,
            uid: st.st_uid,
            gid: st.st_gid,
            rdev: st.st_rdev,
            size: st.st_size as u64,
            blksize: st.st_blksize as u64,
            blocks: st.st_blocks as u64,
            atime: (st.st_atime, st.st_atime_nsec),
            mtime: (st.st_mtime, st.st_mtime_nsec),
            ctime: (st.st_ctime, st.st_ctime_nsec),
        }
    }
}

impl HostFd {
    /// Opens a directory faultline was given (the view's root, a bind's
    /// host side): the one place a host path is resolved by the host, and
    /// it is faultline's own argument, not the guest's.
    pub(crate) fn open_dir(path: &Path) -> std::io::Result<Arc<HostFd>> {
        let c = CString::new(path.as_os_str().as_encoded_bytes())
            .map_err(|_| std::io::Error::from_raw_os_error(libc::EINVAL))?;
        // SAFETY: a NUL-terminated path; the result is checked.
        let fd = unsafe { libc::open(c.as_ptr(), libc::O_PATH | libc::O_CLOEXEC) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: a descriptor just opened, owned by nothing else.
        Ok(Arc::new(HostFd(unsafe { OwnedFd::from_raw_fd(fd) })))
    }

    fn raw(&self) -> i32 {
        self.0.as_raw_fd()
    }

    /// `/proc/self/fd/N`: names exactly the inode held, for calls that
    /// take no empty path. Following it never leaves that inode.
    fn magic(&self) -> CString {
        CString::new(format!("/proc/self/fd/{}", self.raw())).expect("no NUL")
    }

    /// The child `name` of this directory, not following a symlink there,
    /// and what stat says of it.
    pub(crate) fn child(&self, name: &str) -> Result<(Arc<HostFd>, Meta), Errno> {
        let c = cname(name)?;
        // SAFETY: a NUL-terminated single component relative to our
        // descriptor; the result is checked.
        let fd = unsafe { libc::openat(self.raw(), c.as_ptr(), libc::O_PATH | libc::O_NOFOLLOW | libc::O_CLOEXEC) };
        if fd < 0 {
            return Err(last_errno());
        }
        // SAFETY: a descriptor just opened, owned by nothing else.
        let h = HostFd(unsafe { OwnedFd::from_raw_fd(fd) });
        let meta = h.stat()?;
        Ok((Arc::new(h), meta))
    }

    /// What stat says of the object now.
    pub(crate) fn stat(&self) -> Result<Meta, Errno> {
        let mut st = std::mem::MaybeUninit::<libc::stat>::zeroed();
        // SAFETY: fstat fills the struct (O_PATH descriptors are accepted).
        check(unsafe { libc::fstat(self.raw(), st.as_mut_ptr()) })?;
        // SAFETY: initialised by fstat.
        Ok(Meta::of_stat(unsafe { &st.assume_init() }))
    }

    /// The target of the symlink held (empty path: the object itself).
    pub(crate) fn readlink(&self) -> Result<String, Errno> {
        let mut buf = vec![0u8; PATH_MAX];
        // SAFETY: readlinkat with an empty path reads the link the
        // descriptor holds, into our buffer of its stated size.
        let n = unsafe { libc::readlinkat(self.raw(), c"".as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
        if n < 0 {
            return Err(last_errno());
        }
        buf.truncate(n as usize);
        Ok(String::from_utf8_lossy(&buf).into_owned())
    }

    /// The file held, opened for reading (and writing): through the
    /// descriptor, so it is the inode looked up, whatever its name is now.
    pub(crate) fn reopen(&self, write: bool) -> Result<std::fs::File, Errno> {
        let flags = if write { libc::O_RDWR } else { libc::O_RDONLY };
        let c = self.magic();
        // SAFETY: a NUL-terminated path; the result is checked.
        let fd = unsafe { libc::open(c.as_ptr(), flags | libc::O_CLOEXEC | libc::O_NOCTTY | libc::O_NONBLOCK) };
        if fd < 0 {
            return Err(last_errno());
        }
        // SAFETY: a descriptor just opened, owned by nothing else.
        Ok(unsafe { std::fs::File::from_raw_fd(fd) })
    }

    /// The entries of the directory held (without `.` and `..`).
    pub(crate) fn list(&self) -> Result<Vec<HostEntry>, Errno> {
        // SAFETY: "." relative to our directory descriptor; checked.
        let fd =
            unsafe { libc::openat(self.raw(), c".".as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC) };
        if fd < 0 {
            return Err(last_errno());
        }
        // SAFETY: a descriptor just opened, owned by nothing else.
        let dir = unsafe { OwnedFd::from_raw_fd(fd) };
        let mut out = Vec::new();
        let mut buf = vec![0u8; 32 << 10];
        loop {
            // SAFETY: getdents64 fills at most buf.len() bytes of our buffer.
            let n = unsafe { libc::syscall(libc::SYS_getdents64, dir.as_raw_fd(), buf.as_mut_ptr(), buf.len()) };
            if n < 0 {
                return Err(last_errno());
            }
            if n == 0 {
                return Ok(out);
            }
            let mut at = 0usize;
            while at + 19 <= n as usize {
                // struct linux_dirent64: ino u64, off i64, reclen u16, type u8, name.
                let ino = u64::from_ne_bytes(buf[at..at + 8].try_into().expect("8 bytes"));
                let reclen = u16::from_ne_bytes(buf[at + 16..at + 18].try_into().expect("2 bytes")) as usize;
                if reclen < 19 || at + reclen > n as usize {
                    break;
                }
                let t = buf[at + 18];
                let name = &buf[at + 19..at + reclen];
                let name = &name[..name.iter().position(|&b| b == 0).unwrap_or(name.len())];
                if name != b"." && name != b".." {
                    out.push((String::from_utf8_lossy(name).into_owned(), t, ino));
                }
                at += reclen;
            }
        }
    }

    /// chmod of the inode held.
    pub(crate) fn chmod(&self, mode: u32) -> Result<(), Errno> {
        let c = self.magic();
        // SAFETY: a NUL-terminated path naming our descriptor's inode.
        check(unsafe { libc::fchmodat(libc::AT_FDCWD, c.as_ptr(), mode & 0o7777, 0) })
    }

    /// chown of the object held (a symlink itself, if it is one).
    pub(crate) fn chown(&self, uid: u32, gid: u32) -> Result<(), Errno> {
        // SAFETY: an empty path with AT_EMPTY_PATH acts on the descriptor.
        check(unsafe { libc::fchownat(self.raw(), c"".as_ptr(), uid, gid, libc::AT_EMPTY_PATH) })
    }

    /// Sets access and modification times of the object held.
    pub(crate) fn set_times(&self, atime: (i64, i64), mtime: (i64, i64)) -> Result<(), Errno> {
        let ts = [
            libc::timespec { tv_sec: atime.0, tv_nsec: atime.1 },
            libc::timespec { tv_sec: mtime.0, tv_nsec: mtime.1 },
        ];
        let c = self.magic();
        // SAFETY: a NUL-terminated path naming our descriptor's inode (the
        // jump through it ends there, even on a symlink), two timespecs.
        check(unsafe { libc::utimensat(libc::AT_FDCWD, c.as_ptr(), ts.as_ptr(), 0) })
    }

    /// The kernel's struct statfs (120 bytes on 64-bit Linux, flags
    /// included, which libc's view hides) of the file system the object
    /// is on.
    pub(crate) fn statfs(&self) -> Result<Statfs, Errno> {
        let mut st = Statfs::new_zeroed();
        // SAFETY: fstatfs writes one struct statfs, the size of `Statfs`,
        // into it (O_PATH descriptors are accepted).
        let r = unsafe { libc::syscall(libc::SYS_fstatfs, self.raw(), st.as_mut_bytes().as_mut_ptr()) };
        check(r as libc::c_int)?;
        Ok(st)
    }

    // The calls below change a directory of a read-write bind: `self` is
    // the directory, `name` one component in it.

    /// Creates regular file `name` (it must not exist).
    pub(crate) fn create(&self, name: &str, mode: u32) -> Result<(), Errno> {
        let c = cname(name)?;
        let flags = libc::O_CREAT | libc::O_EXCL | libc::O_WRONLY | libc::O_NOFOLLOW | libc::O_CLOEXEC;
        // SAFETY: a NUL-terminated component relative to our directory.
        let fd = unsafe { libc::openat(self.raw(), c.as_ptr(), flags, mode & 0o7777) };
        if fd < 0 {
            return Err(last_errno());
        }
        // SAFETY: a descriptor just opened, closed here.
        drop(unsafe { OwnedFd::from_raw_fd(fd) });
        Ok(())
    }

    pub(crate) fn mkdir(&self, name: &str, mode: u32) -> Result<(), Errno> {
        let c = cname(name)?;
        // SAFETY: a NUL-terminated component relative to our directory.
        check(unsafe { libc::mkdirat(self.raw(), c.as_ptr(), mode & 0o7777) })
    }

    /// A socket or FIFO node `name` in a read-write bind (a unix socket
    /// bound, mknod): only the inode; nothing on the host listens on it
    /// or opens it for the guest. Device nodes are never made here.
    pub(crate) fn mknod(&self, name: &str, ifmt: u32, mode: u32) -> Result<(), Errno> {
        if ifmt != libc::S_IFSOCK && ifmt != libc::S_IFIFO {
            return Err(crate::kernel::errno::EPERM);
        }
        let c = cname(name)?;
        // SAFETY: a NUL-terminated component relative to our directory.
        check(unsafe { libc::mknodat(self.raw(), c.as_ptr(), ifmt | (mode & 0o7777), 0) })
    }

    pub(crate) fn symlink(&self, name: &str, target: &str) -> Result<(), Errno> {
        let c = cname(name)?;
        let t = CString::new(target).map_err(|_| EINVAL)?;
        // SAFETY: NUL-terminated target (stored, never resolved here) and
        // component relative to our directory.
        check(unsafe { libc::symlinkat(t.as_ptr(), self.raw(), c.as_ptr()) })
    }

    /// Removes `name` (a directory with `dir`).
    pub(crate) fn unlink(&self, name: &str, dir: bool) -> Result<(), Errno> {
        let c = cname(name)?;
        let flags = if dir { libc::AT_REMOVEDIR } else { 0 };
        // SAFETY: a NUL-terminated component relative to our directory.
        check(unsafe { libc::unlinkat(self.raw(), c.as_ptr(), flags) })
    }

    /// Renames `name` here to `to_name` in directory `to` (renameat2's
    /// flags).
    pub(crate) fn rename(&self, name: &str, to: &HostFd, to_name: &str, flags: u32) -> Result<(), Errno> {
        let (a, b) = (cname(name)?, cname(to_name)?);
        // SAFETY: NUL-terminated components relative to two directories.
        let r = unsafe { libc::syscall(libc::SYS_renameat2, self.raw(), a.as_ptr(), to.raw(), b.as_ptr(), flags) };
        check(r as libc::c_int)
    }

    /// A hard link `to_name` in directory `to` to the object held (a
    /// symlink itself, if it is one): through `/proc/self/fd/N`, which
    /// needs no CAP_DAC_READ_SEARCH as `AT_EMPTY_PATH` would.
    pub(crate) fn link_into(&self, to: &HostFd, to_name: &str) -> Result<(), Errno> {
        let b = cname(to_name)?;
        let c = self.magic();
        // SAFETY: a NUL-terminated path naming our descriptor's inode, and
        // a component relative to a directory.
        check(unsafe { libc::linkat(libc::AT_FDCWD, c.as_ptr(), to.raw(), b.as_ptr(), libc::AT_SYMLINK_FOLLOW) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_child_is_opened_without_following_and_acted_on_through_its_descriptor() {
        let d = std::env::temp_dir().join(format!("faultline-host-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(d.join("sub")).unwrap();
        std::fs::write(d.join("sub/f"), b"bytes").unwrap();
        std::fs::write(d.join("outside"), b"host").unwrap();
        std::os::unix::fs::symlink(d.join("outside"), d.join("sub/l")).unwrap();
        let root = HostFd::open_dir(&d.join("sub")).unwrap();
        let (f, meta) = root.child("f").unwrap();
        assert!(meta.is_reg() && meta.size == 5);
        let (l, lmeta) = root.child("l").unwrap();
        assert!(lmeta.is_symlink(), "a symlink is the link itself");
        assert_eq!(l.readlink().unwrap(), d.join("outside").display().to_string());
        // The name is swapped for a symlink to a file outside: the open
        // descriptor still acts on the file it looked up.
        std::fs::remove_file(d.join("sub/f")).unwrap();
        std::os::unix::fs::symlink(d.join("outside"), d.join("sub/f")).unwrap();
        f.chmod(0o600).unwrap();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(d.join("outside")).unwrap().permissions().mode() & 0o7777, 0o644);
        let mut s = String::new();
        use std::io::Read;
        f.reopen(false).unwrap().read_to_string(&mut s).unwrap();
        assert_eq!(s, "bytes");
        let names: Vec<String> = root.list().unwrap().into_iter().map(|e| e.0).collect();
        assert_eq!(names.len(), 2);
        assert_eq!(root.child("..").err(), Some(EINVAL), "'..' never climbs on the host");
        assert_eq!(root.child("a/b").err(), Some(EINVAL));
        std::fs::remove_dir_all(&d).unwrap();
    }
}
